// Synchronisation primitives with Go's sync semantics: mutex, shared_mutex (Go's RWMutex),
// condition_variable (Go's Cond), wait_group and call_once.
//
// A goroutine that blocks in one of them parks and frees its thread for other goroutines; a
// plain thread (std::thread, a C library callback) that blocks in one of them sleeps. Both
// kinds of caller may share one primitive. The lockable types meet the standard Lockable and
// SharedLockable requirements, so std::lock_guard, std::unique_lock, std::shared_lock and
// std::scoped_lock work with them.
//
//   goro::mutex m;
//   goro::condition_variable cv;
//   bool ready = false;
//   goro::go([&] { std::lock_guard lock(m); ready = true; cv.notify_one(); });
//   std::unique_lock lock(m);
//   cv.wait(lock, [&] { return ready; });
//
// Misuse follows Go: unlocking an unlocked mutex is a fatal error (the process prints
// "fatal error: sync: unlock of unlocked mutex" and exits with status 2), and a negative
// wait-group counter throws goro::panic_error. As in Go, a locked mutex belongs to no
// goroutine: any goroutine or thread may unlock it, and locking it again from its holder
// blocks forever.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>  // std::cv_status
#include <cstdint>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <type_traits>
#include <utility>

#include "goro/duration.hpp"
#include "goro/export.hpp"
#include "goro/runtime.hpp"

namespace goro {

namespace detail {
// What a goroutine blocked in a mutex's slow path is waiting for, as goroutine dumps show it.
enum class lock_wait : std::uint8_t { mutex, rwmutex_writer, once };
}  // namespace detail

struct once_flag;

// Go's sync.Mutex. Fast path: one compare-and-swap. Contended callers spin briefly, then
// queue. In normal mode a woken waiter competes with newly arriving callers; a waiter that
// has waited longer than 1 ms switches the mutex to starvation mode, where unlock hands the
// mutex directly to the oldest waiter and new callers queue behind it.
class GORO_EXPORT mutex {
 public:
  constexpr mutex() noexcept = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock() {
    std::int32_t expected = 0;
    // acquire: pairs with the release in unlock(), so the previous holder's writes are visible.
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return;
    }
    lock_slow(detail::lock_wait::mutex);
  }

  // Takes the mutex if it is free and no starving waiter is owed it. Never blocks.
  bool try_lock() noexcept {
    std::int32_t old = state_.load(std::memory_order_relaxed);
    if ((old & (kLocked | kStarving)) != 0) return false;
    return state_.compare_exchange_strong(old, old | kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() {
    // acq_rel: release publishes the critical section; acquire orders the slow path's reads
    // of the waiter count after it.
    std::int32_t now = state_.fetch_sub(kLocked, std::memory_order_acq_rel) - kLocked;
    if (now != 0) unlock_slow(now);
  }

 private:
  friend class shared_mutex;
  template <class F, class... Args>
  friend void call_once(once_flag& flag, F&& f, Args&&... args);

  // state_ bits: locked, a woken waiter is running (so unlock need not wake another),
  // starvation mode; the bits above kWaiterShift count queued waiters.
  static constexpr std::int32_t kLocked = 1;
  static constexpr std::int32_t kWoken = 2;
  static constexpr std::int32_t kStarving = 4;
  static constexpr int kWaiterShift = 3;

  void lock_slow(detail::lock_wait reason);
  void unlock_slow(std::int32_t now);

  std::atomic<std::int32_t> state_{0};
  std::atomic<std::uint32_t> sema_{0};  // semaphore the waiters queue on
};

// Go's sync.RWMutex: any number of readers or one writer. A writer that is waiting blocks new
// readers, so a steady stream of readers cannot starve it.
class GORO_EXPORT shared_mutex {
 public:
  constexpr shared_mutex() noexcept = default;
  shared_mutex(const shared_mutex&) = delete;
  shared_mutex& operator=(const shared_mutex&) = delete;

  void lock();
  bool try_lock() noexcept;
  void unlock();

  void lock_shared();
  bool try_lock_shared() noexcept;
  void unlock_shared();

 private:
  void unlock_shared_slow(std::int32_t readers);

  mutex writer_mutex_;                      // held by the writer, or the writer waiting
  std::atomic<std::uint32_t> writer_sem_{0};  // the writer waits here for departing readers
  std::atomic<std::uint32_t> reader_sem_{0};  // readers wait here for the writer to finish
  // Readers holding or waiting for the lock; a writer subtracts kMaxReaders to announce itself.
  std::atomic<std::int32_t> reader_count_{0};
  std::atomic<std::int32_t> reader_wait_{0};  // readers the waiting writer still waits for
};

// Go's sync.Cond as a std::condition_variable over std::unique_lock<goro::mutex>. Waiters are
// notified in the order they started waiting. The timed waits use goro's timers: while
// goro::run is not active, a plain thread may only wait without a deadline.
class GORO_EXPORT condition_variable {
 public:
  condition_variable() noexcept;
  ~condition_variable();
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  void notify_one() noexcept;
  void notify_all() noexcept;

  // Unlocks `lock`, waits for a notification, and locks it again. Calling it without holding
  // the mutex is the fatal error "sync: unlock of unlocked mutex".
  void wait(std::unique_lock<mutex>& lock) { wait_until_ns(lock, -1); }

  template <class Predicate>
  void wait(std::unique_lock<mutex>& lock, Predicate pred) {
    while (!pred()) wait(lock);
  }

  template <class Clock, class Duration>
  std::cv_status wait_until(std::unique_lock<mutex>& lock,
                            const std::chrono::time_point<Clock, Duration>& deadline) {
    // A deadline in the past waits for nothing; deadline - now could overflow for it
    // (time_point::min()).
    const auto now = Clock::now();
    const auto remaining = deadline > now ? deadline - now : decltype(deadline - now)::zero();
    wait_until_ns(lock, steady_deadline(remaining));
    return Clock::now() < deadline ? std::cv_status::no_timeout : std::cv_status::timeout;
  }

  template <class Clock, class Duration, class Predicate>
  bool wait_until(std::unique_lock<mutex>& lock,
                  const std::chrono::time_point<Clock, Duration>& deadline, Predicate pred) {
    while (!pred()) {
      if (wait_until(lock, deadline) == std::cv_status::timeout) return pred();
    }
    return true;
  }

  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<mutex>& lock,
                          const std::chrono::duration<Rep, Period>& timeout) {
    std::int64_t deadline = steady_deadline(timeout);
    bool notified = wait_until_ns(lock, deadline);
    return notified ? std::cv_status::no_timeout : std::cv_status::timeout;
  }

  template <class Rep, class Period, class Predicate>
  bool wait_for(std::unique_lock<mutex>& lock, const std::chrono::duration<Rep, Period>& timeout,
                Predicate pred) {
    return wait_until(lock, std::chrono::steady_clock::now() + clamp(timeout), std::move(pred));
  }

 private:
  // Waits with a deadline on the steady clock in nanoseconds since its epoch (-1: none);
  // returns false if the deadline passed first.
  bool wait_until_ns(std::unique_lock<mutex>& lock, std::int64_t deadline);

  // Durations past this are treated as "no deadline": about 146 years, far beyond any real
  // wait, and small enough that adding it to the steady clock cannot overflow.
  static constexpr std::chrono::nanoseconds kForever{std::int64_t{1} << 62};

  // Returns d in nanoseconds, rounded up, within [-kForever, kForever]. to_ns converts
  // without overflow for any Rep and Period; converting kForever to a narrow Rep instead
  // (duration<int, std::milli>) wrapped it to a negative count.
  template <class Rep, class Period>
  static std::chrono::nanoseconds clamp(const std::chrono::duration<Rep, Period>& d) {
    const std::int64_t ns = detail::to_ns(d);
    if (ns >= kForever.count()) return kForever;
    if (ns <= -kForever.count()) return -kForever;
    return std::chrono::nanoseconds(ns);
  }

  template <class Rep, class Period>
  static std::int64_t steady_deadline(const std::chrono::duration<Rep, Period>& d) {
    auto ns = clamp(d);
    if (ns == kForever) return -1;
    if (ns <= std::chrono::nanoseconds::zero()) return 0;  // passed; a negative value means none
    auto now = std::chrono::steady_clock::now().time_since_epoch();
    return (now + ns).count();
  }

  // Storage for the runtime's notify list (src/lib/sema_notify.h); sized and checked there.
  alignas(8) unsigned char list_[64];
};

// Go's sync.WaitGroup: add(n) before starting work, done() when each piece finishes, wait()
// until the counter is back at zero.
class GORO_EXPORT wait_group {
 public:
  constexpr wait_group() noexcept = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  // Adds delta (which may be negative) to the counter; at zero, every waiter is released.
  // Throws panic_error("sync: negative WaitGroup counter") if the counter drops below zero,
  // and Go's "sync: WaitGroup misuse" panics when add races with wait.
  void add(int delta);
  void done() { add(-1); }
  void wait();

 private:
  // High 32 bits: the counter; low 32 bits: goroutines and threads blocked in wait().
  std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint32_t> sema_{0};
};

// Go's sync.Once for goro::call_once.
struct once_flag {
  constexpr once_flag() noexcept = default;
  once_flag(const once_flag&) = delete;
  once_flag& operator=(const once_flag&) = delete;

 private:
  template <class F, class... Args>
  friend void call_once(once_flag& flag, F&& f, Args&&... args);

  // 1 once f has returned. Stored with release after f returns, loaded with acquire, so
  // callers that see 1 also see f's effects.
  std::atomic<std::uint32_t> done_{0};
  mutex mutex_;  // serialises the callers while f runs
};

// Runs f(args...) exactly once per flag, as std::call_once: concurrent callers wait until it
// returns. If f throws, the exception propagates to its caller, the flag stays unset, and the
// next caller runs f again.
template <class F, class... Args>
void call_once(once_flag& flag, F&& f, Args&&... args) {
  if (flag.done_.load(std::memory_order_acquire) != 0) return;
  if (!flag.mutex_.try_lock()) flag.mutex_.lock_slow(detail::lock_wait::once);
  std::unique_lock<mutex> hold(flag.mutex_, std::adopt_lock);
  if (flag.done_.load(std::memory_order_relaxed) != 0) return;
  std::invoke(std::forward<F>(f), std::forward<Args>(args)...);
  flag.done_.store(1, std::memory_order_release);
}

}  // namespace goro
