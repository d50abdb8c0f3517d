// Waiters: how goro's blocking primitives (channels, select, mutexes, wait groups, timers)
// put their caller to sleep and wake it, whether the caller is a goroutine or a plain thread.
//
// Model. A blocking primitive keeps a queue of `waiter` records (Go's sudog), usually on the
// waiting caller's own stack. To wait, the caller fills a waiter, links it into the
// primitive's queue under the primitive's lock, and calls waiter_block() with an unlock
// function that releases that lock:
//   * on a goroutine, waiter_block parks the G (park(), proc.cc); the unlock function runs
//     after the G's registers are saved, so a waker that takes the lock next cannot ready the
//     G before it is fully parked;
//   * on a plain thread (no M), waiter_block runs the unlock function and then sleeps on the
//     waiter's futex word. The thread stops counting as "active" for deadlock detection while
//     it sleeps (see plain_thread_enter below).
// A waker removes the waiter from the queue under the same lock, fills in the result fields
// the primitive defines, and calls waiter_wake() (after or before dropping the lock; both are
// safe). Exactly one party wakes a given waiter: the one that unlinked it.
//
// Invariants:
//   * A waiter is woken at most once per block.
//   * After waiter_wake() the waker must not touch the waiter again: the woken side may return
//     and destroy it (it lives on the waiter's stack).
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/sched/runtime2.h"
#include "runtime/sched/waitreason.h"

namespace goro::rt {

struct waiter {
  G* g = nullptr;  // the parked goroutine, or nullptr for a plain thread
  // Plain thread: 0 while asleep, 1 once woken (release by the waker, acquire by the sleeper).
  std::atomic<std::uint32_t> woken{0};

  // Intrusive links for the primitive's queue (guarded by the primitive's lock).
  waiter* next = nullptr;
  waiter* prev = nullptr;

  // Fields the primitive may use to pass data (guarded by the primitive's lock until the
  // waiter is woken; owned by the woken side afterwards).
  void* elem = nullptr;     // where a channel copies a value to or from
  bool success = false;     // channel: a value was delivered (false: woken by close)
  void* select_case = nullptr;  // select: the case that fired
  std::int32_t ticket = 0;      // free for the primitive's own use
  std::int64_t time = 0;        // free for the primitive's own use (e.g. when it started waiting)
};

// Prepares w for the calling thread: sets w->g to the current goroutine or nullptr.
void waiter_init(waiter* w);
// waiter_init for a caller that has already read its goroutine (getg(), or nullptr).
void waiter_init_for(waiter* w, G* gp);

// Blocks the caller until waiter_wake(w). unlockf(arg) releases the primitive's lock; on a
// goroutine it runs after the switch (see above) and must return true. While the block
// profile is on, it also records how long the caller stayed blocked (pprof/contention.h).
void waiter_block(waiter* w, waitreason reason, bool (*unlockf)(void* arg), void* arg);

// For schedule_next's slow path while the block profile is on, on the stack of the G that is
// about to park for mp->pending: true if the park comes from waiter_block. Then
// *first_return is the return address into the blocking primitive, where the profile's stack
// starts, or 0 if it could not be found.
bool waiter_block_park(M* mp, std::uintptr_t* first_return);

// Wakes a blocked waiter. Safe from goroutines, plain threads and timer callbacks.
void waiter_wake(waiter* w);

// Wakes a batch of waiters linked through next (the list is free once they are dequeued)
// from goroutine code outside runtime mode, as the sync primitives' release paths are. On
// a goroutine the wakes run in one runtime-mode section, so each woken G goes on this P's
// run queue instead of the global one (under sched.lock). Leaving the section is a
// scheduling point, so a goroutine that loops on a contended mutex yields at sysmon's
// request instead of holding its P until sysmon takes it. Off a goroutine, or inside goro::blocking,
// it is waiter_wake on each (the global queue). Reads each next before waking a waiter.
void waiter_wake_list(waiter* head);

// True if the caller is a goroutine (has an M and a current G).
bool on_goroutine();
// True if the caller is a goroutine and not inside goro::blocking, where its P is not its
// own to use: it may enter runtime mode and yield.
bool on_goroutine_outside_blocking();

// Deadlock-detection accounting for plain threads. A plain thread is registered the first
// time it uses a goro primitive and unregistered when it exits; registered threads count as
// possible wakers while they are not blocked in a primitive.
void plain_thread_register();

// Registers the calling plain thread with a count that goro::plain_thread's constructor
// already added (detail::plain_thread_reserve), so that the thread counted before it ran.
void plain_thread_adopt();

// Keeps the calling plain thread out of that accounting for the rest of its life: for
// goro::signal's receiver thread, whose wake-ups checkdead counts through signals_watched()
// instead. The thread must never block in a goro primitive (waiter_block stops with a fatal
// error if it does).
void plain_thread_exclude();

}  // namespace goro::rt
