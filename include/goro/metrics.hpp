// Runtime metrics in the spirit of Go's runtime/metrics: a snapshot of the scheduler's
// goroutines, threads, Ps, run queues, timers and stack memory, and a histogram of scheduler
// latencies.
//
//   goro::metrics::collect_sched_latencies(true);
//   ...
//   goro::metrics::sample s = goro::metrics::read();
//   std::cout << s;  // one line per metric, named as Go names them where Go has the metric
//
// A sample is read without stopping the world, as Go reads its counters. Each value is
// exact when read, but values move while the sample is read. So a sample taken while
// goroutines run need not add up: running + runnable + waiting + syscall may differ from
// goroutines by the goroutines that changed state meanwhile.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "goro/export.hpp"

namespace goro::metrics {

// A distribution of durations.
struct histogram {
  // Bucket i counts the values in [boundaries[i], boundaries[i + 1]) seconds, so boundaries
  // has one element more than counts; its last element is +infinity.
  std::vector<double> boundaries;
  std::vector<std::uint64_t> counts;

  // Returns the number of values counted, the sum of counts.
  GORO_EXPORT std::uint64_t total() const;
  // Returns the upper boundary of the bucket that contains the q-quantile (0 <= q <= 1), an
  // upper estimate of that quantile in seconds, or 0 if the histogram is empty.
  GORO_EXPORT double quantile_upper_bound(double q) const;
};

struct sample {
  // /sched/goroutines:goroutines: live user goroutines, the main one included.
  std::int64_t goroutines = 0;
  // /sched/goroutines/running:goroutines, executing on a thread (with or without a P).
  std::int64_t goroutines_running = 0;
  // /sched/goroutines/runnable:goroutines, in a run queue.
  std::int64_t goroutines_runnable = 0;
  // /sched/goroutines/waiting:goroutines, parked on a channel, lock, timer or the poller.
  std::int64_t goroutines_waiting = 0;
  // Inside goro::blocking (Go counts these in /sched/goroutines/not-in-go:goroutines).
  std::int64_t goroutines_syscall = 0;

  // /sched/threads/total:threads: live Ms, sysmon included.
  std::int64_t threads = 0;
  std::int64_t threads_idle = 0;      // Ms asleep with nothing to run
  std::int64_t threads_spinning = 0;  // Ms looking for work

  // /sched/gomaxprocs:threads.
  std::int64_t gomaxprocs = 0;
  std::int64_t procs = 0;       // live Ps (equal to gomaxprocs outside a resize)
  std::int64_t procs_idle = 0;  // Ps on the idle list

  std::int64_t runqueue_global = 0;              // goroutines in the global run queue
  std::vector<std::int64_t> runqueue_local;      // per P, runnext included, P 0 first

  std::int64_t timers = 0;           // pending timers in all Ps' heaps
  std::int64_t netpoll_waiters = 0;  // goroutines and plain threads waiting in the poller

  // Stack reservations of the slots that hold a live goroutine, and of all slabs. Stacks are
  // committed lazily, so both are address space; resident memory is lower.
  std::uint64_t stack_inuse_bytes = 0;
  std::uint64_t stack_reserved_bytes = 0;

  // /sched/latencies:seconds: time from runnable to running, counted only while collection
  // is on (collect_sched_latencies); every transition is counted, not a sample of them.
  bool sched_latencies_collected = false;
  histogram sched_latencies;
};

// Reads every metric. Callable from goroutines and plain threads while goro::run is active;
// throws goro::panic_error outside it. The histogram counts are cumulative for the run.
GORO_EXPORT sample read();

// Turns the scheduler latency histogram on or off and returns the previous setting. Off by
// default, because it reads the clock twice per scheduling decision (docs/benchmarks.md has
// the cost). Turning it off keeps the counts. Each goro::run starts with it off, or on with
// GODEBUG=goroschedlatency=1.
GORO_EXPORT bool collect_sched_latencies(bool on);

// Formats a sample as a table, one metric per line (a name and its value), the histogram
// as its count and quantile bounds followed by its non-empty buckets.
GORO_EXPORT std::string to_string(const sample& s);
GORO_EXPORT std::ostream& operator<<(std::ostream& out, const sample& s);

}  // namespace goro::metrics
