// GODEBUG=gorolongrun=N: reports goroutines that run N ms or longer without reaching a
// scheduling point. See longrun.cc.
#pragma once

#include <cstdint>

#include "runtime/sched/runtime2.h"

namespace goro::rt {

// sysmon: look for long runners and print their first line.
void longrun_check(std::int64_t now, std::int64_t threshold_ns);
// sysmon: pp's G lost its P after running `ran_ns`.
void longrun_note_preempted(P* pp, std::int64_t ran_ns);
// The G itself, at its next scheduling point after a report: print its stack.
void longrun_report_self(G* gp);

}  // namespace goro::rt
