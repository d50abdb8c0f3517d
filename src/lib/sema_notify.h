// Notify list: the ticket-based waiter queue behind goro::condition_variable (Go's
// notifyList).
//
// Model. A waiter first takes a ticket (notify_list_add) while it still holds the user's
// mutex, then releases the mutex and waits for that ticket (notify_list_wait). notify_one
// serves the oldest ticket not yet notified; notify_all serves every ticket taken so far. A
// ticket notified between add and wait is not lost: the waiter sees it is already served and
// does not block. Tickets are 32-bit counters compared with wrap-around.
//
// A timed wait whose deadline passes leaves the queue without being notified. Its ticket is
// recorded as abandoned, and notify_one skips abandoned tickets, so a notification always goes
// to a waiter that can still take it.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "runtime/sched/lock.h"
#include "runtime/sched/waiter.h"

namespace goro::rt {

struct notify_list {
  // Next ticket to hand out. Incremented atomically without the lock (relaxed would do for the
  // counter itself; acq_rel keeps it ordered with the user's mutex, which the adder holds).
  std::atomic<std::uint32_t> wait{0};
  runtime_lock lock;
  // Next ticket to be notified; tickets below it are served. Written under lock; read
  // without it (acquire) only by the notify fast paths, which re-check under the lock.
  std::atomic<std::uint32_t> notify{0};
  // The following fields are guarded by lock.
  waiter* head = nullptr;  // queued waiters; ticket holds each one's ticket

  waiter* tail = nullptr;
  // Tickets >= notify whose waiters timed out, as a min-heap in ticket order, so that
  // notify_one skips each in O(log n): a linear search and erase made a notify after n
  // timeouts cost O(n^2).
  std::vector<std::uint32_t> abandoned;
};

std::uint32_t notify_list_add(notify_list* l);
// Blocks until ticket t is notified. A deadline >= 0 (nanotime) ends the wait when it passes;
// returns false then, true when notified.
bool notify_list_wait(notify_list* l, std::uint32_t t, std::int64_t deadline);
void notify_list_notify_one(notify_list* l);
void notify_list_notify_all(notify_list* l);

}  // namespace goro::rt
