// A stopped world for goroutine dumps and snapshots. See dump_world.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "runtime/sched/sched.h"
#include "runtime/trace/traceback.h"

namespace goro::rt {

// How long a dump waits, once every P is stopped, for goroutines that run without a P
// (long runners whose P sysmon took) to reach a scheduling point. A goroutine still running
// after that shows as running, with no stack. 10 ms is Go's time slice (forcePreemptNS): a
// goroutine that has not reached a scheduling point within it is treated as a long runner
// by sysmon too.
inline constexpr std::int64_t kDumpSettleNs = 10'000'000;

// Stops the world from a goroutine for a dump, and restarts it when destroyed. While the
// object lives the calling goroutine is in runtime mode, no other goroutine runs goroutine
// code except those shown as running, and options() lists which stacks may be switched into.
// Every waiting goroutine without a waitsince stamp gets `now` (Go's GC scan does the same).
class dump_world_stop {
 public:
  dump_world_stop();
  ~dump_world_stop();
  dump_world_stop(const dump_world_stop&) = delete;
  dump_world_stop& operator=(const dump_world_stop&) = delete;

  // Options for dump_other_goroutines: parked stacks on, the queued list, the stamp time.
  dump_options options(int level, int fd) const;
  std::int64_t now() const { return now_; }

 private:
  std::optional<runtime_mode> mode_;
  std::vector<G*> queued_;
  std::int64_t now_ = 0;
};

// The same for a dumper that is not a goroutine and holds no P (sysmon, or an idle M's g0)
// and exits the process after the dump, so the world is never restarted. Returns false if the
// world did not stop within timeout_ns (a stop-the-world caller or an M stuck in the runtime);
// parked stacks must then not be switched into, and *options has them off.
bool stop_world_for_exit_dump(M* mp, std::int64_t timeout_ns, int level, int fd,
                              dump_options* options);

// The same for a fatal error or panic raised inside runtime code, which may hold any runtime
// lock, sched.lock included: freezes the world without a lock (freeze_the_world, sched.h)
// instead of stopping it, and exits the process after the dump. Goroutines running without a
// P are not waited for. Returns false, with parked stacks off in *options, if some M was
// still inside the runtime with a P after timeout_ns.
bool freeze_world_for_exit_dump(M* mp, std::int64_t timeout_ns, int level, int fd,
                                dump_options* options);

}  // namespace goro::rt
