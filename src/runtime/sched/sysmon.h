// sysmon: the system monitor thread. See sysmon.cc.
#pragma once

#include "runtime/sched/runtime2.h"

namespace goro::rt {

void sysmon_loop(M* mp);
// Wakes sysmon from its deep sleep (when a P becomes busy or a G enters a blocking call).
void sysmon_wake_if_waiting();
// How long a G may run without a scheduling point before sysmon takes its P (Go's
// forcePreemptNS).
inline constexpr std::int64_t kForcePreemptNs = 10'000'000;

}  // namespace goro::rt
