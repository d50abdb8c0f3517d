// thread_ring: 503 goroutines in a ring, each reading from its own unbuffered channel and
// writing to the next one's, pass a token that starts at N and is decremented at each pass.
// The goroutine that receives 0 reports its number (1-based).
// Check: that number is (N mod 503) + 1, 292 for N = 50 000 000.
package main

import (
	"time"

	"gorobench/internal/report"
)

const ringSize = 503

func member(id int64, in <-chan int64, next chan<- int64, winner chan<- int64) {
	for {
		token := <-in
		if token == 0 {
			winner <- id
			return
		}
		next <- token - 1
	}
}

func main() {
	n := report.Size(5_000_000)

	start := time.Now()
	var ring [ringSize]chan int64
	for i := range ring {
		ring[i] = make(chan int64)
	}
	winner := make(chan int64)
	for i := range ring {
		go member(int64(i+1), ring[i], ring[(i+1)%ringSize], winner)
	}
	ring[0] <- n
	id := <-winner
	elapsed := time.Since(start)

	// The other 502 goroutines stay blocked; the program exits without them, as Go allows.
	report.Check("thread_ring", n, elapsed, id, n%ringSize+1)
}
