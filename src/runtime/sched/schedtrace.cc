// The SCHED lines of GODEBUG=schedtrace=N, byte for byte in current Go's format:
//
//   SCHED 505ms: gomaxprocs=2 idleprocs=0 threads=4 spinningthreads=0 needspinning=0 idlethreads=1 runqueue=1 [ 3 2 ] schedticks=[ 50 53 ]
//
// With scheddetail=1 the header gains gcwaiting, nmidlelocked, stopwait and sysmonwait and
// loses the per-P brackets, and one line per P, per M (newest first) and per G follows.
// Values are read without stopping the world, as Go reads them: a line is a snapshot of
// counters that may be moving.
#include "runtime/sched/schedtrace.h"

#include "runtime/os/futex.h"
#include "runtime/sched/sanitizer.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/waitreason.h"
#include "runtime/stack/stack.h"
#include "runtime/time/timer.h"
#include "runtime/trace/print.h"

namespace goro::rt {

namespace {

int go_pstatus(pstatus s) {
  return s == pstatus::user ? static_cast<int>(pstatus::running) : static_cast<int>(s);
}

void print_g_line(G* gp, void* arg) {
  (void)arg;
  gstatus status = gp->status.load(std::memory_order_acquire);
  if (status == gstatus::idle) return;
  stack_line<256> line;
  line.str("  G").dec(gp->goid).str(": status=").udec(static_cast<unsigned>(status)).chr('(')
      .str(status == gstatus::waiting ? waitreason_string(gp->wait_reason.load(std::memory_order_relaxed)) : std::string_view())
      .str(") m=");
  M* mp = status == gstatus::running || status == gstatus::syscall ? gp->m : nullptr;
  if (mp != nullptr) {
    line.dec(mp->id);
  } else {
    line.str("nil");
  }
  line.str(" lockedm=");
  if (gp->lockedm != nullptr) {
    line.dec(gp->lockedm->id);
  } else {
    line.str("nil");
  }
  line.chr('\n').flush();
}

}  // namespace

void schedtrace(bool detail) {
  std::int64_t now = os::nanotime();
  stack_line<4096> line;
  std::int32_t procs = sched.gomaxprocs.load(std::memory_order_relaxed);
  std::int32_t nallp = allp_count();

  sched.lock.lock();
  std::int64_t threads = sched.mnext - sched.nmfreed;
  line.str("SCHED ").dec((now - sched.start_time) / 1'000'000).str("ms: gomaxprocs=").dec(procs)
      .str(" idleprocs=").dec(sched.npidle.load(std::memory_order_relaxed))
      .str(" threads=").dec(sched.mcount_alive.load(std::memory_order_relaxed))
      .str(" spinningthreads=").dec(sched.nmspinning.load(std::memory_order_relaxed))
      .str(" needspinning=").dec(sched.needspinning.load(std::memory_order_relaxed) ? 1 : 0)
      .str(" idlethreads=").dec(sched.nmidle)
      .str(" runqueue=").dec(sched.runqsize.load(std::memory_order_relaxed));
  (void)threads;
  if (detail) {
    line.str(" gcwaiting=").boolean(sched.gcwaiting.load(std::memory_order_relaxed))
        .str(" nmidlelocked=").dec(sched.nmidlelocked)
        .str(" stopwait=").dec(sched.stopwait)
        .str(" sysmonwait=").boolean(sched.sysmonwait.load(std::memory_order_relaxed))
        .chr('\n');
  } else {
    line.str(" [ ");
    for (std::int32_t i = 0; i < procs && i < nallp; ++i) line.udec(runq_size(allp_at(i))).chr(' ');
    line.str("] schedticks=[ ");
    for (std::int32_t i = 0; i < procs && i < nallp; ++i) {
      line.udec(allp_at(i)->schedtick.load(std::memory_order_relaxed)).chr(' ');
    }
    line.str("]\n");
  }
  line.flush();

  if (!detail) {
    sched.lock.unlock();
    return;
  }

  // P, M and G fields are read without their owners' synchronisation, as Go reads them: the
  // detail lines are a snapshot that may be inconsistent (and TSan is told so).
  sanitizer_ignore_reads_begin();

  for (std::int32_t i = 0; i < procs && i < nallp; ++i) {
    P* pp = allp_at(i);
    M* mp = pp->m;
    line.str("  P").dec(i).str(": status=").dec(go_pstatus(pp->status()))
        .str(" schedtick=").udec(pp->schedtick.load(std::memory_order_relaxed))
        .str(" syscalltick=").udec(pp->syscalltick.load(std::memory_order_relaxed))
        .str(" m=");
    if (mp != nullptr) {
      line.dec(mp->id);
    } else {
      line.str("nil");
    }
    line.str(" runqsize=").udec(runq_size(pp)).str(" gfreecnt=").dec(pp->gfree_count)
        .str(" timerslen=").dec(timer_count(pp)).chr('\n').flush();
  }
  for (M* mp = sched.allm; mp != nullptr; mp = mp->alllink) {
    P* pp = mp->p;
    G* curg = mp->curg.load(std::memory_order_relaxed);
    line.str("  M").dec(mp->id).str(": p=");
    if (pp != nullptr) {
      line.dec(pp->id);
    } else {
      line.str("nil");
    }
    line.str(" curg=");
    if (curg != nullptr) {
      line.dec(curg->goid);
    } else {
      line.str("nil");
    }
    line.str(" mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=")
        .boolean(mp->spinning).str(" blocked=").boolean(mp->blocked.load(std::memory_order_relaxed)).str(" lockedg=");
    if (mp->lockedg != nullptr) {
      line.dec(mp->lockedg->goid);
    } else {
      line.str("nil");
    }
    line.chr('\n').flush();
  }
  sched.lock.unlock();
  for_each_stack_slot(&print_g_line, nullptr);
  sanitizer_ignore_reads_end();
}

}  // namespace goro::rt
