#include "runtime/sched/lock.h"

#include <cstdint>

#include "runtime/os/futex.h"
#include "runtime/sched/sched.h"

namespace goro::rt {

namespace {
// Spins before sleeping: the runtime's critical sections are a few hundred instructions, so a
// short spin usually beats a futex round trip.
constexpr int kLockSpins = 64;
}  // namespace

void runtime_lock::lock_slow() {
  for (int i = 0; i < kLockSpins; ++i) {
    cpu_relax();
    std::uint32_t expected = kUnlocked;
    if (state_.load(std::memory_order_relaxed) == kUnlocked &&
        state_.compare_exchange_weak(expected, kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return;
    }
  }
  // Mark the lock contended so the holder's unlock wakes us, then sleep until it is free. The
  // M records the lock it waits for, for a freeze of the world (freeze.cc). A lock taken
  // on a thread that is not an M is recorded nowhere.
  M* mp = getm();
  if (mp != nullptr) mp->lock_wait.store(this, std::memory_order_release);
  while (state_.exchange(kContended, std::memory_order_acquire) != kUnlocked) {
    os::futex_wait(&state_, kContended, -1);
  }
  if (mp != nullptr) mp->lock_wait.store(nullptr, std::memory_order_relaxed);
}

void runtime_lock::unlock_slow() { os::futex_wake(&state_, 1); }

bool note::sleep(std::int64_t timeout_ns) {
  if (timeout_ns < 0) {
    while (key_.load(std::memory_order_acquire) == 0) os::futex_wait(&key_, 0, -1);
    return true;
  }
  // Capped, because a timer due at kMaxWhen (a wait too long to represent) gives a timeout
  // of nearly INT64_MAX.
  const std::int64_t now = os::nanotime();
  const std::int64_t deadline = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
  while (key_.load(std::memory_order_acquire) == 0) {
    std::int64_t left = deadline - os::nanotime();
    if (left <= 0) return false;
    os::futex_wait(&key_, 0, left);
  }
  return true;
}

void note::wakeup() {
  key_.store(1, std::memory_order_release);
  os::futex_wake(&key_, 1);
}

}  // namespace goro::rt
