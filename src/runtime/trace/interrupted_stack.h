// Capturing, inside a signal handler, the stack of the code the signal interrupted.
//
// The frames are only captured (return addresses, as unwind.h records them), never
// symbolised in the handler: symbolisation allocates, and the interrupted code may hold the
// allocator's lock. The thread that later prints them symbolises them.
#pragma once

#include "runtime/sched/runtime2.h"
#include "runtime/trace/unwind.h"

namespace goro::rt {

// Stores up to `max` frames of the interrupted stack into out, starting with the interrupted
// frame (its `signal_frame` is set), and returns how many. Call it only from a signal handler
// on the interrupted thread. Returns 0, capturing nothing, when unwinding there is unsafe:
//   * an exception is unwinding on the thread (the C++ runtime's uncaught count is not 0),
//     because the unwinder must not run inside itself;
//   * the thread is inside goro's own stack capture, for the same reason;
//   * ThreadSanitizer builds, which reject the unwinder's allocations in a signal handler.
int capture_interrupted_stack(frame_record* out, int max);

// Returns true when a signal handler running on mp's thread interrupted code that cannot be
// in the middle of a goroutine switch, where the stack pointer moves from one stack to
// another and the frames below it are not yet consistent. That is a goroutine in its own
// code (not in runtime mode, possibly inside goro::blocking) whose stack contains the
// interrupted stack pointer, or an M asleep in the scheduler. `context` is the handler's
// ucontext_t argument. Call it from the handler.
bool interrupted_outside_switch(const M* mp, const void* context);

}  // namespace goro::rt
