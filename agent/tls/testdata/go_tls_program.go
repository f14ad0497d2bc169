// A Go program that links crypto/tls's (*Conn).Read and Write (go_functions_test builds it,
// normal and stripped). It never runs a TLS session.
package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
)

func main() {
	var c net.Conn = tls.Client(nil, &tls.Config{})
	if len(os.Args) > 99 {
		c.Write(nil)
		c.Read(nil)
	}
	fmt.Println("ok")
}
