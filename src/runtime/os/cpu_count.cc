#include "runtime/os/cpu_count.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <sched.h>

namespace goro::rt::os {
namespace {

// The kernel rejects a mask smaller than its nr_cpu_ids with EINVAL. Doubling from glibc's
// 1024-CPU cpu_set_t reaches the kernel's maximum (CONFIG_NR_CPUS, at most 8192 in current
// kernels) in a few steps. The cap only stops the loop if EINVAL has another cause.
constexpr int kMaxAffinityCpus = 1 << 20;

// Go 1.25 raises a cgroup-derived GOMAXPROCS to at least this. So a program under a quota of
// less than two CPUs still runs two goroutines in parallel when two CPUs are usable, and the
// kernel enforces the quota itself by throttling.
constexpr int kMinCgroupGomaxprocs = 2;

int count_with_allocated_mask() {
  for (int cpus = 2 * CPU_SETSIZE; cpus <= kMaxAffinityCpus; cpus *= 2) {
    cpu_set_t* mask = CPU_ALLOC(cpus);
    if (mask == nullptr) return 1;
    std::size_t bytes = CPU_ALLOC_SIZE(cpus);
    CPU_ZERO_S(bytes, mask);
    int count = 0;
    int error = 0;
    if (sched_getaffinity(0, bytes, mask) == 0) {
      count = CPU_COUNT_S(bytes, mask);
    } else {
      error = errno;
    }
    CPU_FREE(mask);
    if (count > 0) return count;
    if (error != EINVAL) return 1;
  }
  return 1;
}

}  // namespace

int affinity_cpu_count() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
    int count = CPU_COUNT(&mask);
    return count > 0 ? count : 1;
  }
  if (errno == EINVAL) return count_with_allocated_mask();
  return 1;
}

int default_gomaxprocs(int affinity, cgroup_cpu_limit limit) {
  if (affinity < 1) affinity = 1;
  if (!limit.limited) return affinity;

  // Quotas are fractional CPUs; round up so a 1.5-CPU quota can use its second CPU.
  double rounded = std::ceil(limit.cpus);
  int from_quota = rounded >= static_cast<double>(INT_MAX) ? INT_MAX : static_cast<int>(rounded);
  if (from_quota < kMinCgroupGomaxprocs) from_quota = kMinCgroupGomaxprocs;
  return from_quota < affinity ? from_quota : affinity;
}

}  // namespace goro::rt::os
