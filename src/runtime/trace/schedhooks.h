// Scheduler hooks for the execution trace (exectrace.cc), the scheduler latency histogram
// (metrics.cc), the long-runner reports (GODEBUG=gorolongrun, longrun.cc) and the other
// diagnostics that the scheduler's hot path would otherwise pay for, the block profile
// included.
//
// Cost model. `sched_hooks` contains every reason for a goroutine switch to leave its fast
// path: the diagnostics above, GODEBUG=goromigrate, and a pending stop-the-world or exit.
// schedule_next, which makes the direct goroutine-to-goroutine switches of yield and park,
// loads the word once and takes the fast path while it is zero, so with every diagnostic off
// a yield or a park pays no instruction for them. The slow path calls hook_switch, which
// reports the go_sched or go_block of the outgoing G and the go_start of the incoming one.
// A ready() tests the word once more (ready_hooks_on). Everything a hook does is out of
// line, and with every diagnostic off no scheduling decision reads the clock or stores a
// value that only a diagnostic reads.
// The scheduler calls each hook at the point where the transition it reports becomes
// visible to other threads, so that timestamps follow causality (see exectrace.cc).
//
// Relaxed is enough for the word: a hook that sees a stale value records or skips one event
// at the edge of a trace, and the trace writer checks the flag again under its own protocol
// before it touches a buffer. The stop-the-world and exit bits are hints for the fast path
// only; the scheduler reads sched.gcwaiting and sched.exiting wherever it acts on them.
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
// GODEBUG=gorolongrun is on: every switch counts in M::nswitch, which sysmon watches.
inline constexpr std::uint32_t kHookLongrun = 4;
// GODEBUG=goromigrate is on: a park records the G's M (G::last_m) for must_migrate.
inline constexpr std::uint32_t kHookMigrate = 8;
// A goroutine dump has stamped G::waitsince in this run, so ready() must clear it. Set by the
// dump with the world stopped, which orders it before every later ready().
inline constexpr std::uint32_t kHookWaitsince = 16;
// The block profile is on (goro::pprof::set_block_profile_rate): a goroutine that parks in
// waiter_block is timed by schedule_next's slow path.
inline constexpr std::uint32_t kHookBlockProfile = 128;
// Mirrors of sched.gcwaiting and sched.exiting, set right after them and cleared after them.
inline constexpr std::uint32_t kHookStopTheWorld = 32;
inline constexpr std::uint32_t kHookExiting = 64;
// The bits hook_switch acts on.
inline constexpr std::uint32_t kHookSwitch = kHookAll | kHookLongrun;

// Bit set of the reasons above. Changed with fetch_or and fetch_and by trace start and stop,
// goro::metrics::collect_sched_latencies, the bootstrap (GODEBUG), dumps, stop-the-world and
// the exit of the main goroutine.
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
void hook_switch_slow(M* mp, G* from, G* to);
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

// ready()'s one test, for the unblock event and the waitsince a dump may have stamped. The
// caller takes an out-of-line path that calls hook_ready_slow when it is true.
inline bool ready_hooks_on() { return hook_on(kHookAll | kHookWaitsince); }
void hook_ready_slow(G* gp);

// A running goroutine that goes back to a run queue.
inline void trace_go_sched(G* gp, trace_sched_reason reason) {
  if (hook_on(kHookAll)) hook_runnable(gp, trace_kind::go_sched, static_cast<std::uint8_t>(reason));
}

// --- Start of a run on the current M's P: trace event and latency sample ---------------------

// For a G that starts without a switch (it got a P back in reacquire_p).
inline void trace_go_start(G* gp) {
  if (hook_on(kHookAll)) hook_start(gp);
}

// --- Every switch of the slow paths --------------------------------------------------------

// Called before switch_to by schedule_next's slow path, execute and yield's global-queue
// path, with mp->pending set. Counts the switch for gorolongrun and reports `from` going to
// the run queue (pending requeue, a yield: go_sched) or parking (pending park: go_block,
// with from->wait_reason set), and `to` starting unless it is g0. The other pending actions
// report their own events before they switch.
inline void hook_switch(M* mp, G* from, G* to) {
  if (hook_on(kHookSwitch)) hook_switch_slow(mp, from, to);
}

// --- Trace-only events ----------------------------------------------------------------------

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
