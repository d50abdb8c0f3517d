// Goroutine profile; see goroutine_profile.h.
#include "runtime/pprof/goroutine_profile.h"

#include <map>
#include <vector>

#include "runtime/os/futex.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/trace/snapshot.h"

namespace goro::rt::pprof {

std::string encode_goroutine_profile() {
  const std::vector<goroutine_snapshot> goroutines =
      snapshot_goroutines("goro::pprof::write_goroutine_profile");

  // Goroutines running on other threads have no recorded stack. They share one sample
  // without locations, so the total is still the number of goroutines.
  std::map<std::vector<std::uintptr_t>, std::int64_t> counts;
  for (const goroutine_snapshot& goroutine : goroutines) ++counts[goroutine.pcs];

  profile_builder builder({{"goroutine", "count"}}, {"goroutine", "count"}, 1);
  builder.set_time(os::walltime_ns(), 0);
  for (const auto& [pcs, count] : counts) {
    const std::int64_t values[] = {count};
    builder.add_sample(pcs, false, values, {});
  }
  return builder.encode();
}

}  // namespace goro::rt::pprof
