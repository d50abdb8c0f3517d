// echo_client: the load generator of the "echo" workload, the same program for goro's
// server and Go's. It opens --connections connections, and on each one a goroutine sends a
// --size-byte message and waits for all of it to come back, again and again, for
// --duration. Each round trip's latency is recorded.
//
//	echo_client --addr 127.0.0.1:8081 [--connections 1000] [--size 64] [--duration 5s]
//
// It prints one JSON object: {"messages": round trips, "seconds": measured time,
// "rate": round trips per second, "p50_us", "p99_us": latency percentiles in microseconds,
// "errors": connections that failed}. Exit status 1 when a connection fails.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sort"
	"sync"
	"time"
)

type result struct {
	Messages int64   `json:"messages"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"`
	P50      float64 `json:"p50_us"`
	P99      float64 `json:"p99_us"`
	Errors   int     `json:"errors"`
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i]) / float64(time.Microsecond)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "server address, HOST:PORT")
	connections := flag.Int("connections", 1000, "concurrent connections")
	size := flag.Int("size", 64, "message size in bytes")
	duration := flag.Duration("duration", 5*time.Second, "how long to measure")
	flag.Parse()

	conns := make([]net.Conn, *connections)
	for i := range conns {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			log.Fatalf("echo_client: connection %d of %d: %v", i+1, *connections, err)
		}
		conns[i] = c
	}

	message := bytes.Repeat([]byte{'x'}, *size)
	latencies := make([][]time.Duration, len(conns))
	failures := make([]error, len(conns))
	start := make(chan struct{})
	var stop time.Time
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func(i int, c net.Conn) {
			defer wg.Done()
			reply := make([]byte, len(message))
			<-start
			for {
				sent := time.Now()
				if !sent.Before(stop) {
					return
				}
				if _, err := c.Write(message); err != nil {
					failures[i] = err
					return
				}
				if _, err := io.ReadFull(c, reply); err != nil {
					failures[i] = err
					return
				}
				latencies[i] = append(latencies[i], time.Since(sent))
			}
		}(i, c)
	}

	begin := time.Now()
	stop = begin.Add(*duration)
	close(start)
	wg.Wait()
	elapsed := time.Since(begin).Seconds()
	for _, c := range conns {
		c.Close()
	}

	var all []time.Duration
	r := result{Seconds: elapsed}
	for i := range conns {
		all = append(all, latencies[i]...)
		if failures[i] != nil {
			r.Errors++
			if r.Errors == 1 {
				fmt.Fprintf(os.Stderr, "echo_client: connection %d: %v\n", i+1, failures[i])
			}
		}
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	r.Messages = int64(len(all))
	r.Rate = float64(r.Messages) / elapsed
	r.P50 = percentile(all, 0.50)
	r.P99 = percentile(all, 0.99)
	json.NewEncoder(os.Stdout).Encode(r)
	if r.Errors > 0 {
		os.Exit(1)
	}
}
