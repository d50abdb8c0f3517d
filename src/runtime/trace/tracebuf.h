// The execution trace's record format and the per-M writer state that M embeds (runtime2.h).
// exectrace.h has the hooks that fill them; exectrace.cc explains the protocol.
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::rt {

// The event a trace record describes. Names follow the events of Go's execution tracer.
enum class trace_kind : std::uint8_t {
  go_create,         // g: new goroutine, arg: parent goid (0 from a plain thread)
  go_start,          // g starts or resumes running on P p
  go_block,          // g parks; reason: its waitreason
  go_unblock,        // g becomes runnable; arg: goid of the goroutine that readied it (0: none)
  go_sched,          // g stops running but stays runnable; reason: a trace_sched_reason
  go_end,            // g exits
  go_syscall,        // g enters goro::blocking
  go_syscall_exit,   // g returns from goro::blocking; arg: 1 if it kept its P
  proc_start,        // P p is acquired by the writing M
  proc_stop,         // P p is released by the writing M
  proc_steal,        // sysmon or stop-the-world takes P p from its M; reason: trace_steal_reason
  preempt_request,   // sysmon requests that P p's goroutine yield at its next scheduling point
  thread_start,      // the writing M starts
  thread_stop,       // the writing M exits
  gomaxprocs,        // arg: the new number of Ps
};

// Reason a goroutine stopped running while staying runnable (go_sched).
enum class trace_sched_reason : std::uint8_t {
  yield,      // goro::yield
  preempted,  // sysmon asked it to yield (time slice used up)
  spawn_loop, // it started a batch of goroutines in a loop and lets them run (newproc_commit)
  no_p,       // its P was taken and no idle P was free: it waits in the global queue
  off_m0,     // it leaves the thread of goro::run before a blocking call
};

// Reason a P was taken from its M (proc_steal).
enum class trace_steal_reason : std::uint8_t {
  syscall,          // its goroutine was in goro::blocking too long
  long_running,     // its goroutine ran a whole time slice without a scheduling point
  stop_the_world,   // stop-the-world claimed it
};

// One event, 32 bytes. The writing M's id is stored once per buffer, not per record.
struct trace_record {
  std::int64_t ts;   // os::nanotime(), strictly increasing within one writer
  std::int64_t g;    // goroutine id, or 0
  std::int64_t arg;  // see trace_kind
  std::int32_t p;    // P id, or -1 when the writer has no P
  trace_kind kind;
  std::uint8_t reason;
};

// An M's trace state. Only the M itself writes it, except `seq`, which the stopper reads.
struct trace_writer {
  // Odd while the M is writing a record (Go's trace seqlock). The M increments it with
  // seq_cst before it loads the enable flag, and the stopper clears the flag with seq_cst
  // before it loads this, so one of the two observes the other's store (a StoreLoad pair).
  std::atomic<std::uint64_t> seq{0};
  // The trace session the buffer below belongs to; a different session means the buffer
  // was handed to the JSON writer and must not be touched.
  std::uint64_t session = 0;
  trace_record* next = nullptr;  // where the next record goes
  trace_record* end = nullptr;   // end of the current buffer
  std::int64_t last_ts = 0;      // keeps timestamps strictly increasing
};

}  // namespace goro::rt
