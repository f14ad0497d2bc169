// A Go net/http client for the real-servers matrix: the requests given as METHOD:URL[:BODYBYTES]
// on one keep-alive client, one JSON line per response with what the client saw.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
)

func main() {
	client := &http.Client{
		// Do not follow redirects: every exchange is checked on its own.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DisableCompression: true},
	}
	for _, arg := range os.Args[1:] {
		parts := strings.SplitN(arg, "|", 3)
		method, url := parts[0], parts[1]
		var body []byte
		if len(parts) == 3 {
			n, _ := strconv.Atoi(parts[2])
			body = bytes.Repeat([]byte("g"), n)
		}
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if body == nil {
			req.Body = nil
		}
		localPort := 0
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				localPort = info.Conn.LocalAddr().(*net.TCPAddr).Port
			},
		}))
		resp, err := client.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		line, _ := json.Marshal(map[string]interface{}{
			"method": method, "target": req.URL.RequestURI(), "status": resp.StatusCode,
			"body": n, "request_body": len(body), "local_port": localPort,
		})
		fmt.Println(string(line))
	}
}
