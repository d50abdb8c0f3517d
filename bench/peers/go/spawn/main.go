// spawn: start N goroutines that do nothing but mark themselves as run, and wait for all.
// Check: the number of goroutines that ran equals N.
package main

import (
	"sync"
	"time"

	"gorobench/internal/report"
)

func main() {
	n := report.Size(200_000)
	ran := make([]bool, n)

	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func(i int64) {
			ran[i] = true
			wg.Done()
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)

	var count int64
	for _, r := range ran {
		if r {
			count++
		}
	}
	report.Check("spawn", n, elapsed, count, n)
}
