#include "runtime/trace/unwind.h"

#include <unwind.h>

#include <algorithm>

// How the capture functions find their caller's frame: each public function reads its own
// return address, and the walk discards frames until it meets a frame with that address, the
// caller's. This works whether or not the compiler inlines the walker or turns the call into
// a tail call, so no count of this file's own frames is built in. The public functions are
// noinline so that their return address is the caller's.

namespace goro::rt {
namespace {

// Upper bound on the frames one walk visits, so that a stack whose unwind information loops
// cannot hang a traceback. Every x86-64 or AArch64 frame that makes a call occupies at least
// 16 bytes, so a 1 GiB stack (Go's maximum on 64-bit systems) has room for at most 2^26.
constexpr std::size_t kMaxWalkDepth = std::size_t{1} << 26;

struct stack_walk {
  std::uintptr_t caller_return = 0;  // return address into the capture function's caller
  bool reached_caller = false;       // frames before the caller's are this file's own
  int skip = 0;                      // caller frames still to discard
  frame_record* last_stored = nullptr;  // waits for its fp, the next frame's sp
  std::uintptr_t* pcs = nullptr;     // when set, pcs receives the pcs and head stays untouched
  bool count_all = false;            // keep walking once head and tail are full, to count depth
  stack_ends* ends = nullptr;
  int tail_next = 0;                 // next slot to overwrite in the tail ring
};

_Unwind_Reason_Code visit_frame(_Unwind_Context* context, void* argument) {
  auto* walk = static_cast<stack_walk*>(argument);
  int before_instruction = 0;
  const auto pc = static_cast<std::uintptr_t>(_Unwind_GetIPInfo(context, &before_instruction));
  // During the walk the context's CFA is the one computed for the inner frame just stepped
  // over, which is this frame's stack pointer at its call (libgcc and LLVM libunwind agree).
  // This frame's own CFA becomes known at the next frame.
  const auto sp = static_cast<std::uintptr_t>(_Unwind_GetCFA(context));
  if (walk->last_stored != nullptr) walk->last_stored->fp = sp;
  walk->last_stored = nullptr;

  if (!walk->reached_caller) {
    if (pc != walk->caller_return) return _URC_NO_REASON;
    walk->reached_caller = true;
  }
  // A zero return address ends the stack on systems that mark the end that way instead of
  // leaving the return address undefined.
  if (pc == 0) return _URC_NORMAL_STOP;
  if (walk->skip > 0) {
    --walk->skip;
    return _URC_NO_REASON;
  }

  stack_ends& ends = *walk->ends;
  const frame_record frame{pc, sp, 0, before_instruction != 0};
  if (ends.head_count < ends.head_capacity) {
    if (walk->pcs != nullptr) {
      walk->pcs[ends.head_count] = pc;
    } else {
      walk->last_stored = &ends.head[ends.head_count];
      *walk->last_stored = frame;
    }
    ++ends.head_count;
  } else if (ends.tail_capacity > 0) {
    walk->last_stored = &ends.tail[walk->tail_next];
    *walk->last_stored = frame;
    walk->tail_next = (walk->tail_next + 1) % ends.tail_capacity;
    ends.tail_count = std::min(ends.tail_count + 1, ends.tail_capacity);
  } else if (!walk->count_all) {
    return _URC_NORMAL_STOP;
  }
  ++ends.depth;
  return ends.depth < kMaxWalkDepth ? _URC_NO_REASON : _URC_NORMAL_STOP;
}

// Walks in progress on this thread: more than one only when a signal handler interrupted a
// walk. Read by stack_capture_active from signal handlers on the same thread.
thread_local volatile int active_walks = 0;

// Counts a walk in active_walks for its duration.
class active_walk_scope {
 public:
  active_walk_scope() { active_walks = active_walks + 1; }
  ~active_walk_scope() { active_walks = active_walks - 1; }
  active_walk_scope(const active_walk_scope&) = delete;
  active_walk_scope& operator=(const active_walk_scope&) = delete;
};

void walk_stack(stack_walk* walk) {
  active_walk_scope scope;
  const int skip = walk->skip;
  _Unwind_Backtrace(visit_frame, walk);
  if (walk->reached_caller) return;

  // The caller's return address never appeared, which happens only when the unwinder reports
  // addresses in another form than __builtin_return_address. Walk again and keep every frame:
  // a traceback with a few extra frames on top beats an empty one.
  walk->reached_caller = true;
  walk->skip = skip;
  walk->last_stored = nullptr;
  walk->ends->head_count = 0;
  walk->ends->tail_count = 0;
  walk->ends->depth = 0;
  walk->tail_next = 0;
  _Unwind_Backtrace(visit_frame, walk);
}

}  // namespace

// The caller's return address, without the pointer-authentication bits that AArch64 may add.
#define GORO_CALLER_RETURN_ADDRESS() \
  reinterpret_cast<std::uintptr_t>(__builtin_extract_return_addr(__builtin_return_address(0)))

[[gnu::noinline]] int capture_stack(std::uintptr_t* pcs, int max, int skip) {
  if (pcs == nullptr || max <= 0) return 0;
  stack_ends ends{nullptr, max, 0, nullptr, 0, 0, 0};
  stack_walk walk{.caller_return = GORO_CALLER_RETURN_ADDRESS(),
                  .skip = std::max(skip, 0),
                  .pcs = pcs,
                  .ends = &ends};
  walk_stack(&walk);
  return ends.head_count;
}

[[gnu::noinline]] int capture_stack_frames(frame_record* out, int max, int skip) {
  if (out == nullptr || max <= 0) return 0;
  stack_ends ends{out, max, 0, nullptr, 0, 0, 0};
  stack_walk walk{.caller_return = GORO_CALLER_RETURN_ADDRESS(),
                  .skip = std::max(skip, 0),
                  .ends = &ends};
  walk_stack(&walk);
  return ends.head_count;
}

[[gnu::noinline]] void capture_stack_ends(stack_ends* ends, int skip) {
  ends->head_count = 0;
  ends->tail_count = 0;
  ends->depth = 0;
  if (ends->head == nullptr) ends->head_capacity = 0;
  if (ends->tail == nullptr) ends->tail_capacity = 0;
  ends->head_capacity = std::max(ends->head_capacity, 0);
  ends->tail_capacity = std::max(ends->tail_capacity, 0);

  stack_walk walk{.caller_return = GORO_CALLER_RETURN_ADDRESS(),
                  .skip = std::max(skip, 0),
                  .count_all = true,
                  .ends = ends};
  walk_stack(&walk);

  // The tail is a ring: once it has wrapped, its oldest (innermost) frame sits at tail_next.
  if (ends->tail_count == ends->tail_capacity && walk.tail_next != 0) {
    std::rotate(ends->tail, ends->tail + walk.tail_next, ends->tail + ends->tail_capacity);
  }
}

#undef GORO_CALLER_RETURN_ADDRESS

bool stack_capture_active() { return active_walks != 0; }

}  // namespace goro::rt
