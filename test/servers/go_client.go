// A Go net/http client for the real-servers matrix: the requests given as METHOD:URL[:BODYBYTES]
// on one keep-alive client, one JSON line per response with what the client saw. With -ca FILE,
// https:// URLs are verified against that CA (crypto/tls; HTTP/1.1: a custom TLS config turns
// off the transport's HTTP/2).
// Usage: go_client [-ca FILE] [-wait] METHOD|URL[|BODYBYTES]...
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
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
	ca := flag.String("ca", "", "CA certificate (PEM) that https:// servers are verified against")
	wait := flag.Bool("wait", false, "read one byte from stdin before the first request")
	flag.Parse()
	if *wait {
		os.Stdin.Read(make([]byte, 1))
	}
	transport := &http.Transport{DisableCompression: true}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	client := &http.Client{
		// Do not follow redirects: every exchange is checked on its own.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     transport,
	}
	for _, arg := range flag.Args() {
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
