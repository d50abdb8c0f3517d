// How many CPUs this process may use, and Go's default GOMAXPROCS derived from it.
//
// Model (Go 1.25, os_linux.go getCPUCount and proc.go defaultGOMAXPROCS):
//   * The CPU count is the number of CPUs in the calling thread's sched_getaffinity mask, not
//     the number online: `taskset -c 0-3` or a cpuset cgroup narrows it.
//   * The default GOMAXPROCS is that count, lowered to the cgroup CPU quota (cgroup_cpu.h)
//     rounded up and raised to at least 2. So it never exceeds the CPU count, and a quota
//     below two CPUs still leaves two Ps when two CPUs are usable.
#pragma once

#include "runtime/os/cgroup_cpu.h"

namespace goro::rt::os {

// Returns the number of CPUs in the calling thread's affinity mask (at least 1). Machines with
// more than 1024 CPUs are handled by retrying with larger masks; only that case allocates
// (CPU_ALLOC). Returns 1 if sched_getaffinity fails, as Go does.
int affinity_cpu_count();

// Returns Go 1.25's default GOMAXPROCS for `affinity` usable CPUs under `limit`:
// min(affinity, max(2, ceil(limit.cpus))) when limited, else `affinity`.
int default_gomaxprocs(int affinity, cgroup_cpu_limit limit);

}  // namespace goro::rt::os
