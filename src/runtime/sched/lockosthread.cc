// lock_os_thread / unlock_os_thread: wiring a goroutine to its thread, as Go's
// LockOSThread.
//
// While wired, the goroutine runs only on its M and the M runs only it. When the goroutine
// parks, the M gives its P away and sleeps (stoplockedm, proc.cc); whoever later picks the
// goroutine from a run queue hands the P to the wired M (startlockedm). Calls nest: the
// goroutine is unwired after as many unlocks as locks. A goroutine that exits while wired
// takes its thread with it (the thread exits), because the goroutine may have changed
// thread state (credentials, namespaces, signal masks) that later goroutines must not
// inherit; the exception is the thread that called goro::run, which must survive to return.
#include "goro/runtime.hpp"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"

namespace goro {

void lock_os_thread() {
  rt::M* mp = rt::getm();
  rt::G* gp = mp != nullptr ? mp->curg.load(std::memory_order_relaxed) : nullptr;
  if (gp == nullptr) {
    throw panic_error("goro::lock_os_thread: not called from a goroutine; plain threads are "
                      "already their own thread");
  }
  if (gp->locked_external == UINT32_MAX) {
    rt::fatal("LockOSThread nesting overflow");
  }
  gp->locked_external++;
  gp->lockedm = mp;
  mp->lockedg = gp;
}

void unlock_os_thread() {
  rt::M* mp = rt::getm();
  rt::G* gp = mp != nullptr ? mp->curg.load(std::memory_order_relaxed) : nullptr;
  if (gp == nullptr) {
    throw panic_error("goro::unlock_os_thread: not called from a goroutine");
  }
  // As in Go, an unlock without a lock is a no-op.
  if (gp->locked_external == 0) return;
  if (--gp->locked_external == 0) {
    gp->lockedm = nullptr;
    mp->lockedg = nullptr;
  }
}

}  // namespace goro
