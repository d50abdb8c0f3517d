// goro::wait_group: Go's sync.WaitGroup. state_ packs the counter (high half) and the number
// of waiters (low half) into one 64-bit word so that add and wait see both consistently.
// When the counter reaches zero with waiters, add resets the word to zero and releases the
// semaphore once per waiter; a new add or wait before they have all returned is misuse.
#include "goro/sync.hpp"
#include "lib/sema.h"

namespace goro {

namespace {
constexpr int kCounterShift = 32;
}  // namespace

void wait_group::add(int delta) {
  // acq_rel: the done() calls' writes happen before the waiters are released.
  std::uint64_t state =
      state_.fetch_add(static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << kCounterShift,
                       std::memory_order_acq_rel) +
      (static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << kCounterShift);
  auto counter = static_cast<std::int32_t>(state >> kCounterShift);
  auto waiters = static_cast<std::uint32_t>(state);
  if (counter < 0) throw panic_error("sync: negative WaitGroup counter");
  if (waiters != 0 && delta > 0 && counter == delta) {
    // The first add raced with a wait that had already found the counter at zero.
    throw panic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  }
  if (counter > 0 || waiters == 0) return;
  // Counter zero with waiters: no add or wait may touch the state until they are released.
  if (state_.load(std::memory_order_relaxed) != state) {
    throw panic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  }
  state_.store(0, std::memory_order_relaxed);
  for (; waiters != 0; --waiters) rt::semrelease(&sema_, false);
}

void wait_group::wait() {
  std::uint64_t state = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((state >> kCounterShift) == 0) return;
    // Count this caller as a waiter.
    if (state_.compare_exchange_weak(state, state + 1, std::memory_order_acquire,
                                     std::memory_order_acquire)) {
      rt::semacquire(&sema_, rt::waitreason::sync_waitgroup_wait, false);
      if (state_.load(std::memory_order_relaxed) != 0) {
        throw panic_error("sync: WaitGroup is reused before previous Wait has returned");
      }
      return;
    }
  }
}

}  // namespace goro
