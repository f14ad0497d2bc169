// A Go net/http server for the real-servers matrix: files from a directory, POST /echo (answers
// with the number of body bytes read) and /chunked (a streamed, chunked response).
// Usage: go_server -root DIR -listen 127.0.0.1:PORT [-listen [::1]:PORT]...
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
)

type listens []string

func (l *listens) String() string     { return strings.Join(*l, ",") }
func (l *listens) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	root := flag.String("root", ".", "directory served")
	var addrs listens
	flag.Var(&addrs, "listen", "address to listen on (repeatable)")
	flag.Parse()
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(*root)))
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		body := fmt.Sprintf("got %d bytes\n", n)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		io.WriteString(w, body)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "piece %d of a streamed response\n", i)
			w.(http.Flusher).Flush()
		}
	})
	for i, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("listening on %s", addr)
		if i == len(addrs)-1 {
			log.Fatal(http.Serve(l, mux))
		}
		go func() { log.Fatal(http.Serve(l, mux)) }()
	}
}
