// select over channels: Go's selectgo.
//
// Model. The template in goro/select.hpp hands the runtime an array of select_ops (channel,
// element pointer, direction); nil channels are never considered.
//   0. A one-case select without default is the plain operation. Go's compiler lowers it the
//      same way, so goroutine dumps show "chan receive", not "select".
//   1. Poll order: a fresh random permutation of the cases on every call (fastrand), so
//      among ready cases each is equally likely. Lock order: the cases sorted by channel
//      address; a channel appearing in several cases is locked once. Every select locks in
//      the same global order, so two selects cannot deadlock on each other's locks.
//   2. Pass 0, one channel locked at a time: the first case in poll order that is ready
//      when its own channel is locked completes there. Selects in a loop over busy channels
//      usually end here, with one lock taken.
//      Pass 1, all channels locked: take the first ready case in poll order and complete it
//      as chan.cc would. A default runs only when none is ready at that moment.
//   3. Pass 2: enqueue one waiter per case on its channel (select_case -> the shared
//      select_state, ticket = case index) and block once, on a separate `sleeper` waiter,
//      with reason `select`; the unlock function releases every channel lock. A waker must
//      win select_state::done before completing a case (waitq::dequeue), so exactly one case
//      completes.
//   4. Pass 3, after waking: lock everything again and unlink the waiters of every other
//      case. Wakers that lost the done flag touched the state under a lock taken here, so
//      once pass 3 holds all locks no one will touch this stack frame again.
// Handlers run in the template, after select_run returns, with no lock held.
#include <algorithm>
#include <memory>

#include "goro/select.hpp"
#include "lib/chan_core.h"
#include "lib/chan_elem.h"
#include "lib/chan_scope.h"
#include "runtime/os/hash.h"
#include "runtime/sched/fatal.h"

namespace goro::detail {

namespace {

// Cases handled without a heap allocation; larger selects allocate their scratch arrays.
constexpr std::size_t kInlineCases = 8;
// Case indices are stored in 16 bits (and in waiter::ticket), as Go's selectgo does.
constexpr std::size_t kMaxCases = 65536;

// The channel locks of one select, in lock order with duplicates skipped.
struct lock_set {
  const select_op* ops;
  const std::uint16_t* order;
  std::size_t n;

  void lock_all() const {
    for (std::size_t i = 0; i < n; ++i) {
      chan_core* c = ops[order[i]].core;
      if (i == 0 || c != ops[order[i - 1]].core) c->lock.lock();
    }
  }
  void unlock_all() const {
    for (std::size_t i = n; i-- > 0;) {
      chan_core* c = ops[order[i]].core;
      if (i == 0 || c != ops[order[i - 1]].core) c->lock.unlock();
    }
  }
};

// The lock of pass 0's one channel, in the shape try_case takes.
struct one_lock {
  chan_core* c;
  void unlock_all() const { c->lock.unlock(); }
};

bool unlock_lock_set(void* arg) {
  static_cast<lock_set*>(arg)->unlock_all();
  return true;
}

// Scratch arrays sized by the case count: inline for small selects.
template <class T>
class scratch {
 public:
  explicit scratch(std::size_t n) : data_(inline_) {
    if (n > kInlineCases) {
      heap_ = std::make_unique<T[]>(n);
      data_ = heap_.get();
    }
  }
  T& operator[](std::size_t i) { return data_[i]; }
  T* data() { return data_; }

 private:
  T inline_[kInlineCases];
  std::unique_ptr<T[]> heap_;
  T* data_;
};

// Without taking a lock: true if op certainly cannot proceed now. Only buffered channels are
// judged (count and closed are atomics); for unbuffered ones the wait queues decide, and
// those need the lock. The result was true at one moment during the call (count is loaded
// first with acquire so the later closed load cannot move before it, and closed never goes
// back to false), which lets a one-case select take its default, and any select skip a case
// in pass 0, but does not cover the moment another case was looked at.
[[gnu::always_inline]] inline bool obviously_blocked(const select_op& op) {
  const chan_core* c = op.core;
  if (c->cap == 0) return false;
  if (op.dir == select_dir::recv) {
    return c->count.load(std::memory_order_acquire) == 0 &&
           !c->closed.load(std::memory_order_relaxed);
  }
  return !c->closed.load(std::memory_order_relaxed) &&
         c->count.load(std::memory_order_relaxed) == c->cap;
}

// Tries one case with its channel locked: alone in pass 0 (one_lock), or with every lock in
// pass 1 (lock_set). Returns true if the case completed; the locks are then released, and
// *partner is the dequeued waiter to wake, if any. Throws for a send on a closed channel.
template <class Locks>
[[gnu::always_inline]] inline bool try_case(select_op& op, const Locks& locks,
                                           rt::waiter** partner) {
  chan_core* c = op.core;
  if (op.dir == select_dir::recv) {
    if (rt::waiter* w = c->sendq.dequeue()) {
      recv_from_waiter(c, w, op.elem);
      op.received = true;
      locks.unlock_all();
      *partner = w;
      return true;
    }
    if (c->count.load(std::memory_order_relaxed) > 0) {
      take_elem(c, op.elem);
      op.received = true;
      locks.unlock_all();
      return true;
    }
    if (c->closed.load(std::memory_order_relaxed)) {
      op.received = false;
      locks.unlock_all();
      return true;
    }
    return false;
  }
  if (c->closed.load(std::memory_order_relaxed)) {
    locks.unlock_all();
    panic_send_closed();
  }
  if (rt::waiter* w = c->recvq.dequeue()) {
    send_to_waiter(c, w, op.elem);
    locks.unlock_all();
    *partner = w;
    return true;
  }
  if (c->count.load(std::memory_order_relaxed) < c->cap) {
    put_elem(c, op.elem);
    locks.unlock_all();
    return true;
  }
  return false;
}

// Passes 1 to 3, after pass 0 found no case ready on its own. Out of line, so that the
// common select, which pass 0 completes, does not pay for this frame's set-up: the waiter
// arrays, the lock order and the unwinding they need.
[[gnu::noinline]] std::size_t select_locked(select_op* ops, std::size_t n, bool has_default,
                                            chan_scope& scope, const std::uint16_t* pollorder,
                                            std::size_t norder) {
  // Lock order: the cases sorted by channel address. Insertion sort, because selects rarely
  // have more than a handful of cases; std::sort takes over for large ones.
  scratch<std::uint16_t> lockorder(norder);
  auto address_less = [ops](std::uint16_t a, std::uint16_t b) {
    return std::less<chan_core*>()(ops[a].core, ops[b].core);
  };
  if (norder <= kInlineCases) {
    for (std::size_t k = 0; k < norder; ++k) {
      std::uint16_t v = pollorder[k];
      std::size_t j = k;
      for (; j > 0 && address_less(v, lockorder[j - 1]); --j) lockorder[j] = lockorder[j - 1];
      lockorder[j] = v;
    }
  } else {
    std::copy(pollorder, pollorder + norder, lockorder.data());
    std::sort(lockorder.data(), lockorder.data() + norder, address_less);
  }
  lock_set locks{ops, lockorder.data(), norder};

  // Pass 1: a ready case, in random order. A goroutine that finds none and is not yet in
  // runtime mode enters it with no lock held and polls again (see chan_scope.h).
  for (;;) {
    locks.lock_all();
    for (std::size_t k = 0; k < norder; ++k) {
      std::size_t i = pollorder[k];
      rt::waiter* partner = nullptr;
      if (!try_case(ops[i], locks, &partner)) continue;
      if (partner != nullptr) {
        scope.enter();
        wake_waiter(partner);
      }
      return i;
    }
    if (has_default) {
      locks.unlock_all();
      return n;
    }
    if (scope.can_park()) break;
    locks.unlock_all();
    scope.enter();
  }

  // Pass 2: wait on every channel at once.
  select_state state;
  rt::waiter sleeper;
  rt::waiter_init(&sleeper);
  state.sleeper = &sleeper;
  scratch<rt::waiter> waiters(norder);
  for (std::size_t k = 0; k < norder; ++k) {
    std::uint16_t i = lockorder[k];
    rt::waiter* w = &waiters[k];
    rt::waiter_init(w);
    w->elem = ops[i].elem;
    w->select_case = &state;
    w->ticket = i;
    chan_core* c = ops[i].core;
    (ops[i].dir == select_dir::recv ? c->recvq : c->sendq).enqueue(w);
  }
  rt::waiter_block(&sleeper, rt::waitreason::select, &unlock_lock_set, &locks);

  // Pass 3: leave every other channel's queue.
  locks.lock_all();
  rt::waiter* fired = state.fired;
  if (fired == nullptr) rt::throw_bug("select_run: woken without a completed case");
  for (std::size_t k = 0; k < norder; ++k) {
    rt::waiter* w = &waiters[k];
    if (w == fired) continue;
    const select_op& op = ops[lockorder[k]];
    (op.dir == select_dir::recv ? op.core->recvq : op.core->sendq).remove(w);
  }
  locks.unlock_all();

  std::size_t i = static_cast<std::size_t>(fired->ticket);
  if (ops[i].dir == select_dir::recv) {
    ops[i].received = fired->success;
  } else if (!fired->success) {
    panic_send_closed();
  }
  return i;
}

// The poll order, the non-blocking checks and pass 0 of a select, with room for n case
// indices at pollorder; then select_locked.
[[gnu::always_inline]] inline std::size_t select_with_order(select_op* ops, std::size_t n,
                                                            bool has_default,
                                                            std::uint16_t* pollorder) {
  chan_scope scope;

  // Poll order: an inside-out Fisher-Yates shuffle of the non-nil cases. Each step draws a
  // number in [0, norder] by multiply-shift (as fastrandn) from 32 random bits, two steps
  // per fastrand call.
  std::size_t norder = 0;
  std::uint64_t random_bits = 0;
  int random_halves = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (ops[i].core == nullptr) continue;
    std::size_t j = 0;
    if (norder != 0) {
      if (random_halves == 0) {
        random_bits = rt::os::fastrand();
        random_halves = 2;
      }
      j = static_cast<std::size_t>((static_cast<std::uint32_t>(random_bits) * (norder + 1)) >> 32);
      random_bits >>= 32;
      --random_halves;
    }
    if (j != norder) pollorder[norder] = pollorder[j];  // slot norder is not written yet
    pollorder[j] = static_cast<std::uint16_t>(i);
    ++norder;
  }
  if (norder == 0) {
    if (has_default) return n;
    // Go parks `select {}` as "select (no cases)" and a select whose cases are all nil
    // channels as a plain "select".
    block_forever(n == 0 ? rt::waitreason::select_no_cases : rt::waitreason::select);
  }
  // One case and a default: a case that is blocked at one moment during the call lets the
  // default run, as Go's selectnbsend and selectnbrecv decide without the lock. With two or
  // more cases the lock-free looks happen at different moments, so they cannot show that
  // every case was blocked at once: only pass 1, with every lock held, may choose the
  // default. (A mover that fills one buffered channel before it drains another keeps some
  // case ready at every moment, yet separate looks can find both blocked.)
  if (has_default && norder == 1 && obviously_blocked(ops[pollorder[0]])) return n;

  // Pass 0: each case alone, in poll order, with only its own channel locked. A case that
  // is ready when its channel is locked may be chosen (the select takes effect at that
  // moment), so a select over busy channels completes with one lock instead of all. Only
  // "nothing is ready" needs every lock at once, in pass 1.
  for (std::size_t k = 0; k < norder; ++k) {
    const std::uint16_t i = pollorder[k];
    if (obviously_blocked(ops[i])) continue;
    const one_lock one{ops[i].core};
    one.c->lock.lock();
    rt::waiter* partner = nullptr;
    if (!try_case(ops[i], one, &partner)) {
      one.unlock_all();
      continue;
    }
    if (partner != nullptr) {
      scope.enter();
      wake_waiter(partner);
    }
    return i;
  }

  return select_locked(ops, n, has_default, scope, pollorder, norder);
}

// A select with more cases than kInlineCases: the poll order on the heap.
[[gnu::noinline]] std::size_t select_large(select_op* ops, std::size_t n, bool has_default) {
  if (n >= kMaxCases) throw panic_error("select: too many cases (at most 65535)");
  auto pollorder = std::make_unique<std::uint16_t[]>(n);
  return select_with_order(ops, n, has_default, pollorder.get());
}

}  // namespace

std::size_t select_run(select_op* ops, std::size_t n, bool has_default) {
  if (n == 1 && !has_default) {
    if (ops[0].dir == select_dir::send) {
      chan_send(ops[0].core, ops[0].elem);
    } else {
      ops[0].received = chan_recv(ops[0].core, ops[0].elem);
    }
    return 0;
  }
  if (n > kInlineCases) return select_large(ops, n, has_default);
  std::uint16_t pollorder[kInlineCases];
  return select_with_order(ops, n, has_default, pollorder);
}

}  // namespace goro::detail
