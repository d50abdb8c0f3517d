// Scheduler hooks for the execution trace (exectrace.cc) and the scheduler latency
// histogram (metrics.cc).
//
// Cost model. Each hook is inline and starts with one relaxed load of `sched_hooks` and a
// branch that is predicted not taken; only when a consumer is on does it call out of line.
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

// Which consumers are on. Changed with fetch_or/fetch_and by trace start/stop and by
// goro::metrics::collect_sched_latencies.
extern std::atomic<std::uint32_t> sched_hooks;

// nanotime when latency collection was last switched on. A G whose runnable_since is older
// became runnable before that and is not sampled (relaxed: it only filters stale stamps).
extern std::atomic<std::int64_t> latency_collect_since;

inline bool hook_on(std::uint32_t mask) {
  return __builtin_expect((sched_hooks.load(std::memory_order_relaxed) & mask) != 0, 0);
}

// Out-of-line parts (schedhooks.cc, exectrace.cc).
void hook_runnable(G* gp, P* pp, trace_kind kind, std::int64_t arg, std::uint8_t reason);
void hook_start(G* gp, P* pp);
void trace_event(trace_kind kind, std::int32_t p, std::int64_t g, std::int64_t arg,
                 std::uint8_t reason);

inline std::int32_t trace_p_id(const P* pp) { return pp != nullptr ? pp->id : -1; }

// --- Transitions into runnable: trace event and latency timestamp ---------------------------

// A new goroutine, made runnable by newproc_commit.
inline void trace_go_create(G* gp, P* pp, std::int64_t parent_goid) {
  if (hook_on(kHookAll)) hook_runnable(gp, pp, trace_kind::go_create, parent_goid, 0);
}

// A waiting goroutine made runnable by ready or ready_global (pp: the caller's P, if any).
inline void trace_go_unblock(G* gp, P* pp) {
  if (hook_on(kHookAll)) hook_runnable(gp, pp, trace_kind::go_unblock, 0, 0);
}

// A running goroutine that goes back to a run queue.
inline void trace_go_sched(G* gp, P* pp, trace_sched_reason reason) {
  if (hook_on(kHookAll)) {
    hook_runnable(gp, pp, trace_kind::go_sched, 0, static_cast<std::uint8_t>(reason));
  }
}

// --- Start of a run on a P: trace event and latency sample ----------------------------------

inline void trace_go_start(G* gp, P* pp) {
  if (hook_on(kHookAll)) hook_start(gp, pp);
}

// --- Trace-only events ----------------------------------------------------------------------

inline void trace_go_block(G* gp, P* pp, waitreason reason) {
  if (hook_on(kHookTrace)) {
    trace_event(trace_kind::go_block, trace_p_id(pp), gp->goid, 0,
                static_cast<std::uint8_t>(reason));
  }
}

inline void trace_go_end(G* gp, P* pp) {
  if (hook_on(kHookTrace)) trace_event(trace_kind::go_end, trace_p_id(pp), gp->goid, 0, 0);
}

inline void trace_go_syscall(G* gp, P* pp) {
  if (hook_on(kHookTrace)) trace_event(trace_kind::go_syscall, trace_p_id(pp), gp->goid, 0, 0);
}

inline void trace_go_syscall_exit(G* gp, P* pp, bool kept_p) {
  if (hook_on(kHookTrace)) {
    trace_event(trace_kind::go_syscall_exit, trace_p_id(pp), gp->goid, kept_p ? 1 : 0, 0);
  }
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
