// Semaphore table and the semacquire / semrelease protocol (see sema.h).
#include "lib/sema.h"

#include <cstddef>
#include <mutex>

#include "goro/runtime.hpp"
#include "runtime/os/futex.h"
#include "runtime/pprof/contention.h"
#include "runtime/sched/lock.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/waiter.h"

namespace goro::rt {

namespace {

// Number of buckets: a prime so that addresses with a common stride spread out (Go uses 251).
constexpr std::size_t kSemaBuckets = 251;
// Buckets sit on their own cache lines so that unrelated semaphores do not share one.
constexpr std::size_t kCacheLine = 64;

struct alignas(kCacheLine) sema_bucket {
  runtime_lock lock;
  // Waiters that are, or are about to be, queued here. seq_cst: see the header's invariant.
  std::atomic<std::uint32_t> nwait{0};
  // Queue of waiters for every address hashed here, oldest first (lock). A waiter's elem is
  // the semaphore address it waits on; its ticket is 1 when semrelease handed it a count;
  // its time is when it started waiting, for the mutex profile (0 while that is off).
  waiter* head = nullptr;
  waiter* tail = nullptr;
};

sema_bucket sema_table[kSemaBuckets];

sema_bucket& bucket_for(const void* addr) {
  auto key = reinterpret_cast<std::uintptr_t>(addr);
  // The low 3 bits of a 32-bit-aligned field carry no information.
  return sema_table[(key >> 3) % kSemaBuckets];
}

bool try_acquire(std::atomic<std::uint32_t>* addr) {
  std::uint32_t v = addr->load(std::memory_order_relaxed);
  while (v > 0) {
    // acquire: pairs with the release in semrelease, so the releaser's writes are visible.
    if (addr->compare_exchange_weak(v, v - 1, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void enqueue(sema_bucket& b, waiter* w, bool lifo) {
  if (lifo) {
    // Ahead of every waiter in the bucket, hence ahead of every waiter for this address.
    w->prev = nullptr;
    w->next = b.head;
    if (b.head != nullptr) {
      b.head->prev = w;
    } else {
      b.tail = w;
    }
    b.head = w;
    return;
  }
  w->next = nullptr;
  w->prev = b.tail;
  if (b.tail != nullptr) {
    b.tail->next = w;
  } else {
    b.head = w;
  }
  b.tail = w;
}

waiter* dequeue(sema_bucket& b, const void* addr) {
  for (waiter* w = b.head; w != nullptr; w = w->next) {
    if (w->elem != addr) continue;
    if (w->prev != nullptr) {
      w->prev->next = w->next;
    } else {
      b.head = w->next;
    }
    if (w->next != nullptr) {
      w->next->prev = w->prev;
    } else {
      b.tail = w->prev;
    }
    w->next = w->prev = nullptr;
    return w;
  }
  return nullptr;
}

bool unlock_bucket(void* arg) {
  static_cast<sema_bucket*>(arg)->lock.unlock();
  return true;
}

}  // namespace

void semacquire(std::atomic<std::uint32_t>* addr, waitreason reason, bool lifo) {
  if (try_acquire(addr)) return;
  goroutine_section section;  // before the bucket lock: see sched.h

  sema_bucket& b = bucket_for(addr);
  waiter w;
  // The mutex profile charges the wait from here to the unlocker (semrelease returns it).
  const std::int64_t wait_start = pprof::mutex_profile_on() ? os::nanotime() : 0;
  for (;;) {
    waiter_init(&w);
    w.elem = addr;
    w.ticket = 0;
    w.time = wait_start;
    b.lock.lock();
    // Announce the waiter before retrying, so a release from here on sees nwait > 0.
    b.nwait.fetch_add(1, std::memory_order_seq_cst);
    if (try_acquire(addr)) {
      b.nwait.fetch_sub(1, std::memory_order_seq_cst);
      b.lock.unlock();
      return;
    }
    enqueue(b, &w, lifo);
    waiter_block(&w, reason, &unlock_bucket, &b);
    // ticket == 1: semrelease already took the count for this waiter (hand-off).
    if (w.ticket != 0 || try_acquire(addr)) return;
    // Another caller took the count first: wait again, at the head of the queue.
    lifo = true;
  }
}

std::int64_t semrelease(std::atomic<std::uint32_t>* addr, bool handoff) {
  sema_bucket& b = bucket_for(addr);
  // seq_cst (and release for the acquirer's CAS): see the header's invariant.
  addr->fetch_add(1, std::memory_order_seq_cst);
  if (b.nwait.load(std::memory_order_seq_cst) == 0) return 0;

  b.lock.lock();
  if (b.nwait.load(std::memory_order_relaxed) == 0) {
    b.lock.unlock();
    return 0;
  }
  waiter* w = dequeue(b, addr);
  if (w != nullptr) b.nwait.fetch_sub(1, std::memory_order_seq_cst);
  b.lock.unlock();
  if (w == nullptr) return 0;

  bool handed = handoff && try_acquire(addr);
  w->ticket = handed ? 1 : 0;
  const std::int64_t wait_start = w->time;
  bool waker_is_goroutine = on_goroutine_outside_blocking();
  waiter_wake_list(w);  // w (dequeued, so next is null) may be gone from here on
  // Let the waiter, now first in this P's run queue, run before the releaser competes again.
  if (handed && waker_is_goroutine) goro::yield();
  return wait_start;
}

}  // namespace goro::rt
