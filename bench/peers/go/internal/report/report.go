// Package report reads a Go peer program's size N from its first argument and prints
// the one result line that bench/scoreboard parses, in the same format as goro's and
// Boost.Fiber's programs:
//
//	<workload> <N> <seconds> <check-value>
//
// A program whose check fails still prints its line, explains the failure on stderr and
// exits with status 1.
package report

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Size returns the workload size from os.Args[1], or defaultN when no argument is given.
// It exits with status 2 when the argument is not a positive integer.
func Size(defaultN int64) int64 {
	if len(os.Args) < 2 {
		return defaultN
	}
	n, err := strconv.ParseInt(os.Args[1], 10, 64)
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "invalid size %q: want a positive integer, e.g. %d\n", os.Args[1], defaultN)
		os.Exit(2)
	}
	return n
}

// Check prints the result line with got as the check value, and exits with status 1 when
// got differs from want.
func Check(workload string, n int64, elapsed time.Duration, got, want int64) {
	fmt.Printf("%s %d %.6f %d\n", workload, n, elapsed.Seconds(), got)
	if got != want {
		fmt.Fprintf(os.Stderr, "%s: check failed for N=%d: got %d, want %d\n", workload, n, got, want)
		os.Exit(1)
	}
}

// Measure prints the result line of a workload whose value is a measurement, not a check.
func Measure(workload string, n int64, elapsed time.Duration, value float64) {
	fmt.Printf("%s %d %.6f %.1f\n", workload, n, elapsed.Seconds(), value)
}

// Fail reports a failed invariant of workload on stderr and exits with status 1.
func Fail(workload string, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", workload, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// ResidentBytes returns the process's resident set size, read from /proc/self/statm.
func ResidentBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		Fail("report", "reading /proc/self/statm failed: %v", err)
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		Fail("report", "/proc/self/statm has %d fields, want at least 2: %q", len(fields), data)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		Fail("report", "invalid resident page count %q in /proc/self/statm", fields[1])
	}
	return pages * int64(os.Getpagesize())
}
