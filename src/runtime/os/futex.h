// Futexes, clocks and sleeps: the kernel primitives under every runtime lock and note.
//
// Model: futex_wait/futex_wake are thin wrappers over futex(2) with FUTEX_PRIVATE_FLAG (goro's
// futex words are never shared between processes, and private futexes skip the kernel's
// mm-wide hash lookup). As with any futex, a wait can return without a wake (a signal, or the
// word already changed), so callers re-check their condition in a loop. Clocks go through
// clock_gettime, which the vDSO serves without entering the kernel.
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::rt::os {

// Sleeps while *addr == expected, until futex_wake, a timeout of `timeout_ns` nanoseconds
// (< 0: no timeout) or a spurious wake-up. Returns ETIMEDOUT if the timeout expired, else 0
// (woken, interrupted by a signal, or *addr != expected on entry).
int futex_wait(std::atomic<std::uint32_t>* addr, std::uint32_t expected, std::int64_t timeout_ns);

// Wakes up to `count` threads sleeping in futex_wait on addr.
void futex_wake(std::atomic<std::uint32_t>* addr, int count);

// Returns CLOCK_MONOTONIC in nanoseconds (Go's nanotime): for intervals and deadlines.
std::int64_t nanotime();

// Returns CLOCK_REALTIME in nanoseconds since the Unix epoch (Go's walltime).
std::int64_t walltime_ns();

// Sleeps for at least `ns` nanoseconds, resuming after signal interruptions (Go's usleep,
// with nanosecond units). Returns at once for ns <= 0.
void usleep_ns(std::int64_t ns);

}  // namespace goro::rt::os
