// A Go net/http server for the real-servers matrix: files from a directory, POST /echo (answers
// with the number of body bytes read) and /chunked (a streamed, chunked response).
// With -cert and -key it serves HTTPS (crypto/tls), HTTP/1.1 only unless -h2 is given (then
// HTTP/2 too, offered through ALPN "h2", as net/http does by default).
// Usage: go_server -root DIR -listen 127.0.0.1:PORT [-listen [::1]:PORT]... [-cert F -key F [-h2]]
package main

import (
	"crypto/tls"
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
	cert := flag.String("cert", "", "TLS certificate (PEM); with -key, serve HTTPS")
	key := flag.String("key", "", "TLS private key (PEM)")
	h2 := flag.Bool("h2", false, "with -cert: offer HTTP/2 (ALPN h2) as well as HTTP/1.1")
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
	serve := func(l net.Listener) error {
		if *cert == "" {
			return http.Serve(l, mux)
		}
		srv := &http.Server{Handler: mux}
		if !*h2 {
			// A non-nil empty TLSNextProto turns off HTTP/2 negotiation (ALPN "h2").
			srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
		}
		return srv.ServeTLS(l, *cert, *key)
	}
	for i, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("listening on %s", addr)
		if i == len(addrs)-1 {
			log.Fatal(serve(l))
		}
		go func() { log.Fatal(serve(l)) }()
	}
}
