// chan_pingpong: the main goroutine sends a value on one unbuffered channel and an echo
// goroutine replies with the value plus one on another, N round trips.
// Check: the last value received is N.
package main

import (
	"time"

	"gorobench/internal/report"
)

func main() {
	n := report.Size(2_000_000)
	ping := make(chan int64)
	pong := make(chan int64)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
	}()

	start := time.Now()
	var v int64
	for i := int64(0); i < n; i++ {
		ping <- v
		v = <-pong
	}
	elapsed := time.Since(start)
	close(ping)

	report.Check("chan_pingpong", n, elapsed, v, n)
}
