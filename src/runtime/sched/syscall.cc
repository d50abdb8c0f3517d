// goro::blocking(): Go's entersyscall / exitsyscall.
//
// Entering, the goroutine keeps its P but marks it `syscall` (runtime2.h, "P ownership"):
// a short call costs two atomic operations and no thread hand-off. sysmon takes the P if the
// call is still running at its next look (20 µs to 10 ms later, depending on its back-off)
// and there is work for the P, or after 10 ms in any case, and gives it to another M.
//
// A goroutine other than main never blocks the thread that called goro::run (m0): that
// thread must stay able to return from goro::run when main returns, so such a goroutine moves
// to another M before its call.
//
// Leaving, the fast path wins the P back with one CAS. If the P is gone, the goroutine
// takes any idle P; failing that it waits in the global run queue and its M goes idle, as
// Go's exitsyscall0 does.
//
// Runtime calls from inside the call. The function given to goro::blocking may itself use
// goro: send on a channel, lock a goro::mutex, start a goroutine, nest another
// goro::blocking. The nested goro::blocking only counts its depth. Any other runtime call
// enters runtime mode (acquire_p), which finds the goroutine in status syscall and leaves the
// blocking state as exit_blocking does, claiming the P back or another one
// (leave_blocking). The call then runs as any goroutine's would, and may park the
// goroutine rather than its thread. When the outermost runtime section ends,
// release_p_to_user_slow enters the blocking state again (begin_blocking). G::
// blocking_suspended marks the goroutine in between. Its saved caller frame stays valid,
// because the frames from goro::blocking's caller up do not change until the call returns.
//
// Dumps. Entering, the goroutine stores its caller's frame pointer and return address in
// the G (Go's syscallbp and syscallpc) before its status becomes syscall, so that a dump
// can walk the frames from goro::blocking's caller up while the call runs
// (trace/syscall_stack.h). Those frames stay unchanged until the goroutine returns to its
// own code. Leaving, the status becomes running before the P is won back, so a goroutine
// that a dump finds in status syscall has not won its P yet. With the world stopped every P
// is claimed, so the CAS fails and the goroutine waits in acquire_p inside this file until
// the world restarts: it cannot change those frames while the dump reads them.
#include "goro/runtime.hpp"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/sysmon.h"
#include "runtime/trace/schedhooks.h"

namespace goro::rt {
namespace {

// Stores the frame pointer and return address of enter_blocking's caller in gp: two loads
// from enter_blocking's own frame record and two stores. A caller built without frame
// pointers may leave any value in the frame pointer register. A value that does not lie
// above this frame cannot point into the caller's frame, so it is dropped and the dump
// prints no stack. Inlined into enter_blocking, so that __builtin_frame_address(0) is its
// frame.
[[gnu::always_inline]] inline void save_caller_frame(G* gp) {
  // A frame record is two words on x86-64 and AArch64: the caller's frame pointer, then the
  // return address. goro is built with -fno-omit-frame-pointer, so enter_blocking has one.
  const auto* record = static_cast<const std::uintptr_t*>(__builtin_frame_address(0));
  const std::uintptr_t caller_fp = record[0];
  gp->syscall_pc = reinterpret_cast<std::uintptr_t>(
      __builtin_extract_return_addr(__builtin_return_address(0)));
  gp->syscall_fp = caller_fp > reinterpret_cast<std::uintptr_t>(record) ? caller_fp : 0;
}

}  // namespace

void begin_blocking(M* mp, G* gp, P* pp, bool new_call) {
  // The thread that called goro::run must be free to return from it when main returns, so a
  // goroutine other than main does not block it: it moves to another M first.
  while (mp->is_m0 && !gp->is_main && gp->lockedm == nullptr) {
    gp->avoid_m0 = true;
    setgstatus(gp, gstatus::running, gstatus::runnable);
    trace_go_sched(gp, trace_sched_reason::off_m0);
    mp->pending = after_switch::requeue_global;
    mp->pending_g = gp;
    schedule_next(mp, pp, gp);
    mp = getm();
    pp = mp->p;
  }
  gp->avoid_m0 = false;

  gp->runtime_depth--;  // the call itself is not a runtime section

  setgstatus(gp, gstatus::running, gstatus::syscall);
  trace_go_syscall(gp);
  sched.nblocking.fetch_add(1, std::memory_order_relaxed);
  // Only a new call restarts sysmon's hand-off clock. Otherwise a function that makes runtime
  // calls every few microseconds would keep its P through the whole call.
  if (new_call) pp->syscalltick.fetch_add(1, std::memory_order_relaxed);
  mp->oldp = pp;
  if (sched.gcwaiting.load(std::memory_order_acquire)) {
    // Stop-the-world is waiting: give the P up now instead of making it wait for the call.
    releasep(mp);
    std::lock_guard<runtime_lock> guard(sched.lock);
    pp->state.store(pstate(0, pstatus::gcstop), std::memory_order_release);
    if (--sched.stopwait == 0) sched.stopnote.wakeup();
  } else {
    // release: the P's state before the call is visible to sysmon when it claims the P.
    pp->state.store(pstate(mp->id, pstatus::syscall), std::memory_order_release);
  }
  sysmon_wake_if_waiting();
}

P* leave_blocking(M* mp, G* gp, pstatus to) {
  sched.nblocking.fetch_sub(1, std::memory_order_relaxed);
  gp->waitsince.store(0, std::memory_order_relaxed);  // a dump may have stamped the call
  P* pp = mp->oldp;
  mp->oldp = nullptr;
  // Running before the CAS: see "Dumps" above.
  setgstatus(gp, gstatus::syscall, gstatus::running);
  std::uint64_t expected = pstate(mp->id, pstatus::syscall);
  if (pp != nullptr && mp->p == pp &&
      pp->state.compare_exchange_strong(expected, pstate(mp->id, to),
                                        std::memory_order_acq_rel)) {
    // No new time slice, as in Go's exitsyscall: sysmon counts the call as running time,
    // so a goroutine that loops on short calls is still asked to yield after 10 ms.
    trace_go_syscall_exit(gp, true);
    return pp;
  }
  mp->p = nullptr;
  trace_go_syscall_exit(gp, false);
  return nullptr;
}

}  // namespace goro::rt

namespace goro::detail {

[[gnu::noinline]] void enter_blocking() noexcept {
  using namespace rt;
  M* mp = getm();
  if (mp == nullptr) return;  // a plain thread just blocks
  G* gp = mp->curg.load(std::memory_order_relaxed);
  if (gp == nullptr) return;
  if (gp->blocking_depth++ != 0) return;  // a nested goro::blocking: already inside the call

  ensure_sysmon();
  P* pp = acquire_p(mp);
  save_caller_frame(gp);
  begin_blocking(mp, gp, pp, true);
}

void exit_blocking() noexcept {
  using namespace rt;
  M* mp = getm();
  if (mp == nullptr) return;
  G* gp = mp->curg.load(std::memory_order_relaxed);
  if (gp == nullptr) return;
  if (--gp->blocking_depth != 0) return;

  stale_m_park(mp);
  P* pp = leave_blocking(mp, gp, pstatus::user);
  if (pp != nullptr && !pp->preempt.load(std::memory_order_relaxed)) return;
  // The P was taken: claim any P (or wait for one) through the runtime-mode slow path. Or
  // sysmon asked this goroutine to yield (the calls and the code between them have held the
  // P for a time slice): the same section's end yields.
  acquire_p(mp);
  release_p_to_user(getm());
}

}  // namespace goro::detail
