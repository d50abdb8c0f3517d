// yield_pingpong: two goroutines each call runtime.Gosched N times. On one P they alternate.
// Check: the total number of yields is 2N.
package main

import (
	"runtime"
	"sync"
	"time"

	"gorobench/internal/report"
)

func main() {
	n := report.Size(5_000_000)
	var yields [2]int64

	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(len(yields))
	for g := range yields {
		go func(g int) {
			defer wg.Done()
			var count int64
			for ; count < n; count++ {
				runtime.Gosched()
			}
			yields[g] = count
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)

	report.Check("yield_pingpong", n, elapsed, yields[0]+yields[1], 2*n)
}
