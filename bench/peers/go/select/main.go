// select: two feeder goroutines send N/2 and N-N/2 values on two channels of capacity 100;
// the main goroutine loops over a two-case select until it has received N values.
// Check: N values received, and each channel delivered exactly what its feeder sent.
package main

import (
	"time"

	"gorobench/internal/report"
)

const capacity = 100

func feed(out chan<- int64, count int64) {
	for i := int64(0); i < count; i++ {
		out <- i
	}
}

func main() {
	n := report.Size(10_000_000)
	left := make(chan int64, capacity)
	right := make(chan int64, capacity)

	start := time.Now()
	go feed(left, n/2)
	go feed(right, n-n/2)
	var fromLeft, fromRight int64
	for fromLeft+fromRight < n {
		select {
		case <-left:
			fromLeft++
		case <-right:
			fromRight++
		}
	}
	elapsed := time.Since(start)

	if fromLeft != n/2 || fromRight != n-n/2 {
		report.Fail("select", "received %d and %d values, want %d and %d", fromLeft, fromRight, n/2, n-n/2)
	}
	report.Check("select", n, elapsed, fromLeft+fromRight, n)
}
