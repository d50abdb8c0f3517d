#include "runtime/os/cpu_count.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstddef>
#include <memory>
#include <new>

#include "runtime/os/raw_syscall.h"

namespace goro::rt::os {
namespace {

// The first mask tried: glibc's cpu_set_t size.
constexpr int kDefaultMaskCpus = 1024;
constexpr std::size_t kBitsPerWord = 8 * sizeof(unsigned long);

// The kernel rejects a mask smaller than its nr_cpu_ids with EINVAL. Doubling from glibc's
// 1024-CPU cpu_set_t reaches the kernel's maximum (CONFIG_NR_CPUS, at most 8192 in current
// kernels) in a few steps. The cap only stops the loop if EINVAL has another cause.
constexpr int kMaxAffinityCpus = 1 << 20;

// Go 1.25 raises a cgroup-derived GOMAXPROCS to at least this. So a program under a quota of
// less than two CPUs still runs two goroutines in parallel when two CPUs are usable, and the
// kernel enforces the quota itself by throttling.
constexpr int kMinCgroupGomaxprocs = 2;

// Counts the CPUs in the calling thread's affinity mask, read with a mask of `words` words.
// Returns the count, 0 if the mask is smaller than the kernel's (EINVAL), or -1 on any other
// error. A direct system call: the libc wrapper and CPU_COUNT would be two lazy PLT bindings
// on every boot (raw_syscall.h).
int count_affinity(unsigned long* mask, std::size_t words) {
  long copied = raw_syscall(SYS_sched_getaffinity, 0, static_cast<long>(words * sizeof *mask),
                            syscall_arg(mask));
  if (copied == -EINVAL) return 0;
  if (copied < 0) return -1;
  // The kernel returns how many bytes of the mask it wrote, a whole number of words.
  int count = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(copied) / sizeof *mask; ++i) {
    count += __builtin_popcountl(mask[i]);
  }
  return count;
}

int count_with_allocated_mask() {
  for (int cpus = 2 * kDefaultMaskCpus; cpus <= kMaxAffinityCpus; cpus *= 2) {
    std::size_t words = static_cast<std::size_t>(cpus) / kBitsPerWord;
    std::unique_ptr<unsigned long[]> mask(new (std::nothrow) unsigned long[words]());
    if (!mask) return 1;
    int count = count_affinity(mask.get(), words);
    if (count > 0) return count;
    if (count < 0) return 1;
  }
  return 1;
}

}  // namespace

int affinity_cpu_count() {
  unsigned long mask[kDefaultMaskCpus / kBitsPerWord] = {};
  int count = count_affinity(mask, sizeof mask / sizeof mask[0]);
  if (count > 0) return count;
  if (count == 0) return count_with_allocated_mask();
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
