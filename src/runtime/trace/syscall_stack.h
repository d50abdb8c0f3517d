// The stack of a goroutine inside goro::blocking, walked from another thread. See
// syscall_stack.cc.
#pragma once

#include "runtime/sched/runtime2.h"
#include "runtime/trace/unwind.h"

namespace goro::rt {

// Stores up to `max` frames of gp's stack in out, innermost first, and returns how many. The
// first frame is the caller of goro::detail::enter_blocking (goro::blocking, or the function
// it was inlined into), at the call. Each frame's pc is a return address, and sp and fp are
// 0. Returns 0 when gp stored no frame pointer (G::syscall_fp).
//
// Call it only while gp's status is syscall and the world is stopped: then gp's frames from
// that caller up cannot change during the walk (sched/syscall.cc, "Dumps").
int capture_syscall_stack(const G* gp, frame_record* out, int max);

}  // namespace goro::rt
