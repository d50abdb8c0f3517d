// Internal scheduler interface shared by the files of src/runtime/sched/. Each function
// states who may call it: "on g0" (the M's scheduling stack), "in runtime mode" (the caller
// holds its P with status running, see runtime2.h), or "any thread".
#pragma once

#include <cstdint>

#include "runtime/boot/debugvars.h"
#include "runtime/sched/runtime2.h"

namespace goro::rt {

// --- Current M and G (tls.cc) ---------------------------------------------------------------
// A goroutine may resume on another thread after any scheduling point, so no TLS address or
// value read through one may be kept across it. See tls.cc for how getm() ensures this.
void setm(M* mp);
#if defined(__x86_64__)
// The current M (tls.cc). Written only by setm.
extern "C" __thread M* goro_rt_tls_m __attribute__((tls_model("initial-exec")));
// Returns the current M. A volatile asm with a memory clobber is never merged with another
// or moved across a call, and a switch is a call, so each getm() reads its own thread's TLS.
inline M* getm() {
  M* mp;
  asm volatile("movq goro_rt_tls_m@gottpoff(%%rip), %0\n\tmovq %%fs:(%0), %0"
               : "=r"(mp)
               :
               : "memory");
  return mp;
}
#else
M* getm();
#endif
// The running user G, or nullptr on g0 and on plain threads.
inline G* getg() {
  M* mp = getm();
  return mp != nullptr ? mp->curg.load(std::memory_order_relaxed) : nullptr;
}

// --- Status changes (proc.cc) ---------------------------------------------------------------
void casgstatus(G* gp, gstatus from, gstatus to);
[[noreturn]] void setgstatus_failed(G* gp, gstatus from, gstatus to);
// For transitions only the G's owner can make; checks the old value, then stores (release:
// pairs with the acquire CAS or load of whoever looks at the G next).
inline void setgstatus(G* gp, gstatus from, gstatus to) {
  if (gp->status.load(std::memory_order_relaxed) != from) setgstatus_failed(gp, from, to);
  gp->status.store(to, std::memory_order_release);
}

// --- Run queues (runq.cc) -------------------------------------------------------------------
// Owner P only.
void runqput(P* pp, G* gp, bool next);
// runqget's result: the G (nullptr if the queue was empty), and whether it came from
// runnext and so inherits the current time slice. Returned in two registers.
struct runq_take {
  G* gp;
  bool inherit_time;
};
runq_take runqget(P* pp);
bool runq_empty(P* pp);
// Starts a new time slice on pp for sysmon (sysmon.cc). Only the P's owner writes schedtick,
// so a load and a store do (no locked instruction); sysmon reads it relaxed.
inline void bump_schedtick(P* pp) {
  pp->schedtick.store(pp->schedtick.load(std::memory_order_relaxed) + 1,
                      std::memory_order_relaxed);
}
// runq_empty for the owner P, which is the only party that adds Gs, so one look at head,
// tail and runnext cannot miss a G that moves between them. Thieves may still empty a
// queue this reports as non-empty.
inline bool runq_empty_owner(P* pp) {
  return pp->runq_head.load(std::memory_order_acquire) ==
             pp->runq_tail.load(std::memory_order_relaxed) &&
         pp->runnext.load(std::memory_order_relaxed) == nullptr;
}
std::uint32_t runq_size(P* pp);
// Steals half of p2's queue into pp's; returns one G to run, or nullptr.
G* runqsteal(P* pp, P* p2, bool steal_runnext);
// sched.lock held.
void globrunqput(G* gp);
void globrunqputbatch(G* head, G* tail, std::int32_t n);
G* globrunqget(P* pp, std::int32_t max);

// --- P and M lifecycle (mlife.cc) -----------------------------------------------------------
void acquirep(M* mp, P* pp);
P* releasep(M* mp);
// sched.lock held.
void pidleput(P* pp);
P* pidleget();
void mput(M* mp);
M* mget();
// Any thread.
void startm(P* pp, bool spinning);
void handoffp(P* pp);
void wakep();
// Wakes the M waiting for timers if `when` is earlier than its deadline (a new timer).
void wake_timer_m(std::int64_t when);
// Wakes one idle M (if any) so that it runs checkdead again on its way back to sleep.
void poke_idle_m();
// sched.lock held, exit path: puts a P on the idle list discarding its run queue.
void pidleput_force(P* pp);
// On g0 with no P: parks the M until handed a P. Returns false when the run is exiting.
bool stopm(M* mp, std::int64_t timer_deadline);
M* allocm();
void newm_thread(M* mp);  // starts the OS thread for mp
[[noreturn]] void mexit(M* mp);
void ensure_sysmon();

// --- Scheduling (proc.cc) -------------------------------------------------------------------
// In runtime mode, on a user G: switch to the next runnable G (or g0) after arranging
// mp->pending; returns when the calling G runs again.
void schedule_next(M* mp, P* pp, G* prev);
// On g0: the scheduling loop. Returns only on m0, when the run is exiting.
void schedule_loop(M* mp);
// In runtime mode: makes a waiting G runnable.
void ready(G* gp);
// ready() for the only party that can wake gp: one that unlinked gp's waiter under the lock
// gp's unlock function released after it parked. That lock orders the parked G's writes
// before this call, so a checked store replaces ready's status CAS. mp is getm().
void ready_unique(G* gp, M* mp);
// Any thread, no P needed: makes a waiting G runnable through the global queue.
void ready_global(G* gp);
// Queues n runnable Gs linked through schedlink (from netpoll): onto the caller's P if it
// holds one in runtime mode or on g0, otherwise onto the global queue, starting Ms for idle Ps.
void inject_glist(G* head, std::int32_t n);
// Parks the current G. unlockf (may be null) runs after the switch; if it returns false the G
// is made runnable again at once.
void park(waitreason reason, unlock_fn unlockf, void* arg);

// Runtime-mode bracket: acquire_p returns the P now owned in status running, taking a new P
// (and possibly waiting for one) if sysmon or stop-the-world claimed the old one. The G may
// then run on another M, so acquire_p updates mp. The inline fast paths below cover nested
// sections, a goroutine that enters its outermost section on the P it left in status user,
// and one that leaves with no preemption or stop-the-world pending. Everything else goes to
// the out-of-line versions in proc.cc, which handle every case.
P* acquire_p_slow(M* mp);
void release_p_to_user_slow(M* mp);

inline P* acquire_p(M*& mp) {
  G* gp = mp->curg.load(std::memory_order_relaxed);
  P* pp = mp->p;
  if (gp != nullptr && pp != nullptr &&
      mp->epoch == fast_path_epoch.load(std::memory_order_relaxed)) [[likely]] {
    // A nested section: the outer one already owns the P.
    if (gp->runtime_depth != 0) {
      gp->runtime_depth++;
      return pp;
    }
    std::uint64_t expected = pstate(mp->id, pstatus::user);
    // acquire: the claim by sysmon (if any) happens-before our failure, and our success
    // orders this runtime section after our own earlier release.
    if (pp->state.compare_exchange_strong(expected, pstate(mp->id, pstatus::running),
                                          std::memory_order_acquire,
                                          std::memory_order_relaxed)) [[likely]] {
      gp->runtime_depth = 1;
      return pp;
    }
  }
  pp = acquire_p_slow(mp);
  mp = getm();
  return pp;
}

inline void release_p_to_user(M* mp) {
  G* gp = mp->curg.load(std::memory_order_relaxed);
  P* pp = mp->p;
  if (gp != nullptr && gp->runtime_depth > 1) {
    gp->runtime_depth--;
    return;
  }
  if (gp != nullptr && pp != nullptr && gp->runtime_depth == 1 && !gp->blocking_suspended &&
      !pp->preempt.load(std::memory_order_relaxed) &&
      !sched.gcwaiting.load(std::memory_order_acquire)) [[likely]] {
    gp->runtime_depth = 0;
    // release: publishes the runtime section to the next claimer of the P (sysmon, STW).
    pp->state.store(pstate(mp->id, pstatus::user), std::memory_order_release);
    return;
  }
  release_p_to_user_slow(mp);
}

// goro::blocking's state changes (syscall.cc). begin_blocking puts gp, in its outermost
// runtime section on pp, into a blocking call (new_call), or back into the one a runtime call
// interrupted: status syscall, P status syscall. leave_blocking
// takes it out (status running) and returns its P, now in status `to`, or nullptr if sysmon
// took the P meanwhile.
void begin_blocking(M* mp, G* gp, P* pp, bool new_call);
P* leave_blocking(M* mp, G* gp, pstatus to);

// Parks the thread forever if mp belongs to an earlier goro::run (see M::epoch).
void stale_m_park(M* mp);
// RAII form for runtime entry points called from goroutine code.
class runtime_mode {
 public:
  runtime_mode();
  ~runtime_mode() { release_p_to_user(getm()); }
  runtime_mode(const runtime_mode&) = delete;
  runtime_mode& operator=(const runtime_mode&) = delete;
  M* m() const { return getm(); }  // re-read: the M may change across a park
  P* p() const { return getm()->p; }
};

// A runtime-mode section on a goroutine, and nothing on a plain thread or g0, for a blocking
// primitive that parks while it holds a lock of its own (a sema bucket, a notify list, a
// poll descriptor). Entering runtime mode may wait for a P: sysmon took it, or the
// goroutine is inside goro::blocking. Waiting with that lock held blocks every thread that
// needs the lock, the timer callback on the M that now holds the P included, and then no
// one runs the waiter. So the primitive opens this section before it takes the lock. park's
// own entry is then nested (runtime_depth above 0), and acquire_p returns from a nested
// entry at once. Channels do the same (chan_scope.h).
class goroutine_section {
 public:
  goroutine_section() {
    M* mp = getm();
    if (mp != nullptr && mp->curg.load(std::memory_order_relaxed) != nullptr) {
      acquire_p(mp);
      entered_ = true;
    }
  }
  ~goroutine_section() {
    if (entered_) release_p_to_user(getm());  // re-read: the G may have moved
  }
  goroutine_section(const goroutine_section&) = delete;
  goroutine_section& operator=(const goroutine_section&) = delete;

 private:
  bool entered_ = false;
};

// --- Switching (switch.cc) ------------------------------------------------------------------
// Switches the current M from `from` to `to`. Returns when `from` is resumed (possibly on
// another M). Runs mp->pending on the incoming side.
void switch_to(M* mp, G* from, G* to);

// The context switch of switch_to without its incoming-side steps: returns when `from` is
// resumed and leaves them to the switch_to that `from` is already inside. traceback_serve
// uses it to return to the dumper, so that a goroutine served by many dumps stays parked in
// one switch_to frame instead of nesting one more per dump.
void switch_context(M* mp, G* from, G* to);
// Called by a goroutine's first frame and after every switch, on the incoming side.
void finish_switch(M* mp);
// Sanitizer and thread-state preparation of a brand-new G before its first run.
void prepare_new_g(G* gp);
void release_g_resources(G* gp);
void init_g0(M* mp);

// --- Free Gs (proc.cc) ----------------------------------------------------------------------
G* gfget(P* pp, std::size_t stack_size);
void gfput(P* pp, G* gp);

// --- Timers (time/timer.cc) -----------------------------------------------------------------
// Runs expired timers of pp; returns the next `when` (0 if none) in *next.
void check_timers(P* pp, std::int64_t now, std::int64_t* next);
std::int64_t earliest_timer();  // across all Ps, 0 if none
bool any_timers();

// --- Deadlock detection (checkdead.cc) ------------------------------------------------------
// sched.lock held.
void checkdead();

// --- Stop-the-world and resize (procresize.cc) ----------------------------------------------
// Stop-the-world callers serialise on world_lock and take it first. From a goroutine, before
// entering runtime mode:
void lock_world_from_goroutine();
// From a thread that holds no P and is not a goroutine; false if not taken within timeout_ns.
bool lock_world_without_p(std::int64_t timeout_ns);
// world_lock held. mp may hold no P (sysmon, an idle g0), but then only for a dump the
// process exits after: start_the_world would hand mp a P.
void stop_the_world(M* mp, const char* reason);
// As stop_the_world, but gives up after timeout_ns (negative: never) and returns false, with
// the world half stopped.
bool stop_the_world_within(M* mp, const char* reason, std::int64_t timeout_ns);
// Restarts the world and releases world_lock.
void start_the_world(M* mp);
void gcstopm(M* mp);
// World stopped, sched.lock not held. Returns the Ps with work to start. Clears
// sched.gcwaiting in the critical section that refills the idle list (see procresize.cc).
P* procresize(std::int32_t nprocs, M* mp);
// End of a run: frees every P and allp array.
void free_all_ps();

// --- Freezing the world (freeze.cc) ---------------------------------------------------------
// What a frozen world leaves for a dump.
struct frozen_world {
  static constexpr std::size_t kMaxUnsaved = 64;  // Ms blocked with a P; more fail the freeze
  bool holds_sched_lock = false;  // the freeze took sched.lock, and keeps it
  // Current goroutines of Ms that the freeze found blocked on sched.lock with a P, sorted by
  // address. Their status may be waiting although their registers are not saved yet.
  G* unsaved[kMaxUnsaved] = {};
  std::size_t unsaved_count = 0;
};
// Go's freezetheworld, for a dying process whose failing code may hold any runtime lock:
// stops what can be stopped without waiting for a lock (see freeze.cc), for at most
// timeout_ns. Returns true when no M other than mp can resume a goroutine any more. The
// world is never restarted.
bool freeze_the_world(M* mp, std::int64_t timeout_ns, frozen_world* out);

// --- Debug keys used on hot paths (boot/debugvars) ------------------------------------------
inline bool debug_migrate() { return debug.goromigrate != 0; }

// --- Lifecycle (proc.cc) --------------------------------------------------------------------
bool runtime_running();
void running_flag_set(bool on);
void main_goexit(int status);

}  // namespace goro::rt
