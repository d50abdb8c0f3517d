// echo: the Go peer of examples/echo for the "echo" workload. A TCP server that writes back
// every byte it reads, one goroutine per connection with a read and write loop, as goro's
// server does. io.Copy is not used, because between TCP connections Go 1.19 turns it into
// splice(2) (net/tcpsock_posix.go, readFrom), which goro's loop does not use.
//
//	echo [--listen HOST:PORT]
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
)

// The read buffer per connection, as in examples/echo.
const bufferSize = 32 * 1024

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, bufferSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on, HOST:PORT")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("echo: %v", err)
	}
	fmt.Printf("echo: listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("echo: %v", err)
		}
		go serve(c)
	}
}
