// The scheduler: creating goroutines, switching between them, parking and readying them,
// and the scheduling loop that finds work. This is goro's proc.go.
//
// Design. Go switches from a goroutine to g0 (the M's own stack) and from g0 to the next
// goroutine: two switches per scheduling decision. goro switches goroutine to goroutine
// directly when the P's local queue has a candidate (schedule_next), and uses g0 only when it
// must look further: global queue, stealing, timers, idling, locked threads, exit. Work that
// Go does on g0 after the outgoing goroutine is off its stack (park_m's unlock, goexit0's
// free, gosched's requeue) becomes the M's `pending` after_switch action, run by whoever
// resumes on the M once the outgoing registers are saved (finish_switch, switch.cc).
//
// Rejected alternatives:
//   * Always going through g0, as Go does: simpler, but doubles the cost of yield and of
//     every channel hand-off, which are the operations goro users measure first.
//   * A per-goroutine spin lock held across the switch (Boost.Fiber's approach): every
//     ready() would have to spin on it, and a preempted holder stalls the waker.
//
// Invariants:
//   * A G's status is changed only through casgstatus (a CAS, for transitions that several
//     parties may race for: waiting -> runnable) or setgstatus (a checked store, for
//     transitions only the G's current owner can make: its running M, or the M that took it
//     off a run queue). Both check the old value.
//   * A waiting G is readied by exactly one party: the one that wins the status CAS
//     waiting -> runnable. Whatever readies a G must have been registered under a lock that
//     the parking G releases in its unlock function, or by the unlock function itself, so no
//     one can ready a G before its context is saved.
//   * Runtime code runs "in runtime mode": the M holds its P with status running. The P goes
//     back to status user only when the G returns to its own code (release_p_to_user).
//   * After any call that can park, the current M and P are re-read: the goroutine may be on
//     another thread.
//
// The scheduling loop (schedule_loop, on g0):
//   1. exiting, exit of a locked thread, and stop-the-world requests come first;
//   2. a locked M waits for its G (stoplockedm);
//   3. findrunnable: timers, global queue every 61st tick, local queue, global queue,
//      stealing (spinning Ms, at most half the busy Ps). A P in a spawn burst is stolen
//      from only once it stops getting through its goroutines quickly (burst_is_fast).
//      Then release the P and sleep until handed a P or until the next timer (stopm);
//   4. hand a G locked to another M over to that M (startlockedm), or
//   5. run it (execute).
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <sched.h>
#include <string>

#include "goro/runtime.hpp"
#include "runtime/arch/context.h"
#include "runtime/boot/boot.h"
#include "runtime/boot/debugvars.h"
#include "runtime/netpoll/netpoll.h"
#include "runtime/os/futex.h"
#include "runtime/os/hash.h"
#include "runtime/pprof/contention.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/longrun.h"
#include "runtime/sched/sanitizer.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/waiter.h"
#include "runtime/stack/stack.h"
#include "runtime/trace/sigquit.h"
#include "runtime/trace/schedhooks.h"

namespace goro::rt {

schedt sched;
M* m0 = nullptr;
std::atomic<std::uint64_t> run_epoch{0};
std::atomic<std::uint64_t> fast_path_epoch{kNoFastPathEpoch};

namespace {

// Gs kept on a P's free list before half of them move to the global pool (Go: 64 and 32).
constexpr std::int32_t kFreeGPerP = 64;
// A spawn loop yields once this many of its goroutines are queued (one more waits in
// runnext). When they exit, their Gs then fit on the P's free list for the loop's next
// batch: with a batch of kFreeGPerP / 2 + 1, every batch moved half the list to the global
// pool and took it back, and spawning at GOMAXPROCS=1 took 17 ms instead of 14.
constexpr std::uint32_t kSpawnBatch = kFreeGPerP / 2 - 1;
// Goroutines of a spawn batch that cost less than this each (spawn, switch and run, in ns)
// are short: the batch stays small and on its P. Longer ones are worth a second P, so the
// loop spawns a full queue before it yields, and thieves take from it as usual.
constexpr std::uint32_t kBurstShortNs = 150;
// Goroutine ids are taken from sched.goidgen in batches per P (Go: 16).
constexpr std::int64_t kGoidBatch = 16;
// Every 61st schedule checks the global queue first, so Gs there are not starved by two
// goroutines that keep readying each other through runnext. 61 is Go's: prime, so it does
// not beat in step with a program's own periodicities.
constexpr std::uint32_t kGlobalQueueTick = 61;

std::atomic<bool> running_flag{false};

// In runtime mode: claims the P back after sysmon or stop-the-world took it, waiting in the
// global queue if no P is idle. Returns the P now held.
P* reacquire_p(M* mp);

}  // namespace

bool runtime_running() { return running_flag.load(std::memory_order_acquire); }
void running_flag_set(bool on) { running_flag.store(on, std::memory_order_release); }

void casgstatus(G* gp, gstatus from, gstatus to) {
  gstatus expected = from;
  // acq_rel: the new owner of the G (the M that runs it, or the waker) must see everything
  // the previous owner wrote to it.
  if (!gp->status.compare_exchange_strong(expected, to, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
    print_line().str("runtime: casgstatus: goroutine ").dec(gp->goid).str(" from ")
        .udec(static_cast<unsigned>(from)).str(" to ").udec(static_cast<unsigned>(to))
        .str(" but status is ").udec(static_cast<unsigned>(expected)).chr('\n').flush();
    throw_bug("casgstatus: bad incoming values");
  }
}

void setgstatus_failed(G* gp, gstatus from, gstatus to) {
  gstatus old = gp->status.load(std::memory_order_relaxed);
  print_line().str("runtime: setgstatus: goroutine ").dec(gp->goid).str(" from ")
      .udec(static_cast<unsigned>(from)).str(" to ").udec(static_cast<unsigned>(to))
      .str(" but status is ").udec(static_cast<unsigned>(old)).chr('\n').flush();
  throw_bug("setgstatus: bad incoming values");
}

// --- Runtime mode ---------------------------------------------------------------------------

runtime_mode::runtime_mode() {
  M* mp = getm();
  if (mp == nullptr) throw_bug("runtime_mode: not on an M");
  acquire_p(mp);
}

void stale_m_park(M* mp) {
  if (mp->epoch == run_epoch.load(std::memory_order_relaxed)) return;
  // This M was abandoned when an earlier goro::run ended (its goroutine was in its own code
  // or a blocking call) and has now reached the runtime. Its goroutine must never run again
  // (Go's rule for goroutines alive at exit), and the current run's state is not its own:
  // the thread sleeps for the rest of the process.
  std::atomic<std::uint32_t> never{0};
  for (;;) os::futex_wait(&never, 0, -1);
}

P* acquire_p_slow(M* mp) {
  stale_m_park(mp);
  G* gp = mp->curg.load(std::memory_order_relaxed);
  if (gp != nullptr && gp->runtime_depth++ > 0) return mp->p;
  if (gp != nullptr && gp->status.load(std::memory_order_relaxed) == gstatus::syscall) {
    // A runtime call from inside goro::blocking: leave the blocking state until the section
    // ends (syscall.cc, "Runtime calls from inside the call").
    gp->blocking_suspended = true;
    if (P* pp = leave_blocking(mp, gp, pstatus::running)) return pp;
    return reacquire_p(mp);
  }

  P* pp = mp->p;
  if (pp != nullptr) {
    std::uint64_t expected = pstate(mp->id, pstatus::user);
    // acquire: as in acquire_p (sched.h).
    if (pp->state.compare_exchange_strong(expected, pstate(mp->id, pstatus::running),
                                          std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
      if (gp != nullptr && gp->longrun_ns.load(std::memory_order_relaxed) != 0) {
        longrun_report_self(gp);
      }
      return pp;
    }
  }
  return reacquire_p(mp);
}

namespace {

// Cooperative preemption: sysmon set pp->preempt because the current G has held the P for
// a whole time slice (Go's gp.preempt), or a spawn loop of long goroutines set it after
// filling the queue (newproc_commit). The G is at a scheduling point, so it yields here,
// to the back of the global queue as Go's gopreempt_m does. Returns with the G running again,
// possibly on another M. Not inlined: it is rare, and inlined it would make every
// release_p_to_user save registers for it.
[[gnu::noinline]] void gopreempt(M* mp, G* gp, P* pp) {
  pp->preempt.store(false, std::memory_order_relaxed);
  const bool spawn_loop = pp->spawn_yield == spawn_yield_kind::global_queue;
  pp->spawn_yield = spawn_yield_kind::none;
  setgstatus(gp, gstatus::running, gstatus::runnable);
  trace_go_sched(gp, spawn_loop ? trace_sched_reason::spawn_loop : trace_sched_reason::preempted);
  mp->pending = after_switch::requeue_global;
  mp->pending_g = gp;
  schedule_next(mp, pp, gp);
}

// Runs pp's expired timers. Reads the clock only if pp has a timer.
inline void run_expired_timers(P* pp) {
  std::int64_t timer0 = pp->timer0_when.load(std::memory_order_acquire);
  if (timer0 == 0) return;
  std::int64_t now = os::nanotime();
  std::int64_t next = 0;
  if (timer0 <= now) check_timers(pp, now, &next);
}

// A spawn loop that has queued a batch (newproc_commit) yields here, to the back of its P's
// queue, so the batch runs first. Two more duties fall to it:
//   * That queue may never empty while the loop runs, so findrunnable, which runs the P's
//     timers, is not reached. It runs the expired ones, as yield does.
//   * It times the batch and stores the cost per goroutine in P::burst_run_ns, from which
//     thieves judge whether the batch is worth stealing from (burst_is_fast).
[[gnu::noinline]] void spawn_turn(M* mp, G* gp, P* pp) {
  pp->preempt.store(false, std::memory_order_relaxed);
  pp->spawn_yield = spawn_yield_kind::none;

  run_expired_timers(pp);
  const std::int64_t start = os::nanotime();
  const std::uint32_t queued =
      runq_size(pp) + (pp->runnext.load(std::memory_order_relaxed) != nullptr ? 1 : 0);

  setgstatus(gp, gstatus::running, gstatus::runnable);
  // hook_switch reports the requeue as a go_sched event with this reason, and resets it.
  if (hook_on(kHookSwitch)) {
    mp->requeue_reason = static_cast<std::uint8_t>(trace_sched_reason::spawn_loop);
  }
  mp->pending = after_switch::requeue;
  mp->pending_g = gp;
  schedule_next(mp, pp, gp);

  // Running again, after the batch unless a thief took this goroutine to another P.
  // One slow batch (a page fault, the thread losing its CPU) does not make the goroutines
  // long: that takes two in a row.
  if (getm()->p == pp && queued != 0) {
    const std::int64_t per_g = (os::nanotime() - start) / queued;
    if (per_g < kBurstShortNs) {
      pp->burst_long_batches = 0;
      pp->burst_run_ns.store(static_cast<std::uint32_t>(per_g), std::memory_order_relaxed);
    } else if (++pp->burst_long_batches >= 2) {
      pp->burst_run_ns.store(static_cast<std::uint32_t>(std::min<std::int64_t>(per_g, INT32_MAX)),
                             std::memory_order_relaxed);
    }
  }
}

}  // namespace

void release_p_to_user_slow(M* mp) {
  G* gp = mp->curg.load(std::memory_order_relaxed);
  if (gp != nullptr && gp->runtime_depth == 1 && mp->p != nullptr &&
      mp->p->preempt.load(std::memory_order_relaxed) && gp->lockedm == nullptr) {
    if (mp->p->spawn_yield == spawn_yield_kind::own_queue) {
      spawn_turn(mp, gp, mp->p);
    } else {
      gopreempt(mp, gp, mp->p);
    }
    mp = getm();
  }
  if (gp != nullptr && gp->runtime_depth == 1 && gp->blocking_suspended) {
    // The runtime call made from inside goro::blocking is over, and the yield above, if
    // sysmon asked for one, is done: back into the blocking state.
    gp->blocking_suspended = false;
    begin_blocking(mp, gp, mp->p, false);
    return;
  }
  if (gp != nullptr && --gp->runtime_depth > 0) return;
  P* pp = mp->p;
  if (pp == nullptr) return;
  if (sched.gcwaiting.load(std::memory_order_acquire)) {
    // Stop-the-world is waiting for this P: hand it over now; the G goes on running its own
    // code without a P and claims one back at its next scheduling point.
    releasep(mp);
    std::lock_guard<runtime_lock> guard(sched.lock);
    pp->state.store(pstate(0, pstatus::gcstop), std::memory_order_release);
    if (--sched.stopwait == 0) sched.stopnote.wakeup();
    return;
  }
  // release: publishes the runtime section to the next claimer of the P (sysmon, STW).
  pp->state.store(pstate(mp->id, pstatus::user), std::memory_order_release);
}

namespace {

[[noreturn]] void abandon_current(M* mp, G* gp) {
  // The run is over: this goroutine never runs again (Go's semantics for goroutines alive
  // when main returns). Leave it parked where it is and let the M leave.
  mp->pending = after_switch::none;
  switch_to(mp, gp, &mp->g0);
  throw_bug("abandon_current: abandoned goroutine resumed");
}

P* reacquire_p(M* mp) {
  G* gp = mp->curg.load(std::memory_order_relaxed);
  mp->p = nullptr;
  if (gp != nullptr && gp->longrun_ns.load(std::memory_order_relaxed) != 0) {
    longrun_report_self(gp);
  }
  for (;;) {
    if (sched.exiting.load(std::memory_order_acquire)) abandon_current(mp, gp);
    P* pp = nullptr;
    {
      std::lock_guard<runtime_lock> guard(sched.lock);
      if (!sched.gcwaiting.load(std::memory_order_relaxed)) pp = pidleget();
    }
    if (pp != nullptr) {
      acquirep(mp, pp);
      // A new time slice, as in Go's exitsyscall: without the tick, sysmon would compare
      // with its last look at this P, from before it went idle, and take it back at once.
      bump_schedtick(pp);
      if (gp != nullptr) trace_go_start(gp);
      return pp;
    }

    // No P: wait in the global queue like any runnable G. g0 stops this M.
    setgstatus(gp, gstatus::running, gstatus::runnable);
    trace_go_sched(gp, trace_sched_reason::no_p);
    mp->pending = after_switch::requeue_global;
    mp->pending_g = gp;
    switch_to(mp, gp, &mp->g0);

    mp = getm();
    if (mp->p != nullptr) return mp->p;
  }
}

}  // namespace

// --- Free Gs --------------------------------------------------------------------------------

namespace {

// Returns every G in pp's cache to the global pools.
void gfree_flush(P* pp) {
  if (pp->gfree == nullptr) return;
  G* tail = pp->gfree;
  while (tail->schedlink != nullptr) tail = tail->schedlink;
  stack_free_gs(pp->gfree, tail);
  pp->gfree = nullptr;
  pp->gfree_count = 0;
}

}  // namespace

G* gfget(P* pp, std::size_t stack_size) {
  G* gp = nullptr;
  if (pp != nullptr && stack_size == default_stack_size()) {
    if (pp->gfree != nullptr && pp->gfree->stack.size() != stack_size) {
      // The default stack size changed since these Gs were cached (set_default_stack_size).
      gfree_flush(pp);
    }
    if (pp->gfree == nullptr) {
      // Refill half the cache from the global pool with one lock, as Go's gfget does, so
      // that a P whose goroutines exit on other Ps does not lock the pool for every spawn.
      std::int32_t n = 0;
      pp->gfree = stack_take_pooled(stack_size, kFreeGPerP / 2, &n);
      pp->gfree_count = n;
    }
    gp = pp->gfree;
  }
  if (gp != nullptr) {
    pp->gfree = gp->schedlink;
    pp->gfree_count--;
  } else {
    gp = stack_new_g(stack_size);
  }

  // Reset every field but the stack, its carve-order link and the reusable sanitizer fiber.
  // Field by field, not by re-constructing the G: dumps and scheddetail read the status of
  // every slot atomically, and a constructor would rewrite it with a plain store.
  gp->sched_sp = nullptr;
  gp->stack.scavenged = false;
  gp->status.store(gstatus::idle, std::memory_order_relaxed);
  gp->goid = 0;
  gp->m = nullptr;
  gp->lockedm = nullptr;
  gp->locked_external = 0;
  gp->schedlink = nullptr;
  gp->pool_prev = nullptr;
  gp->wait_reason.store(waitreason::zero, std::memory_order_relaxed);
  gp->waitsince.store(0, std::memory_order_relaxed);
  gp->runnable_since = 0;
  gp->entry = nullptr;
  gp->closure = nullptr;
  gp->creator_pc = nullptr;
  gp->parent_goid = 0;
  gp->saved_errno = 0;
  gp->eh = eh_state{};
  gp->last_m = nullptr;
  gp->syscall_pc = 0;
  gp->syscall_fp = 0;
  gp->traceback_request = false;
  gp->longrun_ns.store(0, std::memory_order_relaxed);
  gp->runtime_depth = 0;
  gp->blocking_depth = 0;
  gp->blocking_suspended = false;
  gp->started = false;
  gp->avoid_m0 = false;
  gp->is_main = false;
  gp->is_system = false;
  gp->asan_fake_stack = nullptr;
  prepare_new_g(gp);
  return gp;
}

void gfput(P* pp, G* gp) {
  release_g_resources(gp);
  if (pp == nullptr || gp->stack.size() != default_stack_size()) {
    stack_free_g(gp);
    return;
  }
  gp->schedlink = pp->gfree;
  pp->gfree = gp;
  pp->gfree_count++;
  if (pp->gfree_count >= kFreeGPerP) {
    // Give the newest half to the global pool with one lock, as Go's gfput does.
    G* head = pp->gfree;
    G* tail = head;
    std::int32_t n = 1;
    for (; n < kFreeGPerP / 2; ++n) tail = tail->schedlink;
    pp->gfree = tail->schedlink;
    pp->gfree_count -= n;
    stack_free_gs(head, tail);
  }
}

// --- Switch bookkeeping -----------------------------------------------------------------------

namespace {

// finish_switch for every action but a requeue onto the M's P.
[[gnu::noinline]] void finish_switch_slow(M* mp, after_switch action) {
  G* gp = mp->pending_g;
  mp->pending = after_switch::none;
  mp->pending_g = nullptr;

  switch (action) {
    case after_switch::park: {
      unlock_fn unlockf = mp->pending_unlock;
      void* arg = mp->pending_arg;
      mp->pending_unlock = nullptr;
      mp->pending_arg = nullptr;
      if (unlockf != nullptr && !unlockf(gp, arg)) ready(gp);
      break;
    }
    case after_switch::requeue:
      if (mp->p != nullptr) {
        runqput(mp->p, gp, false);
        break;
      }
      [[fallthrough]];
    case after_switch::requeue_global: {
      {
        std::lock_guard<runtime_lock> guard(sched.lock);
        globrunqput(gp);
      }
      wakep();
      break;
    }
    case after_switch::exit:
      gfput(mp->p, gp);
      break;
    case after_switch::none:
      break;
  }
}

}  // namespace

void finish_switch(M* mp) {
  after_switch action = mp->pending;
  if (action == after_switch::none) return;
  // A yield's requeue, first and without a frame: it is the whole of a yield's incoming side.
  if (action == after_switch::requeue && mp->p != nullptr) [[likely]] {
    G* gp = mp->pending_g;
    mp->pending = after_switch::none;
    mp->pending_g = nullptr;
    runqput(mp->p, gp, false);
    return;
  }
  finish_switch_slow(mp, action);
}

namespace {

void execute(M* mp, G* gp, bool inherit_time) {
  P* pp = mp->p;
  if (!inherit_time) bump_schedtick(pp);
  setgstatus(gp, gstatus::runnable, gstatus::running);
  hook_switch(mp, &mp->g0, gp);
  switch_to(mp, &mp->g0, gp);
}

bool must_migrate(M* mp, G* gp) {
  if (gp->avoid_m0 && mp->is_m0) return true;
  return gp->last_m == mp && debug_migrate() && !mp->lockedg && gp->lockedm == nullptr;
}

}  // namespace

namespace {

// schedule_next with every check, for when sched_hooks is not zero or prev or mp is special.
[[gnu::noinline]] void schedule_next_slow(M* mp, P* pp, G* prev) {
  if (mp->pending == after_switch::park) prev->last_m = mp;  // for goromigrate's must_migrate

  G* next = nullptr;
  bool inherit_time = false;
  if (prev->lockedm == nullptr && !mp->exiting &&
      !sched.gcwaiting.load(std::memory_order_relaxed) &&
      !sched.exiting.load(std::memory_order_relaxed)) {
    if (sched.runqsize.load(std::memory_order_relaxed) > 0 &&
        pp->schedtick.load(std::memory_order_relaxed) % kGlobalQueueTick == 0) {
      std::lock_guard<runtime_lock> guard(sched.lock);
      next = globrunqget(pp, 1);
    }
    if (next == nullptr) {
      runq_take took = runqget(pp);
      next = took.gp;
      inherit_time = took.inherit_time;
    }
    if (next != nullptr && ((next->lockedm != nullptr && next->lockedm != mp) ||
                            must_migrate(mp, next))) {
      // g0 hands it to its locked M or to another thread.
      runqput(pp, next, true);
      next = nullptr;
    }
  }

  // The block profile times a park of waiter_block from here until prev runs again.
  std::uintptr_t block_return = 0;
  std::int64_t block_start = 0;
  if (hook_on(kHookBlockProfile) && waiter_block_park(mp, &block_return)) {
    block_start = os::nanotime();
  }

  if (next == nullptr) {
    hook_switch(mp, prev, &mp->g0);
    switch_to(mp, prev, &mp->g0);
  } else {
    if (!inherit_time) bump_schedtick(pp);
    setgstatus(next, gstatus::runnable, gstatus::running);
    hook_switch(mp, prev, next);
    switch_to(mp, prev, next);
  }

  if (block_start != 0) pprof::block_event(os::nanotime() - block_start, block_return);
}

}  // namespace

// schedule_next's common case, inlined into park, yield and goexit: each then makes one
// call less on the way to the switch, and the compiler keeps mp, pp and prev in the
// caller's registers. Not in the anonymous namespace: an inlined frame's name comes from
// DWARF, which qualifies only functions with external linkage, and tracebacks hide runtime
// frames by their goro::rt:: prefix.
[[gnu::always_inline]] inline void schedule_next_inline(M* mp, P* pp, G* prev) {
  // One load covers the diagnostics, goromigrate, stop-the-world and exit (schedhooks.h).
  if (sched_hooks.load(std::memory_order_relaxed) != 0 || prev->lockedm != nullptr ||
      mp->exiting) [[unlikely]] {
    schedule_next_slow(mp, pp, prev);
    return;
  }

  G* next = nullptr;
  bool inherit_time = false;
  if (sched.runqsize.load(std::memory_order_relaxed) > 0 &&
      pp->schedtick.load(std::memory_order_relaxed) % kGlobalQueueTick == 0) [[unlikely]] {
    std::lock_guard<runtime_lock> guard(sched.lock);
    next = globrunqget(pp, 1);
  }
  if (next == nullptr) {
    runq_take took = runqget(pp);
    next = took.gp;
    inherit_time = took.inherit_time;
  }
  // must_migrate without goromigrate, which the test above excludes.
  if (next != nullptr && ((next->lockedm != nullptr && next->lockedm != mp) ||
                          (next->avoid_m0 && mp->is_m0))) [[unlikely]] {
    // g0 hands it to its locked M or to another thread.
    runqput(pp, next, true);
    next = nullptr;
  }

  if (next == nullptr) {
    switch_to(mp, prev, &mp->g0);
    return;
  }
  if (!inherit_time) bump_schedtick(pp);
  setgstatus(next, gstatus::runnable, gstatus::running);
  switch_to(mp, prev, next);
}

void schedule_next(M* mp, P* pp, G* prev) { schedule_next_inline(mp, pp, prev); }

// --- Park and ready -------------------------------------------------------------------------

void park(waitreason reason, unlock_fn unlockf, void* arg) {
  M* mp = getm();
  G* gp = mp->curg.load(std::memory_order_relaxed);
  if (gp == nullptr) throw_bug("park: not on a goroutine");
  P* pp = acquire_p(mp);

  gp->wait_reason.store(reason, std::memory_order_relaxed);
  setgstatus(gp, gstatus::running, gstatus::waiting);
  // schedule_next's slow path reports the block (hook_switch) while the trace is on, before
  // the unlock function lets a waker in.
  mp->pending = after_switch::park;
  mp->pending_g = gp;
  mp->pending_unlock = unlockf;
  mp->pending_arg = arg;
  schedule_next_inline(mp, pp, gp);

  release_p_to_user(getm());
}

namespace {

inline void queue_on_p_or_global(G* gp, M* mp) {
  P* pp = mp != nullptr ? mp->p : nullptr;
  if (pp == nullptr || pp->state.load(std::memory_order_relaxed) !=
                           pstate(mp->id, pstatus::running)) {
    std::lock_guard<runtime_lock> guard(sched.lock);
    globrunqput(gp);
  } else {
    runqput(pp, gp, true);
  }
  wakep();
}

// queue_readied with a hook on. Separate, so that the common path keeps no value live
// across a call before it queues gp.
[[gnu::cold, gnu::noinline]] void queue_readied_hooked(G* gp, M* mp) {
  hook_ready_slow(gp);  // the unblock event, and a dump's waitsince stamp
  queue_on_p_or_global(gp, mp);
}

// The rest of ready: queues gp, already runnable, on mp's P (or the global queue) and wakes
// an idle P if needed.
[[gnu::always_inline]] inline void queue_readied(G* gp, M* mp) {
  gp->wait_reason.store(waitreason::zero, std::memory_order_relaxed);
  if (ready_hooks_on()) [[unlikely]] {
    queue_readied_hooked(gp, mp);
    return;
  }
  queue_on_p_or_global(gp, mp);
}

}  // namespace

void ready(G* gp) {
  casgstatus(gp, gstatus::waiting, gstatus::runnable);
  queue_readied(gp, getm());
}

void ready_unique(G* gp, M* mp) {
  setgstatus(gp, gstatus::waiting, gstatus::runnable);
  queue_readied(gp, mp);
}

void ready_global(G* gp) {
  casgstatus(gp, gstatus::waiting, gstatus::runnable);
  gp->wait_reason.store(waitreason::zero, std::memory_order_relaxed);
  gp->waitsince.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    // Under the lock: checkdead, which also runs under it, must not see gp runnable and in
    // no queue for longer than it takes to queue it, since a plain thread does not count as
    // a waker.
    trace_go_unblock(gp);
    globrunqput(gp);
  }
  // Not wakep: it returns while some M counts as spinning, and a spinning M re-checks only
  // the local run queues before it sleeps, so a G put on the global queue from outside the
  // scheduler could wait with every M asleep. Start an M on an idle P directly, as Go's
  // injectglist does when the caller holds no P.
  if (sched.npidle.load(std::memory_order_relaxed) != 0) startm(nullptr, false);
}

void inject_glist(G* head, std::int32_t n) {
  if (head == nullptr) return;
  // The poller made these Gs runnable (netpoll.cc). Their unblock events are stamped here,
  // before any of them is queued where another M could start it.
  if (hook_on(kHookAll)) {
    for (G* gp = head; gp != nullptr; gp = gp->schedlink) trace_go_unblock(gp);
  }
  M* mp = getm();
  P* pp = mp != nullptr ? mp->p : nullptr;
  if (pp != nullptr && pp->state.load(std::memory_order_relaxed) ==
                           pstate(mp->id, pstatus::running)) {
    for (G* gp = head; gp != nullptr;) {
      G* next = gp->schedlink;
      gp->schedlink = nullptr;
      runqput(pp, gp, false);
      gp = next;
    }
    // This M runs one of them; an idle P could run the rest.
    if (n > 1) wakep();
    return;
  }

  G* tail = head;
  while (tail->schedlink != nullptr) tail = tail->schedlink;
  std::int32_t idle = 0;
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    globrunqputbatch(head, tail, n);
    idle = static_cast<std::int32_t>(sched.npidle.load(std::memory_order_relaxed));
  }
  // As Go's injectglist: one M per G, up to the number of idle Ps.
  for (std::int32_t i = 0; i < n && i < idle; ++i) startm(nullptr, false);
}

// --- Finding work ---------------------------------------------------------------------------

namespace {

// Runs expired timers on every P (pp's first); returns the earliest remaining `when`.
std::int64_t run_timers(P* pp, std::int64_t now) {
  std::int64_t earliest = 0;
  std::int32_t n = allp_count();
  for (std::int32_t i = -1; i < n; ++i) {
    P* p2 = i < 0 ? pp : allp_at(i);
    if (i >= 0 && p2 == pp) continue;
    std::int64_t when = p2->timer0_when.load(std::memory_order_acquire);
    if (when == 0) continue;
    std::int64_t next = 0;
    if (when <= now) {
      check_timers(p2, now, &next);
    } else {
      next = when;
    }
    if (next != 0 && (earliest == 0 || next < earliest)) earliest = next;
  }
  return earliest;
}

// A thief steals from a P in a spawn burst of short goroutines only if the P makes no
// progress over kBurstWatchNs.
constexpr std::int64_t kBurstWatchNs = 2'000;
// Before a spawn burst's first batch is timed, a thief leaves it alone if it made this many
// spawns and switches during the watch: one every 250 ns or faster.
constexpr std::uint32_t kBurstUntimedSteps = 8;

// True if p2, in a spawn burst, is getting through goroutines faster than a thief could
// take them. Such a P runs each goroutine it spawned while the goroutine's record and
// stack top are still in its CPU's cache. A thief would pay a cache miss on each record
// and stack, and send the stacks back through the pools, for goroutines that take less
// time than those misses: the spawn benchmark took longer with two Ps than with one.
//
// The cost per goroutine comes from the P's last spawn batch (spawn_turn). A watch cannot
// tell it: while the spawner spawns, nothing runs, and counting spawns as progress kept
// thieves off goroutines of 200 to 500 ns, for which a second P still saves a third of the
// time. With short goroutines the P must still show progress, a spawn or a switch, during
// the watch: a spawner that stopped to compute, or a goroutine that runs long, is stolen
// from as usual. Go's runqgrab similarly waits about 3 µs before it steals the runnext G of
// a running P.
//
// The thief reads the P's counters only at the start and the end of its watch. Each read
// moves a cache line that the P writes at every spawn or switch. A thief that polled them
// made the spawner slower with an idle second P than with none.
bool burst_is_fast(P* p2) {
  const std::uint32_t per_g = p2->burst_run_ns.load(std::memory_order_relaxed);
  if (per_g >= kBurstShortNs) return false;
  std::uint32_t tail = p2->runq_tail.load(std::memory_order_relaxed);
  std::uint32_t tick = p2->schedtick.load(std::memory_order_relaxed);
  std::int64_t until = os::nanotime() + kBurstWatchNs;
  do {
    for (int i = 0; i < 16; ++i) cpu_relax();
  } while (os::nanotime() < until);
  const std::uint32_t steps = (p2->runq_tail.load(std::memory_order_relaxed) - tail) +
                              (p2->schedtick.load(std::memory_order_relaxed) - tick);
  // Before the first batch is timed, only a high rate of spawns and switches counts.
  return per_g == 0 ? steps >= kBurstUntimedSteps : steps != 0;
}

// How long a thief that found only fast spawn bursts sleeps before it looks again.
constexpr std::int64_t kBurstNapNs = 20'000;

// Looks for work on the other Ps. Sets *fast_burst if it left a P's queue alone because
// the P was in a fast spawn burst.
G* steal_work(M* mp, P* pp, bool* fast_burst) {
  constexpr int kStealTries = 4;
  constexpr int kMaxFast = 4;
  P* fast_ps[kMaxFast];
  int nfast = 0;
  std::int32_t n = allp_count();
  for (int attempt = 0; attempt < kStealTries; ++attempt) {
    bool last = attempt == kStealTries - 1;
    // A random start and a stride coprime with n visit every P once, in a different order
    // for each M, so thieves do not all converge on the same victim.
    std::uint32_t start = static_cast<std::uint32_t>(os::fastrand());
    std::uint32_t stride = 1;
    if (n > 1) {
      for (stride = static_cast<std::uint32_t>(os::fastrand() % n) | 1;; stride += 2) {
        std::uint32_t a = stride % n, b = static_cast<std::uint32_t>(n);
        while (b != 0) {
          std::uint32_t t = a % b;
          a = b;
          b = t;
        }
        if (a == 1 && stride % n != 0) break;
      }
    }
    for (std::int32_t i = 0; i < n; ++i) {
      P* p2 = allp_at((start + static_cast<std::uint32_t>(i) * stride) % n);
      if (p2 == pp || p2->status() == pstatus::idle) continue;
      if (p2->spawn_burst.load(std::memory_order_relaxed)) {
        // Watch each bursting P once per call: a later attempt trusts the first watch.
        bool fast = false;
        for (int k = 0; k < nfast; ++k) fast = fast || fast_ps[k] == p2;
        if (!fast && burst_is_fast(p2)) {
          fast = true;
          if (nfast < kMaxFast) fast_ps[nfast++] = p2;
        }
        if (fast) {
          *fast_burst = true;
          continue;
        }
      }
      if (G* gp = runqsteal(pp, p2, last)) return gp;
    }
    if (sched.gcwaiting.load(std::memory_order_relaxed) ||
        sched.exiting.load(std::memory_order_relaxed)) {
      return nullptr;
    }
  }
  (void)mp;
  return nullptr;
}

// On g0 with no P, instead of stopm: if goroutines wait for the network and no other M is
// blocked in the poller, block in it until an event, the next timer or netpoll_break. Returns
// false if this M did not poll. Otherwise the readied Gs are queued, on a P this M takes if
// one is idle (the caller then runs them), else on the global queue.
bool poll_until_work(M* mp, std::int64_t next_timer) {
  if (!netpoll_inited() || netpoll_waiters() == 0) return false;
  if (sched.lastpoll.exchange(0, std::memory_order_seq_cst) == 0) return false;

  // Timers added before the exchange did not see lastpoll == 0 and did not break the poll,
  // so look at the heaps again now. The exchange synchronises with wake_timer_m's
  // read-modify-write of lastpoll, which follows the timer's insertion.
  std::int64_t earliest = earliest_timer();
  if (earliest != 0 && (next_timer == 0 || earliest < next_timer)) next_timer = earliest;
  std::int64_t delay = -1;
  if (next_timer != 0) {
    delay = next_timer - os::nanotime();
    if (delay < 0) delay = 0;
  }
  sched.poll_until.store(next_timer, std::memory_order_seq_cst);
  std::int32_t n = 0;
  G* list = netpoll(delay, &n);
  sched.poll_until.store(0, std::memory_order_seq_cst);
  sched.lastpoll.store(os::nanotime(), std::memory_order_seq_cst);

  P* p2 = nullptr;
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    if (!sched.exiting.load(std::memory_order_relaxed)) p2 = pidleget();
  }
  if (p2 != nullptr) acquirep(mp, p2);
  inject_glist(list, n);
  return true;
}

// On g0 with a P. Returns a runnable G with the P still held, or nullptr with the P given
// up (stopped for STW, or idle while the M slept); the loop then starts over.
G* findrunnable(M* mp, bool* inherit_time) {
  P* pp = mp->p;
  for (;;) {
    if (sched.gcwaiting.load(std::memory_order_acquire)) {
      gcstopm(mp);
      return nullptr;
    }
    if (sched.exiting.load(std::memory_order_acquire) || mp->exiting) return nullptr;

    // Timers.
    std::int64_t next_timer = 0;
    if (any_timers()) next_timer = run_timers(pp, os::nanotime());

    // Global queue first now and then, for fairness.
    *inherit_time = false;
    if (pp->schedtick.load(std::memory_order_relaxed) % kGlobalQueueTick == 0 &&
        sched.runqsize.load(std::memory_order_relaxed) > 0) {
      std::lock_guard<runtime_lock> guard(sched.lock);
      if (G* gp = globrunqget(pp, 1)) return gp;
    }

    // Local queue. Once it is empty, any spawn burst on this P is over.
    runq_take took = runqget(pp);
    if (took.gp != nullptr) {
      *inherit_time = took.inherit_time;
      return took.gp;
    }
    if (pp->spawn_burst.load(std::memory_order_relaxed)) {
      pp->spawn_burst.store(false, std::memory_order_relaxed);
      pp->burst_run_ns.store(0, std::memory_order_relaxed);
      pp->burst_long_batches = 0;
    }

    // Global queue.
    if (sched.runqsize.load(std::memory_order_relaxed) > 0) {
      std::lock_guard<runtime_lock> guard(sched.lock);
      if (G* gp = globrunqget(pp, 0)) return gp;
    }

    // Network: goroutines whose sockets became ready, without blocking. Skipped while an
    // M is blocked in the poller: it will hand them out itself.
    if (netpoll_inited() && netpoll_waiters() > 0 &&
        sched.lastpoll.load(std::memory_order_relaxed) != 0) {
      std::int32_t n = 0;
      if (G* list = netpoll(0, &n)) {
        inject_glist(list, n);
        runq_take injected = runqget(pp);
        if (injected.gp != nullptr) {
          *inherit_time = injected.inherit_time;
          return injected.gp;
        }
      }
    }

    // Spinning Ms: steal from other Ps. At most half of the busy Ps' worth of Ms spin, so
    // a burst of wake-ups does not burn every core on empty queues.
    std::int32_t procs = sched.gomaxprocs.load(std::memory_order_relaxed);
    if (mp->spinning || 2 * sched.nmspinning.load(std::memory_order_relaxed) <
                            procs - sched.npidle.load(std::memory_order_relaxed)) {
      if (!mp->spinning) {
        mp->spinning = true;
        sched.nmspinning.fetch_add(1, std::memory_order_seq_cst);
      }
      bool fast_burst = false;
      if (G* gp = steal_work(mp, pp, &fast_burst)) return gp;

      // A P is getting through a spawn burst quickly. Sleep a little, keeping the P and
      // the spinning status, and look again. A spinning thief slows the spawner: pinned
      // to one CPU, the spawn benchmark took 18 ms alone and up to 26 ms with a thread
      // polling on the other CPU (a VM whose two CPUs likely share a core). Releasing
      // the P instead would make every spawn's wakep wake this M again. Work
      // that appears elsewhere meanwhile waits for the nap at most, because wakep finds a
      // spinning M and wakes no one.
      if (fast_burst) {
        os::usleep_ns(kBurstNapNs);
        continue;
      }
    }

    // Nothing to do: give up the P.
    {
      std::lock_guard<runtime_lock> guard(sched.lock);
      if (sched.gcwaiting.load(std::memory_order_relaxed) ||
          sched.exiting.load(std::memory_order_relaxed)) {
        continue;
      }
      if (sched.runqsize.load(std::memory_order_relaxed) > 0) {
        if (G* gp = globrunqget(pp, 0)) return gp;
      }
      if (releasep(mp) != pp) throw_bug("findrunnable: wrong P");
      pidleput(pp);
    }

    // The delicate dance. A spinning M must drop its spinning status before sleeping, but a
    // G may have been readied after this M's last look and before the decrement, by a
    // thread that saw nmspinning > 0 and so did not wake anyone. Hence: decrement first
    // (seq_cst, pairing with wakep's seq_cst load), then look at every queue once more.
    // The same order appears in wakep (mlife.cc).
    if (mp->spinning) {
      mp->spinning = false;
      if (sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0) {
        throw_bug("findrunnable: negative nmspinning");
      }
      for (std::int32_t i = 0; i < allp_count(); ++i) {
        if (!runq_empty(allp_at(i))) {
          P* p2 = nullptr;
          {
            std::lock_guard<runtime_lock> guard(sched.lock);
            p2 = pidleget();
          }
          if (p2 != nullptr) {
            acquirep(mp, p2);
            pp = p2;
            mp->spinning = true;
            sched.nmspinning.fetch_add(1, std::memory_order_seq_cst);
          }
          break;
        }
      }
      if (mp->p != nullptr) continue;
    }

    // Timers that are due while we let the P go: take a P back and run them.
    if (next_timer == 0) next_timer = earliest_timer();
    if (next_timer != 0 && next_timer <= os::nanotime()) {
      P* p2 = nullptr;
      {
        std::lock_guard<runtime_lock> guard(sched.lock);
        p2 = pidleget();
      }
      if (p2 != nullptr) {
        acquirep(mp, p2);
        pp = p2;
        continue;
      }
    }

    if (poll_until_work(mp, next_timer)) {
      if (mp->p == nullptr) return nullptr;
      pp = mp->p;
      continue;
    }

    stopm(mp, next_timer);
    if (mp->p == nullptr) {
      std::lock_guard<runtime_lock> guard(sched.lock);
      if (P* p2 = pidleget()) acquirep(mp, p2);
    }
    if (mp->p == nullptr) return nullptr;
    pp = mp->p;
  }
}

void resetspinning(M* mp) {
  mp->spinning = false;
  if (sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0) {
    throw_bug("resetspinning: negative nmspinning");
  }
  // This M found work; another spinning M may find more (chain wake-up).
  wakep();
}

// On g0 of the locked M: gives the P away and sleeps until the locked G is runnable and
// someone hands this M a P to run it.
void stoplockedm(M* mp) {
  if (mp->p != nullptr) handoffp(releasep(mp));
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    sched.nmidlelocked++;
    checkdead();
  }
  mp->blocked.store(true, std::memory_order_relaxed);
  mp->park.sleep();
  sigquit_dump_if_idle_dumper(mp);
  mp->park.clear();
  mp->blocked.store(false, std::memory_order_relaxed);
  // startlockedm already took this M out of nmidlelocked, before waking it, so checkdead
  // never sees a moment where the G is in nobody's hands and its M still counts as idle.
  if (mp->nextp != nullptr) {
    acquirep(mp, mp->nextp);
    mp->nextp = nullptr;
  }
}

// On g0: gp, just taken from a run queue, is locked to another M. Hand that M our P; it runs
// gp directly once woken (schedule_loop), so gp is not queued again. This M then stops.
void startlockedm(M* mp, G* gp) {
  M* lm = gp->lockedm;
  P* pp = releasep(mp);
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    sched.nmidlelocked--;
  }
  lm->nextp = pp;
  lm->park.wakeup();
}

// On g0: migrate gp (GODEBUG=goromigrate=1): leave it at the head of our P and give the P to
// another M, so gp resumes on a different thread.
void migrate(M* mp, G* gp) {
  runqput(mp->p, gp, true);
  P* pp = releasep(mp);
  startm(pp, false);
}

}  // namespace

void schedule_loop(M* mp) {
  for (;;) {
    if (sched.exiting.load(std::memory_order_acquire)) {
      if (mp->is_m0) {
        sched.m0_exit_note.wakeup();  // main_goexit on another M waits for this
        return;
      }
      if (mp->p != nullptr) {
        releasep(mp);
      }
      mexit(mp);
    }
    if (mp->exiting && !mp->is_m0) {
      if (mp->p != nullptr) handoffp(releasep(mp));
      mexit(mp);
    }
    mp->exiting = false;

    if (G* locked = mp->lockedg) {
      // A wired M runs nothing but its G: it gives its P away and sleeps until whoever takes
      // the G from a run queue hands it a P (startlockedm). It never looks for other work.
      stoplockedm(mp);
      if (sched.exiting.load(std::memory_order_acquire) || mp->p == nullptr) continue;
      execute(mp, locked, false);
      continue;
    }
    if (mp->p == nullptr) {
      stopm(mp, 0);
      continue;
    }

    bool inherit_time = false;
    G* gp = findrunnable(mp, &inherit_time);
    if (gp == nullptr) continue;
    if (mp->spinning) resetspinning(mp);

    if (gp->lockedm != nullptr && gp->lockedm != mp) {
      startlockedm(mp, gp);
      continue;
    }
    if (must_migrate(mp, gp) &&
        (gp->avoid_m0 || sched.mcount_alive.load(std::memory_order_relaxed) < 64)) {
      migrate(mp, gp);
      continue;
    }
    execute(mp, gp, inherit_time);
  }
}

// --- Goroutine creation and exit ------------------------------------------------------------

namespace {

std::int64_t next_goid(P* pp) {
  if (pp == nullptr) return sched.goidgen.fetch_add(1, std::memory_order_relaxed) + 1;
  if (pp->goid_cache == pp->goid_cache_end) {
    pp->goid_cache = sched.goidgen.fetch_add(kGoidBatch, std::memory_order_relaxed) + 1;
    pp->goid_cache_end = pp->goid_cache + kGoidBatch;
  }
  return pp->goid_cache++;
}

[[noreturn]] void goexit(G* gp);

[[noreturn]] void goroutine_main(void* transfer, void* arg) {
  (void)transfer;
  auto* gp = static_cast<G*>(arg);
  M* mp = getm();
  sanitizer_finish_switch_first(gp);
  finish_switch(mp);
  gp->started = true;
  gp->runtime_depth = 1;
  release_p_to_user(mp);

  gp->entry(gp->closure);
  goexit(gp);
}

void goexit(G* gp) {
  M* mp = getm();
  P* pp = acquire_p(mp);

  setgstatus(gp, gstatus::running, gstatus::dead);
  trace_go_end(gp);
  if (!gp->is_system) sched.ngoroutines.fetch_sub(1, std::memory_order_relaxed);

  if (gp->lockedm != nullptr) {
    // A goroutine that exits while wired to its thread takes the thread with it: the
    // thread may carry state the goroutine changed (Go's rule). m0 stays, because
    // goro::run must return on it.
    bool locked_by_user = gp->locked_external > 0;
    gp->lockedm = nullptr;
    mp->lockedg = nullptr;
    if (locked_by_user && !mp->is_m0) mp->exiting = true;
  }

  mp->pending = after_switch::exit;
  mp->pending_g = gp;
  schedule_next_inline(mp, pp, gp);
  throw_bug("goexit: dead goroutine resumed");
}

struct main_closure {
  detail::main_entry entry;
  void* main;
};

void main_goroutine_entry(void* p) {
  auto* c = static_cast<main_closure*>(p);
  runtime_main();
  int status = c->entry(c->main);
  main_goexit(status);
}

}  // namespace

// Creates a G ready to run entry(closure) but does not queue it.
G* newproc_prepare(P* pp, std::size_t stack_size, std::size_t closure_size,
                   std::size_t closure_align, void** closure_out) {
  G* gp = gfget(pp, stack_size);
  std::uintptr_t top = slot_closure_top(gp);
  std::uintptr_t closure = (top - closure_size) & ~(static_cast<std::uintptr_t>(closure_align) - 1);
  // Leave at least a quarter of the stack for frames.
  if (closure_size > gp->stack.size() / 4 || closure < gp->stack.lo + kCanaryZone) {
    gfput(pp, gp);
    throw panic_error("goro::go: the goroutine's function and arguments take " +
                      std::to_string(closure_size) + " bytes, more than a quarter of its " +
                      std::to_string(gp->stack.size()) +
                      "-byte stack; pass large arguments by pointer or raise the stack size");
  }
  gp->closure = reinterpret_cast<void*>(closure);
  gp->sched_sp = context_init(reinterpret_cast<void*>(closure), &goroutine_main, gp);
  *closure_out = gp->closure;
  return gp;
}

void newproc_commit(P* pp, G* gp, void (*entry)(void*), void* creator_pc, G* parent) {
  gp->entry = entry;
  gp->creator_pc = creator_pc;
  gp->parent_goid = parent != nullptr ? parent->goid : 0;
  gp->goid = next_goid(pp);
  if (!gp->is_system) sched.ngoroutines.fetch_add(1, std::memory_order_relaxed);
  setgstatus(gp, gstatus::idle, gstatus::runnable);
  trace_go_create(gp);
  if (pp != nullptr) {
    runqput(pp, gp, true);

    // A goroutine that has started kRunqSize / 2 goroutines in a row on this P, in a loop
    // of goro::go, then yields at its next scheduling point whenever a batch is queued. The
    // goroutines it made then run while their stacks are still in cache, instead of piling
    // up by the thousand (each on its own page) until sysmon preempts the spawner.
    //   * Short goroutines, or ones not timed yet (P::burst_run_ns): batches of
    //     kSpawnBatch, and the spawner yields to the back of this P's queue (spawn_turn),
    //     which times the batch. Their Gs come back to the P's free list in time for the
    //     next batch.
    //   * Long ones: a full queue, and the spawner yields to the global queue (gopreempt),
    //     so another P can spawn the next batch while this one runs it.
    // A queue filled by many spawners (a tree of goroutines, each starting a few) instead
    // spills its older half to the global queue, as in Go. Yielding there would send a node
    // of the tree to the back of the queue with its children unstarted, so the scheduler
    // would run the tree breadth-first, with ten times as many goroutines alive at once.
    // A run of kSpawnBurst spawns also marks a spawn burst, which keeps thieves off the
    // queue while the P gets through short goroutines (burst_is_fast).
    const std::int64_t parent_goid = parent != nullptr ? parent->goid : 0;
    if (parent_goid != 0 && pp->spawner_goid == parent_goid) {
      // (Re)arm the burst: findrunnable clears it when the queue empties, and the spawner may
      // come back to this P from another one with its run still counting.
      if (++pp->spawn_run >= kSpawnBurst && !pp->spawn_burst.load(std::memory_order_relaxed)) {
        pp->spawn_burst.store(true, std::memory_order_relaxed);
      }
    } else {
      pp->spawner_goid = parent_goid;
      pp->spawn_run = 1;
      pp->spawn_yield = spawn_yield_kind::none;  // a request the last spawner never reached
    }
    if (pp->spawn_run >= kRunqSize / 2) {
      const bool short_gs = pp->burst_run_ns.load(std::memory_order_relaxed) < kBurstShortNs;
      if (runq_size(pp) >= (short_gs ? kSpawnBatch : kRunqSize - 1)) {
        pp->spawn_yield = short_gs ? spawn_yield_kind::own_queue : spawn_yield_kind::global_queue;
        pp->preempt.store(true, std::memory_order_relaxed);
      }
    }
  } else {
    std::lock_guard<runtime_lock> guard(sched.lock);
    globrunqput(gp);
  }
}

G* new_main_goroutine(P* pp, detail::main_entry entry, void* main) {
  void* closure = nullptr;
  G* gp = newproc_prepare(pp, default_stack_size(), sizeof(main_closure), alignof(main_closure),
                          &closure);
  new (closure) main_closure{entry, main};
  gp->is_main = true;
  newproc_commit(pp, gp, &main_goroutine_entry, nullptr, nullptr);
  return gp;
}

void main_goexit(int status) {
  M* mp = getm();
  G* gp = mp->curg.load(std::memory_order_relaxed);
  acquire_p(mp);

  sched.exit_status = status;
  sched.exiting.store(true, std::memory_order_release);
  sched_hooks.fetch_or(kHookExiting, std::memory_order_relaxed);
  netpoll_break();  // the M blocked in the poller, possibly m0, must see `exiting`
  setgstatus(gp, gstatus::running, gstatus::dead);
  trace_go_end(gp);
  sched.ngoroutines.fetch_sub(1, std::memory_order_relaxed);
  gp->lockedm = nullptr;
  mp->lockedg = nullptr;
  // m0 may be asleep in stopm, or about to be; either way it finds `exiting` set.
  if (!mp->is_m0) {
    m0->park.wakeup();
    // m0 may instead be running a goroutine that never reaches a scheduling point. Go would
    // exit the process when main returns; goro::run cannot return on another thread, so after
    // a second it does what Go does.
    constexpr std::int64_t kM0ExitWaitNs = 1'000'000'000;
    if (!sched.m0_exit_note.sleep(kM0ExitWaitNs)) {
      G* busy = m0->curg.load(std::memory_order_relaxed);
      print_line().str("goro: main returned, but the thread that called goro::run is still "
                       "running goroutine ").dec(busy != nullptr ? busy->goid : 0)
          .str(", which has not reached a scheduling point for a second; exiting the "
               "process with main's status\n").flush();
      std::exit(status);
    }
  }
  mp->pending = after_switch::none;
  switch_to(mp, gp, &mp->g0);
  throw_bug("main_goexit: main goroutine resumed");
}

}  // namespace goro::rt

// --- Public API -------------------------------------------------------------------------------

namespace goro {

panic_error::~panic_error() = default;

namespace detail {

spawn_slot spawn_begin(std::size_t closure_size, std::size_t closure_align,
                       const spawn_options& options) {
  using namespace rt;
  if (!runtime_running()) {
    throw panic_error("goro::go: called outside goro::run; start the runtime with goro::run first");
  }
  std::size_t stack_size =
      options.stack_size != 0 ? round_stack_size(options.stack_size) : default_stack_size();
  M* mp = getm();
  void* closure = nullptr;
  if (mp == nullptr) {
    G* gp = newproc_prepare(nullptr, stack_size, closure_size, closure_align, &closure);
    return {gp, closure};
  }
  runtime_mode mode;
  G* gp = newproc_prepare(mode.p(), stack_size, closure_size, closure_align, &closure);
  return {gp, closure};
}

void spawn_commit(spawn_slot slot, goroutine_entry entry, void* return_address) {
  using namespace rt;
  auto* gp = static_cast<G*>(slot.goroutine);
  M* mp = getm();
  if (mp == nullptr) {
    newproc_commit(nullptr, gp, entry, return_address, nullptr);
    wakep();
    ensure_sysmon();
    return;
  }
  {
    runtime_mode mode;
    newproc_commit(mode.p(), gp, entry, return_address, mode.m()->curg.load(std::memory_order_relaxed));
    resolve_gomaxprocs(mode.m());
    wakep();
  }
  ensure_sysmon();
}

void spawn_abort(spawn_slot slot) noexcept {
  using namespace rt;
  auto* gp = static_cast<G*>(slot.goroutine);
  gp->status.store(gstatus::dead, std::memory_order_relaxed);
  M* mp = getm();
  if (mp == nullptr) {
    stack_free_g(gp);
    return;
  }
  runtime_mode mode;
  gfput(mode.p(), gp);
}

}  // namespace detail

void yield() {
  using namespace rt;
  M* mp = getm();
  G* gp = mp != nullptr ? mp->curg.load(std::memory_order_relaxed) : nullptr;
  if (gp == nullptr) {
    // A plain thread has no goroutines to hand over to; let the OS run another thread.
    ::sched_yield();
    return;
  }
  P* pp = acquire_p(mp);

  // Run this P's expired timers first, as Go's Gosched does on its way through schedule():
  // while this goroutine keeps the P busy, no other M services the P's heap, so a goroutine
  // that polls with yield would otherwise never see its own timers fire.
  run_expired_timers(pp);

  // Nothing else on this P: take a batch from the global queue, as Go's Gosched would find
  // it there, or return at once if there is nothing anywhere.
  G* next = nullptr;
  if (runq_empty_owner(pp) && !sched.gcwaiting.load(std::memory_order_relaxed) &&
      gp->lockedm == nullptr) {
    if (sched.runqsize.load(std::memory_order_relaxed) == 0) {
      release_p_to_user(mp);
      return;
    }
    std::lock_guard<runtime_lock> guard(sched.lock);
    next = globrunqget(pp, 0);
  }

  setgstatus(gp, gstatus::running, gstatus::runnable);
  mp->pending = after_switch::requeue;  // hook_switch reports it as a go_sched event
  mp->pending_g = gp;
  if (next != nullptr &&
      ((next->lockedm != nullptr && next->lockedm != mp) || must_migrate(mp, next))) {
    // A G wired to another M, or one that must leave this M (goromigrate, or a goroutine
    // moving off m0 before a blocking call), goes through g0 like any queued G. Switching
    // to it directly would run it here again, and a G leaving m0 would bounce back forever.
    runqput(pp, next, true);
    next = nullptr;
  }
  if (next != nullptr) {
    bump_schedtick(pp);
    setgstatus(next, gstatus::runnable, gstatus::running);
    hook_switch(mp, gp, next);
    switch_to(mp, gp, next);
  } else {
    schedule_next_inline(mp, pp, gp);
  }
  release_p_to_user(getm());
}

int num_goroutine() { return rt::sched.ngoroutines.load(std::memory_order_relaxed); }

std::int64_t goroutine_id() {
  rt::G* gp = rt::getg();
  return gp != nullptr ? gp->goid : 0;
}

std::size_t set_default_stack_size(std::size_t bytes) {
  return rt::set_default_stack_size_bytes(bytes);
}

}  // namespace goro
