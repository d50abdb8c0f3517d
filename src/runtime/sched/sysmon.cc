// sysmon: a thread without a P that watches the scheduler, as Go's sysmon does.
//
// It starts lazily, with the first goroutine after main or the first blocking call
// (ensure_sysmon), so a program that never needs it never creates its thread.
//
// Each round it sleeps `delay`: 20 µs while it keeps retaking Ps, doubling after 50 rounds
// without a retake up to 10 ms. When every P is idle (and no schedtrace is due) it first keeps
// polling every 10 ms for a second, so the short idle gaps of a busy server cost no
// wake-ups, and then sleeps on sched.sysmonnote, so an idle program burns no CPU. While it
// sleeps there, taking an idle P (pidleget) or entering a blocking call wakes it.
//
// Each round:
//   1. retake: a P whose G has been in goro::blocking() for a sysmon tick or more is handed
//      to another M when there is work for it (or after 10 ms regardless); a P whose G has
//      run 10 ms without a scheduling point is taken the same way. As in Go, the 10 ms time
//      slice counts from the P's last schedule, blocking calls included. A G that used it up
//      is asked to yield, and its P is taken at once if it is in a blocking call. Taking is a CAS on the
//      P's state word (runtime2.h), which the running M also CASes at its next scheduling
//      point, so exactly one side wins.
//   2. sockets nobody has polled for 10 ms: queue their goroutines (netpoll.cc).
//   3. timers that are overdue while every M is busy or asleep: wake an M for them.
//   4. GODEBUG=schedtrace=N: print the SCHED line (and scheddetail) every N ms.
//   5. GODEBUG=gorolongrun=N: report goroutines that ran N ms without a scheduling point.
//   6. return the memory of goroutine stacks idle in the global pools for a second. This
//      also runs while every P is idle, and the deep sleep ends when a stack becomes due.
// Before each round it checks for a SIGQUIT dump to print (sigquit.cc), which never returns.
#include "runtime/sched/sysmon.h"

#include <pthread.h>

#include <algorithm>

#include "runtime/boot/debugvars.h"
#include "runtime/netpoll/netpoll.h"
#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/longrun.h"
#include "runtime/sched/schedtrace.h"
#include "runtime/sched/sched.h"
#include "runtime/stack/stack.h"
#include "runtime/trace/sigquit.h"
#include "runtime/trace/schedhooks.h"

namespace goro::rt {

namespace {

constexpr std::int64_t kMinDelayNs = 20'000;
constexpr std::int64_t kMaxDelayNs = 10'000'000;
constexpr int kIdleRoundsBeforeBackoff = 50;
// Deep sleep cap: sysmon wakes at least this often even when idle (Go: forcegcperiod/2).
constexpr std::int64_t kDeepSleepNs = 60'000'000'000;
constexpr std::int64_t kScavengePeriodNs = 1'000'000'000;
// Free stacks released per scavenger pass: one madvise each, an estimated 1 to 5 ms in all.
constexpr std::size_t kScavengeBudget = 1024;
// How long sysmon keeps polling at kMaxDelayNs once every P is idle, before it sleeps until
// woken: long enough to span the gaps of a busy server, short enough that an idle program
// stops waking within a second.
constexpr std::int64_t kLightSleepWindowNs = 1'000'000'000;
// Sysmon polls the network when no M has for this long (Go: 10 ms).
constexpr std::int64_t kNetpollStaleNs = 10'000'000;

// Returns the number of Ps taken from blocking calls.
int retake(std::int64_t now) {
  int n = 0;
  std::int32_t procs = allp_count();
  for (std::int32_t i = 0; i < procs; ++i) {
    P* pp = allp_at(i);
    std::uint64_t s = pp->state.load(std::memory_order_acquire);
    auto status = static_cast<pstatus>(s & 0xff);

    // The time slice of a P in goroutine code, in a runtime section or in a blocking call,
    // measured as Go's retake measures it for _Prunning and _Psyscall. Only a schedule starts
    // a new one, so a goroutine that loops on short blocking calls uses up its slice too.
    bool slice_used = false;
    if (status == pstatus::user || status == pstatus::running || status == pstatus::syscall) {
      std::uint32_t t = pp->schedtick.load(std::memory_order_relaxed);
      // A P that sysmon has not observed yet (schedwhen 0) starts its time slice now. Its
      // tick can equal the initial record, and schedwhen 0 would date the slice from boot.
      if (pp->sysmon_schedtick != t || pp->sysmon_schedwhen == 0) {
        pp->sysmon_schedtick = t;
        pp->sysmon_schedwhen = now;
        pp->preempt.store(false, std::memory_order_relaxed);
      } else if (now - pp->sysmon_schedwhen >= kForcePreemptNs) {
        slice_used = true;
      }
    }
    if (slice_used && !pp->preempt.load(std::memory_order_relaxed)) {
      // First ask the G to yield at its next scheduling point. That is cheap, and enough for
      // a G that makes runtime calls or returns from its blocking call. The retakes below
      // handle one that does neither.
      pp->preempt.store(true, std::memory_order_relaxed);
      trace_preempt_request(pp);
      if (status != pstatus::syscall) continue;
    }
    if (status == pstatus::user && slice_used &&
        now - pp->sysmon_schedwhen >= 2 * kForcePreemptNs) {
      // A goroutine has held this P for a whole time slice. Take the P; the goroutine
      // keeps its thread and claims a P back at its next scheduling point.
      if (pp->state.compare_exchange_strong(s, pstate(kSysmonOwnerId, pstatus::running),
                                            std::memory_order_acq_rel)) {
        trace_proc_steal(pp, trace_steal_reason::long_running);
        longrun_note_preempted(pp, now - pp->sysmon_schedwhen);
        pp->sysmon_schedwhen = now;
        handoffp(pp);
        n++;
      }
      continue;
    }

    if (status != pstatus::syscall) continue;
    std::uint32_t t = pp->syscalltick.load(std::memory_order_relaxed);
    if (!slice_used && (pp->sysmon_syscalltick != t || pp->sysmon_syscallwhen == 0)) {
      pp->sysmon_syscalltick = t;
      pp->sysmon_syscallwhen = now;
      continue;
    }
    // Keep the P if it has nothing to do, someone else is looking for work anyway, and the
    // call is young: handing off costs a thread wake-up. A P whose time slice is used up
    // goes in any case, as in Go.
    if (!slice_used && runq_empty(pp) &&
        sched.nmspinning.load(std::memory_order_relaxed) +
                sched.npidle.load(std::memory_order_relaxed) > 0 &&
        now - pp->sysmon_syscallwhen < kForcePreemptNs) {
      continue;
    }
    if (pp->state.compare_exchange_strong(s, pstate(kSysmonOwnerId, pstatus::running),
                                          std::memory_order_acq_rel)) {
      pp->syscalltick.fetch_add(1, std::memory_order_relaxed);
      trace_proc_steal(pp, trace_steal_reason::syscall);
      handoffp(pp);
      n++;
    }
  }
  return n;
}

bool all_ps_idle() {
  return sched.npidle.load(std::memory_order_relaxed) ==
             sched.gomaxprocs.load(std::memory_order_relaxed) &&
         !sched.gcwaiting.load(std::memory_order_relaxed);
}

}  // namespace

void sysmon_wake_if_waiting() {
  bool expected = true;
  if (sched.sysmonwait.compare_exchange_strong(expected, false, std::memory_order_acq_rel)) {
    sched.sysmonnote.wakeup();
  }
}

void ensure_sysmon() {
  if (sched.sysmon_started.load(std::memory_order_acquire)) return;
  bool expected = false;
  if (!sched.sysmon_started.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
    return;
  }
  M* mp = allocm();
  mp->is_sysmon = true;
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    sched.nmsys++;
  }
  newm_thread(mp);
}

void sysmon_loop(M* mp) {
  std::int64_t delay = kMinDelayNs;
  int idle = 0;
  std::int64_t last_trace = 0;
  std::int64_t last_scavenge = os::nanotime();
  bool scavenge_more = false;  // the last scavenger pass stopped at its budget
  std::int64_t last_busy = last_scavenge;  // the last round that found a P in use

  // Once a period, and at every round after a pass that used its whole budget, so that a
  // large pool does not keep sysmon from retaking Ps and polling the network for long.
  auto scavenge = [&](std::int64_t now) {
    if (scavenge_more || now - last_scavenge >= kScavengePeriodNs) {
      last_scavenge = now;
      scavenge_more = stack_scavenge(now, 0, kScavengeBudget) == kScavengeBudget;
    }
  };

  for (;;) {
    if (sched.exiting.load(std::memory_order_acquire)) return;
    if (sigquit_pending.load(std::memory_order_acquire)) sigquit_dump(mp);

    if (idle == 0) {
      delay = kMinDelayNs;
    } else if (idle > kIdleRoundsBeforeBackoff) {
      delay *= 2;
    }
    if (delay > kMaxDelayNs) delay = kMaxDelayNs;
    os::usleep_ns(delay);

    std::int64_t now = os::nanotime();
    if (debug.schedtrace <= 0 && debug.gorolongrun <= 0 && all_ps_idle() &&
        sched.nblocking.load(std::memory_order_relaxed) == 0) {
      // A server between requests has every P idle for microseconds at a time. If sysmon
      // slept deeply then, each request's pidleget would pay a futex wake-up for it. So for
      // a while after the last busy round it keeps polling at the slowest rate, without
      // announcing sysmonwait, and only then sleeps until woken.
      if (now - last_busy < kLightSleepWindowNs) {
        idle = kIdleRoundsBeforeBackoff + 1;  // keeps delay at kMaxDelayNs
        delay = kMaxDelayNs;
        scavenge(now);
        continue;
      }
      sched.sysmonnote.clear();
      sched.sysmonwait.store(true, std::memory_order_seq_cst);
      // Re-check after announcing the wait (seq_cst store, then load): a P taken between
      // the first check and the store would otherwise go unnoticed.
      if (all_ps_idle() && !sched.exiting.load(std::memory_order_seq_cst) &&
          !sigquit_pending.load(std::memory_order_seq_cst)) {
        // Wake when free stacks become idle long enough to scavenge, so that a program
        // that went quiet after a burst of goroutines still returns their memory.
        std::int64_t sleep_ns = kDeepSleepNs;
        std::int64_t due = scavenge_more ? now : stack_scavenge_due(0);
        if (due != 0) sleep_ns = std::clamp(due - now, kMaxDelayNs, kDeepSleepNs);
        sched.sysmonnote.sleep(sleep_ns);
      }
      sched.sysmonwait.store(false, std::memory_order_relaxed);
      idle = 0;
      delay = kMinDelayNs;
      last_busy = os::nanotime();
      continue;
    }

    last_busy = now;
    std::lock_guard<runtime_lock> guard(sched.sysmonlock);
    now = os::nanotime();
    if (retake(now) > 0) {
      idle = 0;
    } else {
      idle++;
    }

    // Sockets nobody has polled for 10 ms (every M busy running goroutines): queue their
    // goroutines and start Ms for idle Ps, as Go's sysmon does.
    if (netpoll_inited() && netpoll_waiters() > 0) {
      std::int64_t last = sched.lastpoll.load(std::memory_order_relaxed);
      if (last != 0 && now - last > kNetpollStaleNs &&
          sched.lastpoll.compare_exchange_strong(last, now, std::memory_order_seq_cst)) {
        std::int32_t n = 0;
        // Unlike a retake, this does not reset `idle`, as in Go. Under a steady network load
        // the poll finds goroutines every time, and going back to 20 µs sleeps after each one
        // made sysmon sleep 10 times as often (3 351 against 344 sleeps in a 3 s run of
        // the echo benchmark at GOMAXPROCS=1).
        if (G* list = netpoll(0, &n)) inject_glist(list, n);
      }
    }

    // Overdue timers while no M is free to run them: give one an idle P.
    std::int64_t next_timer = earliest_timer();
    if (next_timer != 0 && next_timer < now - kMinDelayNs) wakep();

    if (debug.schedtrace > 0 && now - last_trace >= std::int64_t{debug.schedtrace} * 1'000'000) {
      last_trace = now;
      schedtrace(debug.scheddetail > 0);
    }
    if (debug.gorolongrun > 0) longrun_check(now, std::int64_t{debug.gorolongrun} * 1'000'000);
    scavenge(now);
  }
}

}  // namespace goro::rt
