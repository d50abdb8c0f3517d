// producer_consumer: a producer goroutine sends 1..N on a channel of capacity 100 and
// closes it; the main goroutine receives until the channel is closed and sums the values.
// Check: the sum is N(N+1)/2.
package main

import (
	"time"

	"gorobench/internal/report"
)

const capacity = 100

func main() {
	n := report.Size(20_000_000)
	values := make(chan int64, capacity)

	start := time.Now()
	go func() {
		for i := int64(1); i <= n; i++ {
			values <- i
		}
		close(values)
	}()
	var sum int64
	for v := range values {
		sum += v
	}
	elapsed := time.Since(start)

	report.Check("producer_consumer", n, elapsed, sum, n*(n+1)/2)
}
