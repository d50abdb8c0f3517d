// goro's semaphore, Go's sema: the one way sync primitives block on a counter.
//
// Model. A semaphore is a 32-bit counter owned by the primitive that uses it (a mutex's sema
// field, a wait group's sema). semacquire decrements it when it is positive and otherwise
// queues the caller and blocks it; semrelease increments it and wakes the first waiter for
// that counter, if any. Waiters for all counters share a fixed table of buckets hashed by
// the counter's address, each with its own runtime_lock, so semaphores need no allocation.
//
// Invariants:
//   * A waiter is in its bucket's list exactly while it is blocked in semacquire, and only
//     the semrelease that unlinks it wakes it.
//   * A bucket's nwait counts the waiters that may be queued for any address in the bucket.
//     semrelease increments the counter before it loads nwait, and semacquire increments
//     nwait before it retries the counter, both sequentially consistent, so at least one of
//     them sees the other: a release never misses a waiter that is about to block.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/sched/waitreason.h"

namespace goro::rt {

// Blocks until *addr > 0, then decrements it. `lifo` queues the caller at the head of the
// address's waiters instead of the tail (a mutex re-queues a waiter that lost the lock this
// way, so it does not wait its turn a second time). Works on goroutines and plain threads.
void semacquire(std::atomic<std::uint32_t>* addr, waitreason reason, bool lifo);

// Increments *addr and wakes the first waiter for addr. With `handoff`, the released count
// is taken on the woken waiter's behalf before it is woken, so no other caller can take it
// first (starvation-mode mutex), and a releasing goroutine yields so the waiter runs soon.
// Returns when the woken waiter started waiting (nanotime) if the mutex profile was on when
// it did, else 0.
std::int64_t semrelease(std::atomic<std::uint32_t>* addr, bool handoff);

}  // namespace goro::rt
