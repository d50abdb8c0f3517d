// skynet: a tree of goroutines with N leaves and 10 children per node. Leaf i sends i to
// its parent; every inner node sums what its children send on its own unbuffered channel
// and sends the sum up. N must be a power of 10.
// Check: the root's sum is N(N-1)/2, 499999500000 for N = 1 000 000.
package main

import (
	"time"

	"gorobench/internal/report"
)

const fanout = 10

func skynet(parent chan<- int64, first, leaves int64) {
	if leaves == 1 {
		parent <- first
		return
	}
	children := make(chan int64)
	step := leaves / fanout
	for i := int64(0); i < fanout; i++ {
		go skynet(children, first+i*step, step)
	}
	var sum int64
	for i := 0; i < fanout; i++ {
		sum += <-children
	}
	parent <- sum
}

func main() {
	n := report.Size(1_000_000)
	for p := n; p > 1; p /= fanout {
		if p%fanout != 0 {
			report.Fail("skynet", "invalid size %d: want a power of %d", n, fanout)
		}
	}

	start := time.Now()
	root := make(chan int64)
	go skynet(root, 0, n)
	sum := <-root
	elapsed := time.Since(start)

	report.Check("skynet", n, elapsed, sum, n*(n-1)/2)
}
