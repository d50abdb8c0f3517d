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
  for (std::int32_t i = 0; i < allp_count(); ++i) {
    P* pp = allp_at(i);
    if (pp->status() != pstatus::user) continue;
    if (pp->sysmon_schedwhen == 0 || now - pp->sysmon_schedwhen < threshold_ns) continue;
    M* mp = pp->m;
    if (mp == nullptr) continue;
    G* gp = mp->curg.load(std::memory_order_relaxed);
    if (gp == nullptr) continue;
    std::int64_t prev = gp->longrun_ns.load(std::memory_order_relaxed);
    if (prev != 0) continue;  // already reported this run
    gp->longrun_ns.store(now - pp->sysmon_schedwhen, std::memory_order_relaxed);
    print_line().str("goro: goroutine ").dec(gp->goid).str(" has run ")
        .ns_as_ms(now - pp->sysmon_schedwhen).str("ms without a scheduling point\n").flush();
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
  print_current_goroutine_stack(gp, 2);
}

}  // namespace goro::rt
