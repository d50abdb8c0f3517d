// Long-runner reports (GODEBUG=gorolongrun=N).
//
// goro's scheduling is cooperative, so a goroutine that computes for a long time without a
// scheduling point holds its thread (sysmon takes its P after 10 ms, so other goroutines
// still run). Such goroutines are worth knowing about. sysmon notices them, because the P's
// schedtick stops moving, and prints
//
//     goro: goroutine 7 has run 25ms without a scheduling point
//
// It does not unwind the goroutine's stack from another thread or from a signal handler: the
// goroutine may be in the middle of throwing an exception, and the unwinder is not safe to
// run concurrently with itself on the same stack. Instead it flags the G, and at its next
// scheduling point the goroutine prints its own stack, which shows where the long run ended:
//
//     goro: goroutine 7 ran 31ms without a scheduling point; it stopped at:
//     <traceback>
#include "runtime/sched/longrun.h"

#include "runtime/boot/debugvars.h"
#include "runtime/sched/fatal.h"
#include "runtime/trace/traceback.h"

namespace goro::rt {

void longrun_check(std::int64_t now, std::int64_t threshold_ns) {
  // Ms, not Ps: sysmon takes a long runner's P after a time slice, but the goroutine keeps
  // its M, whose switch count stands still until the goroutine reaches a scheduling point.
  std::lock_guard<runtime_lock> guard(sched.lock);
  for (M* mp = sched.allm; mp != nullptr; mp = mp->alllink) {
    if (mp->is_sysmon) continue;
    std::uint32_t n = mp->nswitch.load(std::memory_order_relaxed);
    G* gp = mp->curg.load(std::memory_order_relaxed);
    if (n != mp->sysmon_nswitch || gp == nullptr) {
      mp->sysmon_nswitch = n;
      mp->sysmon_switchwhen = now;
      mp->sysmon_reported = false;
      continue;
    }
    if (mp->sysmon_reported || now - mp->sysmon_switchwhen < threshold_ns) continue;
    if (gp->status.load(std::memory_order_relaxed) != gstatus::running) continue;
    mp->sysmon_reported = true;
    gp->longrun_ns.store(now - mp->sysmon_switchwhen, std::memory_order_relaxed);
    print_line().str("goro: goroutine ").dec(gp->goid).str(" has run ")
        .ns_as_ms(now - mp->sysmon_switchwhen).str("ms without a scheduling point\n").flush();
  }
}

void longrun_note_preempted(P* pp, std::int64_t ran_ns) {
  (void)pp;
  (void)ran_ns;
}

void longrun_report_self(G* gp) {
  std::int64_t ns = gp->longrun_ns.exchange(0, std::memory_order_relaxed);
  if (ns == 0) return;
  print_line().str("goro: goroutine ").dec(gp->goid)
      .str(" ran without a scheduling point; it stopped at:\n").flush();
  print_current_goroutine_stack(gp, 0);
}

}  // namespace goro::rt
