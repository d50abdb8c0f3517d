// GODEBUG=gorolongrun=N: reports goroutines that run N ms or longer without reaching a
// scheduling point. See longrun.cc.
#pragma once

#include <cstdint>

#include "runtime/sched/runtime2.h"

namespace goro::rt {

// sysmon: look for long runners and report each with its current stack.
void longrun_check(std::int64_t now, std::int64_t threshold_ns);
// sysmon: pp's G lost its P after running `ran_ns`.
void longrun_note_preempted(P* pp, std::int64_t ran_ns);
// The G itself, at its next scheduling point after a report: print its stack.
void longrun_report_self(G* gp);
// Long runners reported so far in this process, counted once the report's first line and
// stack are printed or the goroutine is flagged to print its stack itself.
std::uint64_t longrun_reports();
// End of a run: removes the SIGURG handler that the first report installed, if any.
void restore_longrun_handler();

}  // namespace goro::rt
