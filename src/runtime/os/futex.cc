#include "runtime/os/futex.h"

#include <cerrno>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/os/raw_syscall.h"

namespace goro::rt::os {
namespace {

// futex(2) operates on a plain aligned 32-bit word; std::atomic<uint32_t> must be exactly that.
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
static_assert(alignof(std::atomic<std::uint32_t>) == alignof(std::uint32_t));
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

constexpr std::int64_t kNanosecondsPerSecond = 1'000'000'000;

timespec to_timespec(std::int64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / kNanosecondsPerSecond);
  ts.tv_nsec = static_cast<long>(ns % kNanosecondsPerSecond);
  return ts;
}

std::uint32_t* futex_word(std::atomic<std::uint32_t>* addr) {
  return reinterpret_cast<std::uint32_t*>(addr);
}

std::int64_t clock_ns(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * kNanosecondsPerSecond + ts.tv_nsec;
}

}  // namespace

int futex_wait(std::atomic<std::uint32_t>* addr, std::uint32_t expected, std::int64_t timeout_ns) {
  timespec timeout;
  timespec* timeout_arg = nullptr;
  if (timeout_ns >= 0) {
    timeout = to_timespec(timeout_ns);
    timeout_arg = &timeout;
  }
  // FUTEX_WAIT takes a relative timeout measured on CLOCK_MONOTONIC.
  long result = raw_syscall(SYS_futex, syscall_arg(futex_word(addr)), FUTEX_WAIT_PRIVATE,
                            expected, syscall_arg(timeout_arg));
  // -EAGAIN: the word no longer held `expected`. -EINTR: a signal arrived. Both are ordinary
  // wake-ups for a caller that re-checks its condition.
  return result == -ETIMEDOUT ? ETIMEDOUT : 0;
}

void futex_wake(std::atomic<std::uint32_t>* addr, int count) {
  raw_syscall(SYS_futex, syscall_arg(futex_word(addr)), FUTEX_WAKE_PRIVATE, count);
}

std::int64_t nanotime() { return clock_ns(CLOCK_MONOTONIC); }

std::int64_t walltime_ns() { return clock_ns(CLOCK_REALTIME); }

void usleep_ns(std::int64_t ns) {
  if (ns <= 0) return;
  timespec remaining = to_timespec(ns);
  while (nanosleep(&remaining, &remaining) != 0 && errno == EINTR) {
  }
}

}  // namespace goro::rt::os
