// The out-of-line halves of the scheduler hooks that serve both the execution trace and the
// scheduler latency histogram (see schedhooks.h for the cost model).
//
// Scheduler latency is the time from a G's transition to runnable until an M starts running
// it, as Go's /sched/latencies:seconds. The runnable side stamps G::runnable_since, and the
// start side counts the difference in the starting P's histogram. Every run started while
// collection is on is sampled, at two clock reads per scheduling decision. That is why
// collection stays off until goro::metrics::collect_sched_latencies or
// GODEBUG=goroschedlatency=1 turns it on (docs/benchmarks.md has the measurement).
#include "runtime/trace/schedhooks.h"

#include "runtime/os/futex.h"
#include "runtime/sched/sched.h"

namespace goro::rt {

std::atomic<std::uint32_t> sched_hooks{0};
std::atomic<std::int64_t> latency_collect_since{0};

namespace {

// The P of the calling M, where the event happens: -1 on a plain thread or an M without one.
std::int32_t current_p_id() {
  M* mp = getm();
  return mp != nullptr && mp->p != nullptr ? mp->p->id : -1;
}

}  // namespace

void hook_runnable(G* gp, trace_kind kind, std::uint8_t reason) {
  std::uint32_t hooks = sched_hooks.load(std::memory_order_relaxed);
  if ((hooks & kHookLatency) != 0) gp->runnable_since = os::nanotime();
  if ((hooks & kHookTrace) == 0) return;

  std::int64_t arg = 0;
  if (kind == trace_kind::go_create) {
    arg = gp->parent_goid;
  } else if (kind == trace_kind::go_unblock) {
    M* mp = getm();
    G* readier = mp != nullptr ? mp->curg.load(std::memory_order_relaxed) : nullptr;
    arg = readier != nullptr ? readier->goid : 0;
  }
  trace_event(kind, current_p_id(), gp->goid, arg, reason);
}

void hook_start(G* gp) {
  std::uint32_t hooks = sched_hooks.load(std::memory_order_relaxed);
  P* pp = getm()->p;
  std::int64_t since = gp->runnable_since;
  if ((hooks & kHookLatency) != 0 && since != 0) {
    gp->runnable_since = 0;
    if (since >= latency_collect_since.load(std::memory_order_relaxed)) {
      std::atomic<std::uint64_t>& count = pp->latency_counts[latency_bucket(os::nanotime() - since)];
      count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
  }
  if ((hooks & kHookTrace) != 0) trace_event(trace_kind::go_start, pp->id, gp->goid, 0, 0);
}

[[gnu::cold]] void hook_switch_slow(M* mp, G* from, G* to) {
  std::uint32_t hooks = sched_hooks.load(std::memory_order_relaxed);
  if ((hooks & kHookLongrun) != 0) {
    mp->nswitch.store(mp->nswitch.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  if ((hooks & kHookAll) == 0) return;

  if (from != &mp->g0) {
    if (mp->pending == after_switch::requeue) {
      hook_runnable(from, trace_kind::go_sched, mp->requeue_reason);
      mp->requeue_reason = static_cast<std::uint8_t>(trace_sched_reason::yield);
    } else if (mp->pending == after_switch::park && (hooks & kHookTrace) != 0) {
      hook_goroutine(from, trace_kind::go_block, 0);
    }
  }
  if (to != &mp->g0) hook_start(to);
}

[[gnu::cold]] void hook_ready_slow(G* gp) {
  if (hook_on(kHookWaitsince)) gp->waitsince.store(0, std::memory_order_relaxed);
  trace_go_unblock(gp);
}

void hook_goroutine(G* gp, trace_kind kind, std::int64_t arg) {
  std::uint8_t reason = kind == trace_kind::go_block ? static_cast<std::uint8_t>(gp->wait_reason.load(std::memory_order_relaxed)) : 0;
  trace_event(kind, current_p_id(), gp->goid, arg, reason);
}

}  // namespace goro::rt
