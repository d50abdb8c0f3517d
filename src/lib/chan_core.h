// The channel object behind goro::chan<T> (Go's hchan), shared by chan.cc and select.cc, and
// the hooks goro's timers build their channels with.
//
// Model. A chan_core is one heap block: this header followed by a ring buffer of `cap`
// elements. Elements are moved in and out through the type-erased elem_ops (move-construct
// and destroy), so the core is not a template. Every field below `lock` is guarded by it;
// the algorithm is Go's chan.go:
//   * send: a parked receiver gets the value directly in its waiter's elem; otherwise the
//     value goes to the buffer if a slot is free; otherwise the sender parks in sendq.
//   * recv: a parked sender means the buffer is full (or cap is 0): take the buffer head (or
//     the sender's value when unbuffered) and move the sender's value to the tail; otherwise
//     take the buffer head; otherwise, if closed, report "closed"; otherwise park in recvq.
//   * close: mark closed and wake every parked receiver (nothing received) and sender
//     (they throw "send on closed channel").
//
// Waiters in recvq/sendq are rt::waiter records on the waiting caller's stack. A waiter
// whose select_case is non-null belongs to a select (select.cc): it points to that select's
// select_state and its `ticket` is the case index. Whoever dequeues it must first win the
// select's `done` flag (Go's selectDone), so exactly one case of a select completes. A waker that
// loses the flag just unlinks the waiter and moves on; the selecting caller removes its remaining
// waiters itself after it wakes, under the channel locks (so a loser never touches a finished
// select).
//
// Invariants (lock held):
//   * recvq non-empty implies count == 0; sendq non-empty implies count == cap.
//   * closed implies sendq is empty.
//   * Exactly the `count` slots from recvx onwards (mod cap) hold constructed elements.
//
// Lifetime: `refs` counts user handles (goro::chan copies) only. Blocked callers need no
// reference of their own: each blocks through a handle that outlives its call. When the last
// handle goes away the on_last_handle_released hook (if any) runs, then the core is freed
// together with any buffered elements.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "goro/chan.hpp"
#include "runtime/sched/lock.h"
#include "runtime/sched/waiter.h"

namespace goro::detail {

// A FIFO of waiters linked through waiter::next/prev. Guarded by the owning channel's lock.
struct waitq {
  rt::waiter* first = nullptr;
  rt::waiter* last = nullptr;

  void enqueue(rt::waiter* w) noexcept;
  // Removes and returns the first waiter that can complete: plain waiters always, select
  // waiters only if this call wins their select. Returns nullptr if none.
  rt::waiter* dequeue() noexcept;
  // Removes w if it is still linked here (select cleanup); no-op otherwise.
  void remove(rt::waiter* w) noexcept;
};

// Shared by every waiter of one blocked select.
struct select_state {
  // 0 while the select waits; the first waker to CAS it to 1 completes a case. acq_rel: the
  // winner's CAS orders after the select's enqueueing (which happened under the same channel
  // lock anyway) and losers see that they lost.
  std::atomic<std::uint32_t> done{0};
  // The waiter whose case completed; written once by the CAS winner before it wakes `sleeper`,
  // read by the select after it wakes (the wake orders the two).
  rt::waiter* fired = nullptr;
  // The waiter the select blocks on. For a plain thread the futex word lives in it, so wakers
  // wake this one rather than the queued waiter they dequeued.
  rt::waiter* sleeper = nullptr;
};

struct chan_core {
  // Number of handles referring to this core. Retain is relaxed because the caller already
  // owns a handle. Release is acq_rel, so the last releaser sees every other handle's last use.
  std::atomic<std::uint32_t> refs{1};
  const elem_ops* ops = nullptr;
  std::size_t cap = 0;
  unsigned char* buf = nullptr;  // cap * ops->size bytes right after this header

  // Timer channels (see below): size() and capacity() report 0. Set once before the core
  // is shared; read-only afterwards.
  bool timer_sync = false;
  // Called once, when the last user handle goes away, before the core is freed. Set before
  // the core is shared.
  void (*on_last_handle_released)(void* arg) = nullptr;
  void* on_last_handle_released_arg = nullptr;

  rt::runtime_lock lock;
  // Guarded by lock. Stored under it with relaxed order and read without it by size() and by
  // the non-blocking fast paths, which, as in Go, only need a value that was true at some
  // moment during the call.
  std::atomic<std::size_t> count{0};
  std::atomic<bool> closed{false};
  std::size_t sendx = 0;  // next slot to fill (lock)
  std::size_t recvx = 0;  // next slot to take (lock)
  waitq recvq;            // parked receivers (lock)
  waitq sendq;            // parked senders (lock)

  void* slot(std::size_t i) const noexcept { return buf + i * ops->size; }
};

// --- Shared by chan.cc and select.cc (lock held unless noted) --------------------------------

// Hands elem to the dequeued receiver w and marks it successful. Does not wake it.
void send_to_waiter(chan_core* c, rt::waiter* w, void* elem) noexcept;
// Takes the value of the dequeued sender w (rotating it through the buffer when buffered)
// into out, and marks w successful. Does not wake it.
void recv_from_waiter(chan_core* c, rt::waiter* w, void* out) noexcept;

// Appends elem to the buffer, which must have a free slot.
void buffer_put(chan_core* c, void* elem) noexcept;
// Moves the buffer's head into out; the buffer must not be empty.
void buffer_take(chan_core* c, void* out) noexcept;
// Wakes a dequeued waiter (its select's sleeper for a select waiter). Lock may be released.
void wake_waiter(rt::waiter* w) noexcept;

// unlockf for waiter_block: releases the runtime_lock at arg.
bool unlock_chan_lock(void* arg);

[[noreturn]] void panic_send_closed();
// Parks the caller for good (nil channel, empty select): a goroutine is then reported by
// deadlock detection if nothing else runs; a plain thread sleeps forever.
[[noreturn]] void block_forever(rt::waitreason reason);

// --- Timer channels -------------------------------------------------------------------------
// goro::timer/ticker/after (Go 1.23 semantics) build on these. Create the channel with
// chan_make(ops, 1), configure it with the setters before handing out any handle copy, and
// keep a raw chan_core* in the timer (it holds no reference).

// Makes size() and capacity() report 0, as Go 1.23 timer channels do. Call before sharing.
void chan_set_timer_sync(chan_core* c) noexcept;

// Sets the hook run once when the last user handle is released. When fn(arg) returns, no
// timer callback may touch the core any more (stop the timer and wait out a running
// callback inside fn); the core is freed right after. Call before sharing.
void chan_set_on_last_handle_released(chan_core* c, void (*fn)(void* arg), void* arg) noexcept;

// Destroys any buffered value under the channel lock (Stop/Reset: no stale tick survives).
void drain(chan_core* c) noexcept;

// Non-blocking send for timer callbacks (g0, runtime mode, no lock held): hands a copy of
// *elem to a parked receiver or stores it in a free buffer slot; returns false, doing
// nothing, if the buffer is full or the channel is closed. Never blocks. The element type
// must be trivially copyable (timer channels carry time points); elem is copied, not moved.
bool try_send_from_runtime(chan_core* c, const void* elem) noexcept;

}  // namespace goro::detail
