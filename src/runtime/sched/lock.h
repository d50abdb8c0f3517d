// Runtime locks and notes: the two blocking primitives the scheduler itself uses.
//
// `runtime_lock` blocks the OS thread (the M), never the goroutine. It guards short critical
// sections inside the runtime (the global run queue, the idle lists, all-G and all-M lists),
// and no code may switch goroutines or call user code while holding one. goro::mutex, which
// parks the goroutine instead, is built on top of the scheduler and is for user code; user
// code must not use runtime_lock.
//
// `note` is Go's one-shot sleep/wakeup: one M sleeps on it until another M wakes it. It is how
// idle Ms, sysmon and threads blocked outside the scheduler wait.
//
// Both are futex words driven by std::atomic operations, so ThreadSanitizer sees their
// happens-before edges without annotations.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>  // std::lock_guard and std::unique_lock work with runtime_lock

namespace goro::rt {

// A spin-wait hint: lets the sibling hyperthread run and saves power while a thread polls.
inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class runtime_lock {
 public:
  runtime_lock() = default;
  runtime_lock(const runtime_lock&) = delete;
  runtime_lock& operator=(const runtime_lock&) = delete;

  void lock() {
    std::uint32_t expected = kUnlocked;
    // acquire: pairs with the release in unlock(), so the previous holder's writes are visible.
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return;
    }
    lock_slow();
  }

  bool try_lock() {
    std::uint32_t expected = kUnlocked;
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() {
    // release: publishes the critical section to the next holder.
    if (state_.exchange(kUnlocked, std::memory_order_release) == kContended) unlock_slow();
  }

 private:
  static constexpr std::uint32_t kUnlocked = 0;
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kContended = 2;  // locked, and a thread may sleep on the futex

  void lock_slow();
  void unlock_slow();

  std::atomic<std::uint32_t> state_{kUnlocked};
};

class note {
 public:
  // Blocks until wakeup() has been called since the last clear(), or until timeout_ns passes
  // (a negative timeout waits forever). Returns true if woken, false on timeout.
  bool sleep(std::int64_t timeout_ns = -1);
  void wakeup();
  void clear() { key_.store(0, std::memory_order_relaxed); }
  bool is_set() const { return key_.load(std::memory_order_acquire) != 0; }

 private:
  // 0 = not signalled, 1 = signalled. wakeup() stores 1 with release; sleep() loads with
  // acquire, so the waker's writes before wakeup() are visible after sleep() returns.
  std::atomic<std::uint32_t> key_{0};
};

}  // namespace goro::rt
