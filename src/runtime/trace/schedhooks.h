// Scheduler hooks for the execution trace (exectrace.cc) and the scheduler latency
// histogram (metrics.cc).
//
// Cost model. Each hook is inline: one relaxed load of `sched_hooks` and a branch that is
// predicted not taken. Only when a consumer is on does it call out of line.
// With every diagnostic off, a scheduling decision pays a few loads and never reads the
// clock. The scheduler calls each hook at the point where the transition it reports becomes
// visible to other threads, so that timestamps follow causality (see exectrace.cc).
//
// Relaxed is enough for the flag: a hook that sees a stale value records or skips one event
// at the edge of a trace, and the trace writer checks the flag again under its own protocol
// before it touches a buffer.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/sched/runtime2.h"
#include "runtime/sched/waitreason.h"
#include "runtime/trace/tracebuf.h"

namespace goro::rt {

// Bits of sched_hooks.
inline constexpr std::uint32_t kHookTrace = 1;    // an execution trace is being recorded
inline constexpr std::uint32_t kHookLatency = 2;  // scheduler latencies are being collected
inline constexpr std::uint32_t kHookAll = kHookTrace | kHookLatency;

// Bit set of the consumers that are on. Changed with fetch_or and fetch_and by trace start
// and stop and by goro::metrics::collect_sched_latencies.
[[gnu::visibility("hidden")]] extern std::atomic<std::uint32_t> sched_hooks;

// nanotime when latency collection was last switched on. A G whose runnable_since is older
// became runnable before that and is not sampled (relaxed: it only filters stale stamps).
extern std::atomic<std::int64_t> latency_collect_since;

inline bool hook_on(std::uint32_t mask) {
  return __builtin_expect((sched_hooks.load(std::memory_order_relaxed) & mask) != 0, 0);
}

// Out-of-line parts (schedhooks.cc, exectrace.cc). The goroutine hooks take the G and find
// the P through the current M, so that no extra value stays live across the call. A hook
// that kept the P in a register would make every caller save registers in its prologue,
// which costs more than the hook's own load and branch.
void hook_runnable(G* gp, trace_kind kind, std::uint8_t reason);
void hook_start(G* gp);
void hook_goroutine(G* gp, trace_kind kind, std::int64_t arg);
void trace_event(trace_kind kind, std::int32_t p, std::int64_t g, std::int64_t arg,
                 std::uint8_t reason);

// --- Transitions into runnable: trace event and latency timestamp ---------------------------

// A new goroutine, made runnable by newproc_commit (parent: gp->parent_goid).
inline void trace_go_create(G* gp) {
  if (hook_on(kHookAll)) hook_runnable(gp, trace_kind::go_create, 0);
}

// A waiting goroutine made runnable by ready or ready_global.
inline void trace_go_unblock(G* gp) {
  if (hook_on(kHookAll)) hook_runnable(gp, trace_kind::go_unblock, 0);
}

// A running goroutine that goes back to a run queue.
inline void trace_go_sched(G* gp, trace_sched_reason reason) {
  if (hook_on(kHookAll)) hook_runnable(gp, trace_kind::go_sched, static_cast<std::uint8_t>(reason));
}

// --- Start of a run on the current M's P: trace event and latency sample ---------------------

inline void trace_go_start(G* gp) {
  if (hook_on(kHookAll)) hook_start(gp);
}

// --- Trace-only events ----------------------------------------------------------------------

// The goroutine parks, with gp->wait_reason set.
inline void trace_go_block(G* gp) {
  if (hook_on(kHookTrace)) hook_goroutine(gp, trace_kind::go_block, 0);
}

inline void trace_go_end(G* gp) {
  if (hook_on(kHookTrace)) hook_goroutine(gp, trace_kind::go_end, 0);
}

inline void trace_go_syscall(G* gp) {
  if (hook_on(kHookTrace)) hook_goroutine(gp, trace_kind::go_syscall, 0);
}

// kept_p: the goroutine got its P back at once (the P it reports is the current M's).
inline void trace_go_syscall_exit(G* gp, bool kept_p) {
  if (hook_on(kHookTrace)) hook_goroutine(gp, trace_kind::go_syscall_exit, kept_p ? 1 : 0);
}

inline void trace_proc_start(P* pp, M* mp) {
  if (hook_on(kHookTrace)) trace_event(trace_kind::proc_start, pp->id, 0, mp->id, 0);
}

inline void trace_proc_stop(P* pp, M* mp) {
  if (hook_on(kHookTrace)) trace_event(trace_kind::proc_stop, pp->id, 0, mp->id, 0);
}

inline void trace_proc_steal(P* pp, trace_steal_reason reason) {
  if (hook_on(kHookTrace)) {
    trace_event(trace_kind::proc_steal, pp->id, 0, 0, static_cast<std::uint8_t>(reason));
  }
}

inline void trace_preempt_request(P* pp) {
  if (hook_on(kHookTrace)) trace_event(trace_kind::preempt_request, pp->id, 0, 0, 0);
}

inline void trace_thread(bool start) {
  if (hook_on(kHookTrace)) {
    trace_event(start ? trace_kind::thread_start : trace_kind::thread_stop, -1, 0, 0, 0);
  }
}

inline void trace_gomaxprocs(std::int32_t procs) {
  if (hook_on(kHookTrace)) trace_event(trace_kind::gomaxprocs, -1, 0, procs, 0);
}

}  // namespace goro::rt
