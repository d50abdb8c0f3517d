// httpd: the Go peer of examples/httpd for the "http" workload. A net/http server that
// responds to GET /plaintext with the same body and header fields as goro's server (Server,
// Date, Content-Length, Content-Type); Go adds Date and Content-Length itself.
//
//	httpd [--listen HOST:PORT]
//
// It prints "httpd: listening on ADDR" once it accepts connections, as goro's does, and
// runs until it is killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

var plaintext = []byte("Hello, World!")

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on, HOST:PORT")
	idle := flag.Duration("idle-timeout", 60*time.Second, "close a keep-alive connection idle this long")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("httpd: %v", err)
	}
	fmt.Printf("httpd: listening on %s\n", ln.Addr())
	os.Stdout.Sync()

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/plaintext" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h["Server"] = []string{"Go"}
		h["Content-Type"] = []string{"text/plain"}
		w.Write(plaintext)
	})
	server := &http.Server{Handler: handler, IdleTimeout: *idle, ReadHeaderTimeout: *idle}
	log.Fatal(server.Serve(ln))
}
