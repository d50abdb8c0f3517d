// parked_memory: start N goroutines that each block receiving from one channel, and
// measure the growth of the resident set while they are all parked. The result's value is
// that growth divided by N, in bytes per goroutine; the seconds are the time to start them.
// Check: N goroutines are alive while parked, and all N finish once the channel is closed.
package main

import (
	"runtime"
	"sync"
	"time"

	"gorobench/internal/report"
)

func main() {
	n := report.Size(1_000_000)
	release := make(chan struct{})
	var started, finished sync.WaitGroup
	started.Add(int(n))
	finished.Add(int(n))

	before := report.ResidentBytes()
	start := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			started.Done()
			<-release
			finished.Done()
		}()
	}
	started.Wait()
	elapsed := time.Since(start)
	after := report.ResidentBytes()

	if alive := runtime.NumGoroutine(); int64(alive) != n+1 {
		report.Fail("parked_memory", "%d goroutines alive while parked, want %d", alive, n+1)
	}
	close(release)
	finished.Wait()

	report.Measure("parked_memory", n, elapsed, float64(after-before)/float64(n))
}
