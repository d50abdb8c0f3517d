// Stop-the-world and changing the number of Ps (goro::gomaxprocs), as Go's stopTheWorld,
// startTheWorld and procresize.
//
// Stopping: set sched.gcwaiting, then claim every P. Idle Ps are taken off the idle list;
// Ps in status user or syscall are claimed with a CAS on their state word (their Ms find
// the P gone at their next scheduling point, exactly as after a sysmon retake); Ps in status
// running belong to Ms inside the runtime, which notice gcwaiting at their next scheduling
// decision or return to goroutine code and stop their P themselves (gcstopm). The stopper
// sleeps on sched.stopnote until sched.stopwait reaches zero, re-trying the CAS claims every
// 100 µs because a P may move from running to user without passing a check.
//
// Resizing runs with the world stopped: new Ps are created, Ps beyond the new count move
// their run queues, free Gs and timers to the global queue, pools and P 0, and are marked
// dead (their memory stays allocated for the rest of the run, since an M returning from a
// blocking call may still look at its old P's state word).
#include <new>

#include "goro/runtime.hpp"
#include "runtime/boot/boot.h"
#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"
#include "runtime/stack/stack.h"
#include "runtime/time/timer.h"
#include "runtime/trace/schedhooks.h"

namespace goro::rt {

namespace {

constexpr std::int64_t kStopRetryNs = 100'000;

// Serialises stop-the-world callers (a goroutine lock, taken before the P is touched).
runtime_lock world_lock;

// allp arrays replaced by a grow, freed when the run ends (free_all_ps).
struct retired_array {
  P** array;
  retired_array* next;
};
retired_array* retired = nullptr;

void retire_allp_array(P** array) {
  if (array == nullptr) return;
  auto* r = new (std::nothrow) retired_array{array, retired};
  if (r != nullptr) retired = r;  // else leak the array: it is a few words
}

bool claim(P* pp) {
  std::uint64_t s = pp->state.load(std::memory_order_acquire);
  auto status = static_cast<pstatus>(s & 0xff);
  if (status != pstatus::user && status != pstatus::syscall) return false;
  if (!pp->state.compare_exchange_strong(s, pstate(0, pstatus::gcstop),
                                         std::memory_order_acq_rel)) {
    return false;
  }
  trace_proc_steal(pp, trace_steal_reason::stop_the_world);
  return true;
}

// Moves the caller's own P to gcstop; false if mp no longer owns it.
bool stop_own_p(M* mp, P* own) {
  for (pstatus owned : {pstatus::running, pstatus::user}) {
    std::uint64_t s = pstate(mp->id, owned);
    if (own->state.compare_exchange_strong(s, pstate(mp->id, pstatus::gcstop),
                                           std::memory_order_acq_rel)) {
      return true;
    }
  }
  return false;
}

}  // namespace

void gcstopm(M* mp) {
  if (!sched.gcwaiting.load(std::memory_order_acquire)) throw_bug("gcstopm: not waiting for gc");
  if (mp->spinning) {
    mp->spinning = false;
    sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst);
  }
  P* pp = releasep(mp);
  std::lock_guard<runtime_lock> guard(sched.lock);
  if (sched.stopwait <= 0) throw_bug("gcstopm: the world is already stopped");
  pp->state.store(pstate(0, pstatus::gcstop), std::memory_order_release);
  if (--sched.stopwait == 0) sched.stopnote.wakeup();
}

void lock_world_from_goroutine() {
  // Wait for a concurrent stop as a goroutine, before entering runtime mode: that stop must
  // stop our P too, and a P in status running is stopped only by its own M, so an M blocked
  // on world_lock while holding its P would deadlock the two. yield leaves the P claimable
  // (status user) and stops it itself once the world is being stopped.
  while (!world_lock.try_lock()) goro::yield();
}

bool lock_world_without_p(std::int64_t timeout_ns) {
  const std::int64_t deadline = os::nanotime() + timeout_ns;
  while (!world_lock.try_lock()) {
    if (os::nanotime() >= deadline) return false;
    os::usleep_ns(kStopRetryNs);
  }
  return true;
}

// The caller holds world_lock (see goro::gomaxprocs).
void stop_the_world(M* mp, const char* reason) { stop_the_world_within(mp, reason, -1); }

bool stop_the_world_within(M* mp, const char* reason, std::int64_t timeout_ns) {
  (void)reason;
  const std::int64_t deadline = timeout_ns < 0 ? -1 : os::nanotime() + timeout_ns;
  P* own = mp->p;
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    sched.stopnote.clear();
    sched.stopwait = sched.gomaxprocs.load(std::memory_order_relaxed);
    sched.gcwaiting.store(true, std::memory_order_seq_cst);
    sched_hooks.fetch_or(kHookStopTheWorld, std::memory_order_relaxed);
    // A caller without a P (sysmon, an idle M's g0) has nothing of its own to stop. Neither
    // has a goroutine whose P sysmon took while it ran (a panic's dump): mp->p still names
    // that P, but another M or the idle list has it now, and it is stopped from there.
    if (own != nullptr && !stop_own_p(mp, own)) own = nullptr;
    if (own != nullptr) sched.stopwait--;
    for (std::int32_t i = 0; i < allp_count(); ++i) {
      P* pp = allp_at(i);
      if (pp != own && claim(pp)) sched.stopwait--;
    }
    while (P* pp = pidleget()) {
      pp->state.store(pstate(0, pstatus::gcstop), std::memory_order_release);
      sched.stopwait--;
    }
  }
  for (;;) {
    {
      std::lock_guard<runtime_lock> guard(sched.lock);
      if (sched.stopwait == 0) return true;
      for (std::int32_t i = 0; i < allp_count(); ++i) {
        P* pp = allp_at(i);
        if (pp != own && claim(pp)) sched.stopwait--;
      }
      if (sched.stopwait == 0) return true;
    }
    if (deadline >= 0 && os::nanotime() >= deadline) return false;
    sched.stopnote.sleep(kStopRetryNs);
    sched.stopnote.clear();
  }
}

void start_the_world(M* mp) {
  // procresize also clears gcwaiting.
  P* runnable = procresize(sched.gomaxprocs.load(std::memory_order_relaxed), mp);
  sched_hooks.fetch_and(~kHookStopTheWorld, std::memory_order_relaxed);
  while (runnable != nullptr) {
    P* pp = runnable;
    runnable = pp->link;
    pp->link = nullptr;
    startm(pp, false);
  }
  world_lock.unlock();
  wakep();
}

P* procresize(std::int32_t nprocs, M* mp) {
  std::int32_t old = allp_count();

  // Grow: Ps are never freed during a run, so allp only grows and is reused.
  if (nprocs > old) {
    auto** allp = new (std::nothrow) P*[nprocs];
    if (allp == nullptr) fatal("procresize: out of memory");
    note_alloc(sizeof(P*) * static_cast<std::size_t>(nprocs));
    for (std::int32_t i = 0; i < old; ++i) allp[i] = allp_at(i);
    for (std::int32_t i = old; i < nprocs; ++i) {
      allp[i] = new (std::nothrow) P;
      if (allp[i] == nullptr) fatal("procresize: out of memory");
      note_alloc(sizeof(P));
      allp[i]->id = i;
      allp[i]->state.store(pstate(0, pstatus::gcstop), std::memory_order_relaxed);
    }
    P** previous = sched.allp.load(std::memory_order_relaxed);
    sched.allp.store(allp, std::memory_order_release);
    sched.allp_len.store(nprocs, std::memory_order_release);
    // A stealing M or sysmon may still be reading the old array; it is freed at run end.
    retire_allp_array(previous);
  }

  // Shrink: Ps at index >= nprocs give their work away and become dead.
  for (std::int32_t i = nprocs; i < allp_count(); ++i) {
    P* pp = allp_at(i);
    if (pp->status() == pstatus::dead) continue;
    std::lock_guard<runtime_lock> guard(sched.lock);
    while (G* gp = runqget(pp).gp) globrunqput(gp);
    while (G* gp = pp->gfree) {
      pp->gfree = gp->schedlink;
      pp->gfree_count--;
      stack_free_g(gp);
    }
    move_timers(pp, allp_at(0));
    pp->state.store(pstate(0, pstatus::dead), std::memory_order_release);
  }
  sched.gomaxprocs.store(nprocs, std::memory_order_relaxed);
  trace_gomaxprocs(nprocs);

  // The caller keeps its P if it survives, else takes P 0.
  if (mp->p != nullptr && mp->p->id < nprocs) {
    mp->p->state.store(pstate(mp->id, pstatus::running), std::memory_order_release);
  } else {
    if (mp->p != nullptr) releasep(mp);
    P* p0 = allp_at(0);
    p0->m = nullptr;
    acquirep(mp, p0);
  }

  // Every other live P becomes idle, or is returned for an M to run its queue. The world
  // starts in the same critical section, as in Go's startTheWorldWithSema. An M that leaves
  // stopm takes an idle P under sched.lock without looking at gcwaiting. If it could still
  // find gcwaiting set, findrunnable would stop that P again (gcstopm) after the stop had
  // ended, nothing would start it, and the next stop-the-world would wait for it forever.
  P* runnable = nullptr;
  std::lock_guard<runtime_lock> guard(sched.lock);
  sched.gcwaiting.store(false, std::memory_order_seq_cst);
  sched.pidle = nullptr;
  sched.npidle.store(0, std::memory_order_relaxed);
  for (std::int32_t i = nprocs - 1; i >= 0; --i) {
    P* pp = allp_at(i);
    if (pp == mp->p) continue;
    pp->m = nullptr;
    if (runq_empty(pp)) {
      pidleput(pp);
    } else {
      pp->link = runnable;
      runnable = pp;
    }
  }
  return runnable;
}

void free_all_ps() {
  std::int32_t n = allp_count();
  P** allp = sched.allp.load(std::memory_order_relaxed);
  for (std::int32_t i = 0; i < n; ++i) {
    free_timer_heap(allp[i]);
    delete allp[i];
  }
  delete[] allp;
  while (retired != nullptr) {
    retired_array* r = retired;
    retired = r->next;
    delete[] r->array;
    delete r;
  }
}

}  // namespace goro::rt

namespace goro {

int gomaxprocs(int n) {
  using namespace rt;
  if (M* mp = getm(); mp != nullptr && mp->curg.load(std::memory_order_relaxed) != nullptr) {
    runtime_mode mode;
    resolve_gomaxprocs(mode.m());
  }
  int previous = sched.gomaxprocs.load(std::memory_order_relaxed);
  if (n <= 0 || n == previous) return previous;
  if (!runtime_running()) {
    throw panic_error("goro::gomaxprocs: called outside goro::run; set GOMAXPROCS in the "
                      "environment to choose it before the runtime starts");
  }
  M* mp = getm();
  if (mp == nullptr || mp->curg.load(std::memory_order_relaxed) == nullptr) {
    throw panic_error("goro::gomaxprocs: changing the number of Ps must be done from a "
                      "goroutine, not a plain thread");
  }
  if (n > kMaxProcs) {
    throw panic_error("goro::gomaxprocs: " + std::to_string(n) + " is more than the maximum of " +
                      std::to_string(kMaxProcs));
  }
  lock_world_from_goroutine();
  previous = sched.gomaxprocs.load(std::memory_order_relaxed);
  if (n == previous) {
    world_lock.unlock();
    return previous;
  }
  runtime_mode mode;
  stop_the_world(mode.m(), "GOMAXPROCS");
  sched.gomaxprocs.store(n, std::memory_order_relaxed);
  start_the_world(mode.m());
  return previous;
}

}  // namespace goro
