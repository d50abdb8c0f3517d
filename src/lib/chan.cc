// Channel operations: make, send, receive, close, len, cap, and the timer-channel hooks.
// The model and the lock's invariants are in chan_core.h; this file follows Go's chan.go.
//
// Waking and parking run in runtime mode, entered lazily (chan_scope.h): a woken partner goes
// into the P's runnext slot, so it runs next when the caller blocks and a ping-pong is two
// direct switches, while an operation served by the buffer alone costs one lock round trip.
#include <new>

#include "lib/chan_core.h"
#include "lib/chan_elem.h"
#include "lib/chan_scope.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"

namespace goro::detail {

namespace {

// Go's maxAlloc on 64-bit Linux: no allocation may exceed 2^48 bytes, so a larger buffer is
// "makechan: size out of range" rather than an allocation failure.
constexpr std::size_t kMaxChanBytes = std::size_t{1} << 48;

std::size_t round_up(std::size_t n, std::size_t align) { return (n + align - 1) / align * align; }

std::size_t block_align(const elem_ops* ops) {
  return ops->align > alignof(chan_core) ? ops->align : alignof(chan_core);
}

void free_core(chan_core* c) noexcept {
  const elem_ops* ops = c->ops;
  std::size_t n = c->count.load(std::memory_order_relaxed);
  for (std::size_t i = 0, x = c->recvx; i < n; ++i) {
    destroy_elem(ops, c->slot(x));
    if (++x == c->cap) x = 0;
  }
  std::size_t align = block_align(ops);
  c->~chan_core();
  ::operator delete(static_cast<void*>(c), std::align_val_t(align));
}

}  // namespace

// --- Wait queues ----------------------------------------------------------------------------

void waitq::enqueue(rt::waiter* w) noexcept {
  w->next = nullptr;
  w->prev = last;
  if (last != nullptr) {
    last->next = w;
  } else {
    first = w;
  }
  last = w;
}

rt::waiter* waitq::dequeue() noexcept {
  for (;;) {
    rt::waiter* w = first;
    if (w == nullptr) return nullptr;
    first = w->next;
    if (first != nullptr) {
      first->prev = nullptr;
    } else {
      last = nullptr;
    }
    w->next = w->prev = nullptr;
    if (w->select_case != nullptr) {
      auto* sel = static_cast<select_state*>(w->select_case);
      std::uint32_t expected = 0;
      // Another case of this select already completed: drop this waiter and look further.
      if (!sel->done.compare_exchange_strong(expected, 1, std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
        continue;
      }
      sel->fired = w;
    }
    return w;
  }
}

void waitq::remove(rt::waiter* w) noexcept {
  if (w->prev == nullptr && first != w) return;  // already dequeued by a waker
  if (w->prev != nullptr) {
    w->prev->next = w->next;
  } else {
    first = w->next;
  }
  if (w->next != nullptr) {
    w->next->prev = w->prev;
  } else {
    last = w->prev;
  }
  w->next = w->prev = nullptr;
}

// --- Element movement (lock held) -----------------------------------------------------------

void send_to_waiter(chan_core* c, rt::waiter* w, void* elem) noexcept {
  move_elem(c->ops, w->elem, elem);
  w->success = true;
}

void recv_from_waiter(chan_core* c, rt::waiter* w, void* out) noexcept {
  if (c->cap == 0) {
    move_elem(c->ops, out, w->elem);
  } else {
    // The buffer is full: take its head, and put the sender's value in the freed slot, which
    // becomes the tail.
    void* head = c->slot(c->recvx);
    move_elem(c->ops, out, head);
    destroy_elem(c->ops, head);
    move_elem(c->ops, head, w->elem);
    if (++c->recvx == c->cap) c->recvx = 0;
    c->sendx = c->recvx;
  }
  w->success = true;
}

void buffer_put(chan_core* c, void* elem) noexcept { put_elem(c, elem); }

void buffer_take(chan_core* c, void* out) noexcept { take_elem(c, out); }

void wake_waiter(rt::waiter* w) noexcept {
  if (w->select_case != nullptr) {
    rt::waiter_wake(static_cast<select_state*>(w->select_case)->sleeper);
  } else {
    rt::waiter_wake(w);
  }
}

bool unlock_chan_lock(void* arg) {
  static_cast<rt::runtime_lock*>(arg)->unlock();
  return true;
}

[[noreturn]] void panic_send_closed() { throw panic_error("send on closed channel"); }

[[noreturn]] void block_forever(rt::waitreason reason) {
  rt::waiter w;
  rt::waiter_init(&w);
  // Nothing can reach w: a goroutine stays parked (deadlock detection sees it), a plain
  // thread sleeps on a futex word no one will set.
  for (;;) rt::waiter_block(&w, reason, nullptr, nullptr);
}

// --- Handles --------------------------------------------------------------------------------

chan_core* chan_make(const elem_ops* ops, std::size_t capacity) {
  std::size_t header = round_up(sizeof(chan_core), ops->align);
  if (ops->size != 0 && capacity > (kMaxChanBytes - header) / ops->size) {
    throw panic_error("makechan: size out of range");
  }
  std::size_t align = block_align(ops);
  void* block = ::operator new(header + capacity * ops->size, std::align_val_t(align));
  auto* c = ::new (block) chan_core;
  c->ops = ops;
  c->cap = capacity;
  c->buf = static_cast<unsigned char*>(block) + header;
  return c;
}

void chan_retain(chan_core* c) noexcept { c->refs.fetch_add(1, std::memory_order_relaxed); }

void chan_release(chan_core* c) noexcept {
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (c->on_last_handle_released != nullptr) {
    c->on_last_handle_released(c->on_last_handle_released_arg);
  }
  free_core(c);
}

// --- Operations -----------------------------------------------------------------------------

void chan_send(chan_core* c, void* elem) {
  chan_scope scope;
  if (c == nullptr) {
    scope.enter();
    block_forever(rt::waitreason::chan_send_nil_chan);
  }
  if (c->cap == 0) scope.enter();

  for (;;) {
    c->lock.lock();
    if (c->closed.load(std::memory_order_relaxed)) {
      c->lock.unlock();
      panic_send_closed();
    }
    if (rt::waiter* w = c->recvq.dequeue()) {
      send_to_waiter(c, w, elem);
      c->lock.unlock();
      scope.enter();
      wake_waiter(w);
      return;
    }
    if (c->count.load(std::memory_order_relaxed) < c->cap) {
      put_elem(c, elem);
      c->lock.unlock();
      return;
    }
    if (scope.can_park()) break;
    c->lock.unlock();
    scope.enter();
  }

  rt::waiter w;
  rt::waiter_init_for(&w, scope.g());
  w.elem = elem;
  c->sendq.enqueue(&w);
  rt::waiter_block(&w, rt::waitreason::chan_send, &unlock_chan_lock, &c->lock);
  // Woken by a receiver (success) or by close (the value was not delivered).
  if (!w.success) panic_send_closed();
}

bool chan_recv(chan_core* c, void* out) {
  chan_scope scope;
  if (c == nullptr) {
    scope.enter();
    block_forever(rt::waitreason::chan_receive_nil_chan);
  }
  if (c->cap == 0) scope.enter();

  for (;;) {
    c->lock.lock();
    if (c->closed.load(std::memory_order_relaxed)) {
      if (c->count.load(std::memory_order_relaxed) == 0) {
        c->lock.unlock();
        return false;
      }
    } else if (rt::waiter* w = c->sendq.dequeue()) {
      recv_from_waiter(c, w, out);
      c->lock.unlock();
      scope.enter();
      wake_waiter(w);
      return true;
    }
    if (c->count.load(std::memory_order_relaxed) > 0) {
      take_elem(c, out);
      c->lock.unlock();
      return true;
    }
    if (scope.can_park()) break;
    c->lock.unlock();
    scope.enter();
  }

  rt::waiter w;
  rt::waiter_init_for(&w, scope.g());
  w.elem = out;
  c->recvq.enqueue(&w);
  rt::waiter_block(&w, rt::waitreason::chan_receive, &unlock_chan_lock, &c->lock);
  return w.success;
}

void chan_close(chan_core* c) {
  if (c == nullptr) throw panic_error("close of nil channel");
  chan_scope scope;
  c->lock.lock();
  if (c->closed.load(std::memory_order_relaxed)) {
    c->lock.unlock();
    throw panic_error("close of closed channel");
  }
  c->closed.store(true, std::memory_order_relaxed);

  // Collect every waiter (linked through next, now free), then wake them without the lock.
  rt::waiter* woken = nullptr;
  for (waitq* q : {&c->recvq, &c->sendq}) {
    while (rt::waiter* w = q->dequeue()) {
      w->success = false;
      w->next = woken;
      woken = w;
    }
  }
  c->lock.unlock();
  if (woken != nullptr) scope.enter();
  while (woken != nullptr) {
    rt::waiter* next = woken->next;  // read before the wake: the waiter may vanish after it
    wake_waiter(woken);
    woken = next;
  }
}

std::size_t chan_len(const chan_core* c) noexcept {
  if (c == nullptr || c->timer_sync) return 0;
  return c->count.load(std::memory_order_relaxed);
}

std::size_t chan_cap(const chan_core* c) noexcept {
  if (c == nullptr || c->timer_sync) return 0;
  return c->cap;
}

// --- Timer channels -------------------------------------------------------------------------

void chan_set_timer_sync(chan_core* c) noexcept { c->timer_sync = true; }

void chan_set_on_last_handle_released(chan_core* c, void (*fn)(void* arg), void* arg) noexcept {
  c->on_last_handle_released = fn;
  c->on_last_handle_released_arg = arg;
}

void drain(chan_core* c) noexcept {
  std::lock_guard<rt::runtime_lock> guard(c->lock);
  while (c->count.load(std::memory_order_relaxed) > 0) {
    destroy_elem(c->ops, c->slot(c->recvx));
    if (++c->recvx == c->cap) c->recvx = 0;
    c->count.store(c->count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
}

bool try_send_from_runtime(chan_core* c, const void* elem) noexcept {
  if (!c->ops->trivially_copyable)
    rt::throw_bug("try_send_from_runtime: element not trivially copyable");
  // Moving a trivially copyable object copies it and leaves the source unchanged.
  void* src = const_cast<void*>(elem);
  c->lock.lock();
  if (c->closed.load(std::memory_order_relaxed)) {
    c->lock.unlock();
    return false;
  }
  if (rt::waiter* w = c->recvq.dequeue()) {
    send_to_waiter(c, w, src);
    c->lock.unlock();
    wake_waiter(w);
    return true;
  }
  bool stored = c->count.load(std::memory_order_relaxed) < c->cap;
  if (stored) buffer_put(c, src);
  c->lock.unlock();
  return stored;
}

}  // namespace goro::detail
