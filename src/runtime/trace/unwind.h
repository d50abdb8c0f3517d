// Stack capture for tracebacks: the program counters (and stack pointers) of the current thread.
//
// Model: the C++ runtime's unwinder (`_Unwind_Backtrace` from libgcc, already linked by every
// C++ program) walks the calling thread's stack using the DWARF call frame information (CFI) in
// `.eh_frame`. goro does not walk frame pointers itself: CFI is present in every object built
// with GCC or Clang on Linux, works with -fomit-frame-pointer, and steps through signal frames.
//
// Each captured frame is a `frame_record`:
//   * `pc` is the return address into that frame, as Go's `frame.pc`. The call instruction is
//     the byte before it, so symbolisation looks up `pc - 1` (see `lookup_pc`). A frame
//     interrupted by a signal is the exception: its `pc` is the interrupted instruction itself
//     and `signal_frame` is set.
//   * `sp` is the frame's stack pointer at the call it is suspended in. Go prints it as `sp=`.
//   * `fp` is the frame's canonical frame address (CFA), the caller's stack pointer just before
//     the call, so it equals the next outer frame's `sp`. That is what Go prints as `fp=`. The
//     outermost frame's `fp` is 0 because no frame beyond it reports it.
//
// Invariants:
//   * Capture does not allocate or throw and takes no lock of its own, so it may run in a
//     std::terminate handler while an exception is in flight, and in a signal handler on an
//     alternate signal stack. GCC 12's libgcc finds unwind tables with `_dl_find_object`
//     (glibc 2.35 and later), which takes no lock either.
//   * The walk stops at a frame whose return address is undefined in its CFI: goroutine entry
//     trampolines mark their outermost frame with `.cfi_undefined rip` (x30 on AArch64), and
//     glibc marks `_start` and `clone` the same way.
//   * `skip` counts frames above the caller: with skip == 0 the first frame recorded is the
//     function that called the capture function, which never records its own frames.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goro::rt {

// One frame of a captured stack. Code that builds records from another source (a parked
// goroutine's saved registers) may leave `fp` zero when it is unknown.
struct frame_record {
  // Every member has an initialiser, so a global array of records is zero-filled at compile
  // time instead of by a static constructor at start-up.
  std::uintptr_t pc = 0;      // return address, or the interrupted instruction of a signal frame
  std::uintptr_t sp = 0;      // stack pointer inside this frame; 0 if unknown
  std::uintptr_t fp = 0;      // CFA: the caller's stack pointer before the call; 0 if unknown
  bool signal_frame = false;  // true when a signal interrupted this frame at `pc`
};

// Returns the address whose source line is the frame's current line: the call instruction for
// an ordinary frame, the interrupted instruction for a signal frame.
inline std::uintptr_t lookup_pc(const frame_record& frame) {
  return frame.signal_frame ? frame.pc : frame.pc - 1;
}

// Captures the return addresses of the current thread's stack into pcs[0..max), innermost
// first, and returns how many it stored. A frame interrupted by a signal stores its interrupted
// instruction, which the caller cannot distinguish from a return address. Use
// `capture_stack_frames` when a signal handler may be on the stack.
int capture_stack(std::uintptr_t* pcs, int max, int skip);

// Captures up to `max` frames of the current thread's stack, innermost first, with stack
// pointers and signal-frame marks, and returns how many it stored.
int capture_stack_frames(frame_record* out, int max, int skip);

// The innermost and outermost frames of a stack that may be deeper than any buffer, as Go's
// traceback needs for its "innermost 50, elided, outermost 50" rule.
struct stack_ends {
  frame_record* head;     // innermost frames, in order
  int head_capacity;
  int head_count;         // frames stored in head
  frame_record* tail;     // outermost frames, in order, after any frames dropped in between
  int tail_capacity;
  int tail_count;         // frames stored in tail
  std::size_t depth;      // all frames after `skip`, including those stored in neither array
};

// Returns true while the calling thread is inside one of the capture functions above (a
// signal handler that interrupted one must not start another walk).
bool stack_capture_active();

// Captures the current thread's stack into `ends`: the first head_capacity frames into head,
// the last tail_capacity of the rest into tail, and the total into depth. The caller sets
// head, head_capacity, tail and tail_capacity; the function sets the other fields.
void capture_stack_ends(stack_ends* ends, int skip);

}  // namespace goro::rt
