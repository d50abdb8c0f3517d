// sleepers: N goroutines each sleep 1 ms, 10 times in a loop, and count their wake-ups.
// Check: the wake-ups total 10N.
package main

import (
	"sync"
	"time"

	"gorobench/internal/report"
)

const rounds = 10

func main() {
	n := report.Size(100_000)
	wakeups := make([]int64, n)

	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(int(n))
	for i := range wakeups {
		go func(i int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				time.Sleep(time.Millisecond)
				wakeups[i]++
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)

	var total int64
	for _, w := range wakeups {
		total += w
	}
	report.Check("sleepers", n, elapsed, total, rounds*n)
}
