// Walking the frames of a goroutine inside goro::blocking (Go's traceback from syscallpc
// and syscallbp).
//
// The goroutine runs its blocking call on its own thread, so neither the unwinder (which
// walks only the calling thread) nor a switch into the goroutine (traceback.cc) can reach its
// frames. enter_blocking leaves the frame pointer and return address of its caller in the G,
// and this file follows the chain of frame records from there. On x86-64 and AArch64 a frame
// record is two words, the caller's frame pointer and then the return address, and the
// goroutine trampoline zeroes the frame pointer, so the chain ends at the goroutine's first
// frame.
//
// Bounds: every record must lie inside the goroutine's stack, be word-aligned, and sit above
// the previous one, so a chain that passes through code built without frame pointers ends
// early instead of reading outside the stack. Such a chain may still skip frames or, where
// that code used the frame pointer register for data, show frames that are not there.
#include "runtime/trace/syscall_stack.h"

#include <cstdint>

namespace goro::rt {

namespace {

constexpr std::uintptr_t kRecordBytes = 2 * sizeof(std::uintptr_t);

}  // namespace

// Not instrumented: the records lie between the goroutine's locals, which ASan may have
// poisoned, and are written by another thread before the status store that publishes them.
__attribute__((no_sanitize("address", "thread"))) int capture_syscall_stack(
    const G* gp, frame_record* out, int max) {
  if (gp == nullptr || out == nullptr || max <= 0 || gp->syscall_fp == 0) return 0;
  const std::uintptr_t top = gp->stack.hi;
  int n = 0;
  out[n++] = frame_record{gp->syscall_pc, 0};

  std::uintptr_t fp = gp->syscall_fp;
  std::uintptr_t low = gp->stack.lo;
  while (n < max) {
    if (fp < low || fp % sizeof(std::uintptr_t) != 0 || top < kRecordBytes ||
        fp > top - kRecordBytes) {
      break;
    }
    const auto* record = reinterpret_cast<const std::uintptr_t*>(fp);
    const std::uintptr_t return_address = record[1];
    if (return_address == 0) break;
    out[n++] = frame_record{return_address, 0};
    low = fp + kRecordBytes;
    fp = record[0];
  }
  return n;
}

}  // namespace goro::rt
