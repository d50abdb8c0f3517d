// Inline element movement for the channel hot paths (chan.cc and select.cc only).
//
// Kept out of chan_core.h on purpose: callers that inline these into code with small fixed
// buffers of known size (timer channels) would see GCC warn about the unused larger copy
// branches (-Warray-bounds); chan_core.h offers the out-of-line buffer_put/buffer_take.
#pragma once

#include <cstring>

#include "lib/chan_core.h"

namespace goro::detail {

// Moves the element at src into uninitialised storage at dst. A trivially copyable type is
// copied with memcpy (valid for such types, and one or two instructions for small ones); other
// types go through their move constructor.
[[gnu::always_inline]] inline void move_elem(const elem_ops* ops, void* dst, void* src) noexcept {
  if (ops->trivially_copyable) {
    // Fixed sizes become plain loads and stores instead of a call to memcpy.
    switch (ops->size) {
      case 1: std::memcpy(dst, src, 1); return;
      case 2: std::memcpy(dst, src, 2); return;
      case 4: std::memcpy(dst, src, 4); return;
      case 8: std::memcpy(dst, src, 8); return;
      case 16: std::memcpy(dst, src, 16); return;
      default: std::memcpy(dst, src, ops->size); return;
    }
  } else {
    ops->move_construct(dst, src);
  }
}

// Ends the lifetime of the element at p (trivially copyable types have trivial destructors).
[[gnu::always_inline]] inline void destroy_elem(const elem_ops* ops, void* p) noexcept {
  if (!ops->trivially_copyable) ops->destroy(p);
}

// Appends elem to the buffer, which must have a free slot.
[[gnu::always_inline]] inline void put_elem(chan_core* c, void* elem) noexcept {
  move_elem(c->ops, c->slot(c->sendx), elem);
  if (++c->sendx == c->cap) c->sendx = 0;
  c->count.store(c->count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Moves the buffer's head into out; the buffer must not be empty.
[[gnu::always_inline]] inline void take_elem(chan_core* c, void* out) noexcept {
  void* head = c->slot(c->recvx);
  move_elem(c->ops, out, head);
  destroy_elem(c->ops, head);
  if (++c->recvx == c->cap) c->recvx = 0;
  c->count.store(c->count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

}  // namespace goro::detail
