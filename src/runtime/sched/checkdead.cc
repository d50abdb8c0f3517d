// Deadlock detection, Go's checkdead.
//
// Called with sched.lock held whenever an M goes idle (stopm, stoplockedm). The program is
// deadlocked when no M is running goroutine code, in a blocking call or looking for work;
// no goroutine is runnable; no timer is pending on any P (a sleeping goroutine will wake);
// no plain thread that uses goro's primitives is outside them (it may still ready a
// goroutine); and goro::signal relays no signal to channels, because a signal may wake a
// goroutine too. Then nothing can ever make progress: print Go's message and every goroutine
// with its wait reason and stack, and exit with status 2.
#include <unistd.h>

#include "runtime/netpoll/netpoll.h"
#include "runtime/os/sigqueue.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"
#include "runtime/trace/sigquit.h"
#include "runtime/trace/traceback.h"

namespace goro::rt {

namespace {

[[noreturn]] void report_deadlock() {
  // Every other M is asleep and will stay so; the dump switches into parked goroutines,
  // which take no scheduler lock, so release ours for the libraries the dump calls.
  sched.lock.unlock();
  sigquit_ignore();
  write_all("fatal error: all goroutines are asleep - deadlock!\n");
  if (traceback_env.level > 0) {
    M* mp = getm();
    dump_options options;
    options.level = traceback_env.level;
    options.stacks_of_parked = true;
    dump_other_goroutines(mp, nullptr, options);
  }
  if (traceback_env.crash) ::abort();
  ::_exit(2);
}

}  // namespace

void checkdead() {
  if (sched.exiting.load(std::memory_order_relaxed)) return;

  std::int32_t running = static_cast<std::int32_t>(sched.mcount_alive.load(std::memory_order_relaxed)) -
                         sched.nmidle - sched.nmidlelocked - sched.nmsys;
  if (running > 0) return;
  if (running < 0) {
    print_line().str("runtime: checkdead: nmidle=").dec(sched.nmidle)
        .str(" nmidlelocked=").dec(sched.nmidlelocked)
        .str(" mcount=").dec(sched.mcount_alive.load(std::memory_order_relaxed))
        .str(" nmsys=").dec(sched.nmsys).chr('\n').flush();
    throw_bug("checkdead: inconsistent counts");
  }

  // A plain thread outside goro's primitives may still wake someone.
  if (sched.nplain_active.load(std::memory_order_acquire) > 0) return;
  // So may a signal while goro::signal relays one to channels (Go behaves the same).
  if (os::signals_watched()) return;
  // Runnable work in a queue: a waker is between queueing it and starting an M.
  if (sched.runqsize.load(std::memory_order_relaxed) > 0) return;
  for (std::int32_t i = 0; i < allp_count(); ++i) {
    if (!runq_empty(allp_at(i))) return;
  }
  // A goroutine or thread waiting in the network poller may be woken by a peer.
  if (netpoll_waiters() > 0) return;
  // A pending timer will wake a goroutine (time.Sleep is not a deadlock).
  if (any_timers()) return;
  if (sched.ngoroutines.load(std::memory_order_relaxed) == 0) {
    fatal("no goroutines (main called runtime.Goexit) - deadlock!");
  }
  report_deadlock();
}

}  // namespace goro::rt
