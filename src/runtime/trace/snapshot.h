// Snapshots of every goroutine: the data of a goroutine dump, for code that builds its own
// report (the goroutine profile). See snapshot.cc.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/sched/runtime2.h"
#include "runtime/sched/waitreason.h"

namespace goro::rt {

// One goroutine at the moment of the snapshot.
struct goroutine_snapshot {
  std::int64_t goid = 0;
  gstatus status = gstatus::idle;
  waitreason wait_reason = waitreason::zero;  // meaningful when status is waiting
  // How long the goroutine has waited, in nanoseconds: since the first dump or snapshot
  // that saw it waiting (see G::waitsince), so 0 the first time. 0 unless waiting or syscall.
  std::int64_t wait_ns = 0;
  // Return addresses of its stack, innermost first (look up pc - 1 for the call's line).
  // Runtime frames are included. Empty for a goroutine running on another thread and for
  // one that has not started yet. For one inside goro::blocking, the stack from the call of
  // goro::blocking outwards, without the frames of the blocking call.
  std::vector<std::uintptr_t> pcs;
  // Return address into the code that called goro::go; 0 for the main goroutine.
  std::uintptr_t creator_pc = 0;
  std::int64_t parent_goid = 0;  // the creating goroutine's id; 0 for the main goroutine
};

// Stops the world and records every user goroutine (runtime goroutines are left out, as in
// Go's goroutine profile), the caller first, whose stack starts at the frame that called
// snapshot_goroutines. Goroutines running without a P (long runners) get kDumpSettleNs
// (dump_world.h) to reach a scheduling point. One that reaches none is recorded as running
// with no stack. Must be called from a goroutine; otherwise throws goro::panic_error, whose
// message names `caller`, the public function the user called.
std::vector<goroutine_snapshot> snapshot_goroutines(
    const char* caller = "goro::rt::snapshot_goroutines");

// Deepest stack a snapshot records, in frames; deeper stacks keep their innermost frames.
// 128 is the default depth of Go's profiles since Go 1.23 (GODEBUG=profstackdepth).
inline constexpr int kSnapshotMaxFrames = 128;

}  // namespace goro::rt
