// Ms and Ps changing hands: acquiring and releasing Ps, idle lists, starting and stopping Ms,
// handing a P off, and waking an M when work appears (wakep).
//
// Idle Ms sleep on their `park` note. An M is woken either with a P in `nextp` (startm) or
// without one (timer deadline, exit); it never takes a P without sched.lock.
//
// Timer waits: of the idle Ms, at most one sleeps with a timeout, until the earliest timer of
// any P (sched.timer_m, sched.timer_m_until). The others sleep until woken. A G that adds an
// earlier timer wakes that M (wake_timer_m), so a sleeping goroutine is woken on time while no
// thread polls.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <new>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/arch/context.h"
#include "runtime/netpoll/netpoll.h"
#include "runtime/os/futex.h"
#include "runtime/pprof/cpu_profile.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sanitizer.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/sysmon.h"
#include "runtime/stack/overflow.h"
#include "runtime/trace/sigquit.h"
#include "runtime/trace/schedhooks.h"

namespace goro::rt {

namespace {
// An M's thread stack (its g0). The scheduler itself needs little, but sanitizer runtimes
// and the unwinder used by dumps need more than Go's 16 KiB.
constexpr std::size_t kThreadStackSize = 512 * 1024;
}  // namespace

void acquirep(M* mp, P* pp) {
  if (mp->p != nullptr) throw_bug("acquirep: already holding a P");
  mp->p = pp;
  pp->m = mp;
  // release: the new owner's id becomes visible together with everything before it.
  pp->state.store(pstate(mp->id, pstatus::running), std::memory_order_release);
  trace_proc_start(pp, mp);
}

P* releasep(M* mp) {
  P* pp = mp->p;
  if (pp == nullptr) throw_bug("releasep: no P");
  trace_proc_stop(pp, mp);
  mp->p = nullptr;
  pp->m = nullptr;
  return pp;
}

void pidleput(P* pp) {
  if (!runq_empty(pp)) throw_bug("pidleput: P has non-empty run queue");
  pp->state.store(pstate(0, pstatus::idle), std::memory_order_release);
  pp->link = sched.pidle;
  sched.pidle = pp;
  sched.npidle.fetch_add(1, std::memory_order_relaxed);
}

P* pidleget() {
  P* pp = sched.pidle;
  if (pp == nullptr) return nullptr;
  sched.pidle = pp->link;
  pp->link = nullptr;
  sched.npidle.fetch_sub(1, std::memory_order_relaxed);
  sysmon_wake_if_waiting();
  return pp;
}

void mput(M* mp) {
  mp->schedlink = sched.midle;
  sched.midle = mp;
  sched.nmidle++;
}

M* mget() {
  M* mp = sched.midle;
  if (mp == nullptr) return nullptr;
  sched.midle = mp->schedlink;
  sched.nmidle--;
  mp->schedlink = nullptr;
  if (sched.timer_m == mp) {
    sched.timer_m = nullptr;
    sched.timer_m_until = 0;
  }
  return mp;
}

namespace {

// sched.lock held. Removes mp from the idle list if it is there; returns whether it was.
bool mremove(M* mp) {
  for (M** link = &sched.midle; *link != nullptr; link = &(*link)->schedlink) {
    if (*link == mp) {
      *link = mp->schedlink;
      mp->schedlink = nullptr;
      sched.nmidle--;
      if (sched.timer_m == mp) {
        sched.timer_m = nullptr;
        sched.timer_m_until = 0;
      }
      return true;
    }
  }
  return false;
}

void* mstart(void* arg);

}  // namespace

M* allocm() {
  auto* mp = new (std::nothrow) M;
  if (mp == nullptr) fatal("out of memory allocating an M");
  std::lock_guard<runtime_lock> guard(sched.lock);
  if (sched.mnext - sched.nmfreed >= sched.maxmcount) {
    print_line().str("runtime: program exceeds ").dec(sched.maxmcount).str("-thread limit\n").flush();
    fatal("thread exhaustion");
  }
  mp->id = sched.mnext++;
  mp->epoch = run_epoch.load(std::memory_order_relaxed);
  mp->alllink = sched.allm;
  sched.allm = mp;
  sched.mcount_alive.fetch_add(1, std::memory_order_relaxed);
  mp->rand_state = static_cast<std::uint64_t>(mp->id) * 0x9e3779b97f4a7c15ull + 1;
  return mp;
}

void newm_thread(M* mp) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kThreadStackSize);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);

  // New Ms start with every signal blocked and unblock what they need in mstart, so a signal
  // never lands on a thread that has no signal stack yet.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  int err = pthread_create(&thread, &attr, &mstart, mp);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    print_line().str("runtime: failed to create new OS thread (have ")
        .dec(sched.mcount_alive.load(std::memory_order_relaxed)).str(" already; errno=")
        .dec(err).str(")\n").flush();
    fatal("newosproc");
  }
}

namespace {

void* mstart(void* arg) {
  context_reset_fp_control();
  auto* mp = static_cast<M*>(arg);
  setm(mp);
  mp->tid = static_cast<int>(::syscall(SYS_gettid));
  mp->thread = static_cast<unsigned long>(pthread_self());
  pprof::cpu_profile_add_thread(mp);

  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* lo = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attr, &lo, &size);
    mp->g0_stack_lo = lo;
    mp->g0_stack_size = size;
    pthread_attr_destroy(&attr);
  }
  init_g0(mp);
  minit_signals(mp);
  trace_thread(true);

  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);

  if (mp->is_sysmon) {
    sysmon_loop(mp);
    mexit(mp);
  }
  if (mp->nextp != nullptr) {
    acquirep(mp, mp->nextp);
    mp->nextp = nullptr;
  }
  schedule_loop(mp);
  mexit(mp);
}

}  // namespace

void mexit(M* mp) {
  trace_thread(false);
  pprof::cpu_profile_remove_thread(mp);
  unminit_signals(mp);
  setm(nullptr);
  // Last touch of shared state: after this the run's teardown may free mp.
  if (sched.mcount_alive.fetch_sub(1, std::memory_order_acq_rel) - 1 <= 1) {
    os::futex_wake(reinterpret_cast<std::atomic<std::uint32_t>*>(&sched.mcount_alive), 1);
  }
  pthread_exit(nullptr);
}

void startm(P* pp, bool spinning) {
  M* nmp = nullptr;
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    if (sched.exiting.load(std::memory_order_relaxed)) {
      if (spinning) sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst);
      if (pp != nullptr) pidleput_force(pp);
      return;
    }
    if (pp == nullptr) {
      pp = pidleget();
      if (pp == nullptr) {
        if (spinning) sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst);
        return;
      }
    }
    nmp = mget();
    if (nmp != nullptr) {
      // Hand over under the lock: stopm reads nextp under it too, so the woken M sees the P
      // even if its futex wake-up comes late.
      if (nmp->spinning) throw_bug("startm: M is spinning");
      nmp->spinning = spinning;
      nmp->nextp = pp;
    }
  }
  if (nmp == nullptr) {
    nmp = allocm();
    nmp->spinning = spinning;
    nmp->nextp = pp;
    newm_thread(nmp);
    return;
  }
  nmp->park.wakeup();
}

void pidleput_force(P* pp) {
  // Exit path: the run queue no longer matters.
  pp->runnext.store(nullptr, std::memory_order_relaxed);
  pp->runq_head.store(pp->runq_tail.load(std::memory_order_relaxed), std::memory_order_relaxed);
  pidleput(pp);
}

void handoffp(P* pp) {
  // Local or global work: start an M for it.
  if (!runq_empty(pp) || sched.runqsize.load(std::memory_order_relaxed) != 0) {
    startm(pp, false);
    return;
  }
  // No work, but no M is looking either: start a spinning one in case work appears.
  if (sched.nmspinning.load(std::memory_order_seq_cst) +
          sched.npidle.load(std::memory_order_relaxed) == 0) {
    std::int32_t zero = 0;
    if (sched.nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst)) {
      startm(pp, true);
      return;
    }
  }
  std::unique_lock<runtime_lock> guard(sched.lock);
  if (sched.gcwaiting.load(std::memory_order_relaxed)) {
    pp->state.store(pstate(0, pstatus::gcstop), std::memory_order_release);
    if (--sched.stopwait == 0) sched.stopnote.wakeup();
    return;
  }
  if (sched.runqsize.load(std::memory_order_relaxed) != 0) {
    guard.unlock();
    startm(pp, false);
    return;
  }
  // Timers on this P need an M that will wait for them.
  if (pp->timer0_when.load(std::memory_order_acquire) != 0) {
    guard.unlock();
    startm(pp, false);
    return;
  }
  pidleput(pp);
}

void wakep() {
  if (sched.npidle.load(std::memory_order_relaxed) == 0) return;
  // seq_cst: pairs with the decrement in findrunnable's delicate dance (proc.cc).
  if (sched.nmspinning.load(std::memory_order_seq_cst) != 0) return;
  std::int32_t zero = 0;
  if (!sched.nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst)) return;
  startm(nullptr, true);
}

bool stopm(M* mp, std::int64_t timer_deadline) {
  if (mp->p != nullptr) throw_bug("stopm: holding a P");
  if (mp->spinning) throw_bug("stopm: spinning");
  std::int64_t timeout = -1;
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    if (sched.exiting.load(std::memory_order_relaxed) && !mp->is_m0) return false;
    mput(mp);
    if (timer_deadline != 0 &&
        (sched.timer_m == nullptr || timer_deadline < sched.timer_m_until)) {
      sched.timer_m = mp;
      sched.timer_m_until = timer_deadline;
      timeout = timer_deadline - os::nanotime();
      if (timeout < 0) timeout = 0;
    }
    checkdead();
  }

  mp->blocked.store(true, std::memory_order_relaxed);
  bool woken = mp->park.sleep(timeout);
  sigquit_dump_if_idle_dumper(mp);
  P* handed = nullptr;
  {
    // Whoever takes an M off the idle list does so under sched.lock and writes nextp there,
    // then sets the park note. Still on the list: nobody took this M (a timeout, or a wake-up
    // that hands over nothing: exit, a dump), so it leaves with no P. Off the list: a waker
    // took it; if the note is not set yet (timeout), wait for it so it cannot leak into a
    // later round. The note is cleared only after this decision: clearing it before would
    // erase a hand-over's wake-up that landed between the timeout and the lock, and the
    // wait below would then never end.
    std::unique_lock<runtime_lock> guard(sched.lock);
    if (!mremove(mp)) {
      handed = mp->nextp;
      mp->nextp = nullptr;
      guard.unlock();
      if (!woken) mp->park.sleep();
    }
  }
  mp->park.clear();
  mp->blocked.store(false, std::memory_order_relaxed);

  if (handed != nullptr) acquirep(mp, handed);
  return !sched.exiting.load(std::memory_order_acquire);
}

void poke_idle_m() {
  M* mp = nullptr;
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    mp = mget();
  }
  // Woken without a P, the M goes straight back to stopm, which runs checkdead.
  if (mp != nullptr) mp->park.wakeup();
}

void wake_timer_m(std::int64_t when) {
  // An M blocked in the poller sleeps until poll_until, so interrupt it for an earlier timer.
  // A read-modify-write, not a load: it is ordered with the poller's exchange on lastpoll
  // (proc.cc, poll_until_work), so either this sees 0 or the poller's exchange comes after it
  // and the poller then sees the new timer in the heaps.
  if (netpoll_inited()) {
    if (sched.lastpoll.fetch_add(0, std::memory_order_seq_cst) == 0) {
      std::int64_t until = sched.poll_until.load(std::memory_order_seq_cst);
      if (until == 0 || when < until) netpoll_break();
    }
  }
  M* mp = nullptr;
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    if (sched.timer_m != nullptr) {
      if (when >= sched.timer_m_until) return;
      mp = sched.timer_m;
      mremove(mp);
    } else if (sched.npidle.load(std::memory_order_relaxed) > 0 && sched.nmidle > 0) {
      // Nobody waits for timers, but an idle M and an idle P could: wake an M to re-plan.
      mp = mget();
    }
  }
  if (mp != nullptr) mp->park.wakeup();
}

}  // namespace goro::rt
