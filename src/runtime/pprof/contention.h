// Block and mutex contention profiles (Go's runtime/mprof.go blockevent and mutexevent).
//
// Model: each profile maps a stack to a count of events and their total delay in
// nanoseconds. The block profile covers every wait in waiter_block: channel send and receive,
// select, and the semaphores under mutexes, wait groups and condition variables. For each
// wait it records the stack of the blocked goroutine or plain thread and how long it stayed
// blocked, from the block until it ran again. The mutex profile records, at the unlock of a contended
// goro::mutex that wakes a waiter, the unlocker's stack and how long that waiter had waited,
// because Go charges the delay to whoever held the lock.
//
// Sampling is Go's. Block: an event of `delay` ns is kept if delay >= rate, else with
// probability delay/rate, and a kept short event counts rate/delay times with delay `rate`,
// so the totals estimate every event. Mutex: 1 in `fraction` events is kept, and the writer
// multiplies counts and delays by `fraction`.
//
// Cost when off: a goroutine's block pays nothing for the profile, because the scheduler's
// one test of sched_hooks (schedhooks.h) covers it, and the goroutine's block is timed on
// the scheduler's slow path. A plain thread's block and the mutex profile load one relaxed
// atomic and branch on it (block_profile_on, mutex_profile_on), only on paths that already
// block. Recording captures a stack with the unwinder and takes a lock, so it happens
// outside any primitive's lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace goro::rt::pprof {

// The current settings; 0 is off. Relaxed: a hook that reads a stale value records or skips
// one event, which sampling already allows.
[[gnu::visibility("hidden")]] extern std::atomic<std::int64_t> block_profile_rate;
extern std::atomic<std::int32_t> mutex_profile_fraction;

inline bool block_profile_on() { return block_profile_rate.load(std::memory_order_relaxed) > 0; }
inline bool mutex_profile_on() {
  return mutex_profile_fraction.load(std::memory_order_relaxed) > 0;
}

// Records a blocking event, sampled by the block rate. The recorded stack starts at the frame
// that contains the return address `first_return` (pass __builtin_return_address(0) of the
// primitive's entry point to start at its caller).
void block_event(std::int64_t delay_ns, std::uintptr_t first_return);

// Records a mutex contention event, sampled by the mutex fraction, in the same way.
void mutex_event(std::int64_t delay_ns, std::uintptr_t first_return);

// Serialised profiles of what was recorded so far in this process.
std::string encode_block_profile();
std::string encode_mutex_profile();

}  // namespace goro::rt::pprof
