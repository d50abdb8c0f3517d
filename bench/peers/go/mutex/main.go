// mutex: 100 goroutines share N increments of one counter, each increment made while
// holding one sync.Mutex.
// Check: the counter ends at N.
package main

import (
	"sync"
	"time"

	"gorobench/internal/report"
)

const workers = 100

func main() {
	n := report.Size(20_000_000)
	var mu sync.Mutex
	var counter int64

	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := int64(0); w < workers; w++ {
		// The first n%workers goroutines take one increment more, so the shares add up to n.
		share := n / workers
		if w < n%workers {
			share++
		}
		go func(share int64) {
			defer wg.Done()
			for i := int64(0); i < share; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}(share)
	}
	wg.Wait()
	elapsed := time.Since(start)

	report.Check("mutex", n, elapsed, counter, n)
}
