// Notify list operations (see sema_notify.h). A timed wait arms a runtime timer whose
// callback removes the waiter from the queue; the callback and the waiter synchronise through
// timed_wait::fire_state so the waiter's stack frame outlives every use the callback makes of it.
#include "lib/sema_notify.h"

#include <algorithm>
#include <mutex>

#include "goro/runtime.hpp"
#include "runtime/os/futex.h"
#include "runtime/sched/sched.h"
#include "runtime/time/timer.h"

namespace goro::rt {

namespace {

// a < b in ticket order, robust to wrap-around.
bool ticket_less(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(a - b) < 0;
}

// Heap order of notify_list::abandoned: the earliest ticket on top.
bool later_ticket(std::uint32_t a, std::uint32_t b) { return ticket_less(b, a); }

// Records ticket t (>= notify) as abandoned by a timed-out waiter (lock held).
void abandon(notify_list* l, std::uint32_t t) {
  l->abandoned.push_back(t);
  std::push_heap(l->abandoned.begin(), l->abandoned.end(), later_ticket);
}

void unlink(notify_list* l, waiter* w) {
  if (w->prev != nullptr) {
    w->prev->next = w->next;
  } else {
    l->head = w->next;
  }
  if (w->next != nullptr) {
    w->next->prev = w->prev;
  } else {
    l->tail = w->prev;
  }
  w->next = w->prev = nullptr;
}

void append(notify_list* l, waiter* w) {
  w->next = nullptr;
  w->prev = l->tail;
  if (l->tail != nullptr) {
    l->tail->next = w;
  } else {
    l->head = w;
  }
  l->tail = w;
}

// States of timed_wait::fire_state.
constexpr std::uint32_t kTimerIdle = 0;
constexpr std::uint32_t kTimerDone = 1;

// A waiter with a deadline. Lives on the waiting caller's stack.
struct timed_wait {
  waiter w;
  notify_list* list = nullptr;
  timer deadline_timer;
  bool queued = false;     // w is in list's queue (list->lock)
  bool timed_out = false;  // the timer removed w (list->lock)
  // Set to kTimerDone (release) by the timer callback after its last access to this record;
  // the waiter waits for it (acquire) when deltimer reports the callback already started.
  std::atomic<std::uint32_t> fire_state{kTimerIdle};
};

void fire_deadline(timer* t, void* arg, std::int64_t now) {
  (void)t;
  (void)now;
  auto* tw = static_cast<timed_wait*>(arg);
  notify_list* l = tw->list;
  bool wake = false;
  {
    std::lock_guard<runtime_lock> guard(l->lock);
    if (tw->queued) {
      unlink(l, &tw->w);
      tw->queued = false;
      tw->timed_out = true;
      auto ticket = static_cast<std::uint32_t>(tw->w.ticket);
      if (!ticket_less(ticket, l->notify.load(std::memory_order_relaxed))) abandon(l, ticket);
      wake = true;
    }
  }
  // Publish completion before the wake: once woken, the waiter may return at any moment,
  // and it first checks fire_state, so nothing below may touch tw.
  waiter* w = &tw->w;
  tw->fire_state.store(kTimerDone, std::memory_order_release);
  if (wake) waiter_wake(w);
}

struct wait_unlock {
  notify_list* list;
  timer* deadline_timer;  // armed after queueing, before the lock drops; nullptr: no deadline
};

bool unlock_list(void* arg) {
  auto* u = static_cast<wait_unlock*>(arg);
  if (u->deadline_timer != nullptr) addtimer(u->deadline_timer);
  u->list->lock.unlock();
  return true;
}

}  // namespace

std::uint32_t notify_list_add(notify_list* l) {
  return l->wait.fetch_add(1, std::memory_order_acq_rel);
}

bool notify_list_wait(notify_list* l, std::uint32_t t, std::int64_t deadline) {
  goroutine_section section;  // before the list's lock: see sched.h
  timed_wait tw;
  tw.list = l;
  l->lock.lock();
  if (ticket_less(t, l->notify.load(std::memory_order_relaxed))) {
    l->lock.unlock();
    return true;
  }
  if (deadline >= 0 && deadline <= os::nanotime()) {
    if (!ticket_less(t, l->notify.load(std::memory_order_relaxed))) abandon(l, t);
    l->lock.unlock();
    return false;
  }
  waiter_init(&tw.w);
  tw.w.elem = &tw;  // lets notify reach the record's flags
  tw.w.ticket = static_cast<std::int32_t>(t);
  append(l, &tw.w);
  tw.queued = true;
  wait_unlock u{l, nullptr};
  if (deadline >= 0) {
    tw.deadline_timer.when = deadline;
    tw.deadline_timer.f = &fire_deadline;
    tw.deadline_timer.arg = &tw;
    u.deadline_timer = &tw.deadline_timer;
  }
  waiter_block(&tw.w, waitreason::sync_cond_wait, &unlock_list, &u);

  if (deadline >= 0 && !deltimer(&tw.deadline_timer)) {
    // The callback was taken off the heap: wait until it no longer uses tw.
    while (tw.fire_state.load(std::memory_order_acquire) != kTimerDone) goro::yield();
  }
  std::lock_guard<runtime_lock> guard(l->lock);
  return !tw.timed_out;
}

void notify_list_notify_one(notify_list* l) {
  // Fast path: no ticket taken since the last notification.
  if (l->wait.load(std::memory_order_acquire) == l->notify.load(std::memory_order_acquire)) return;
  waiter* found = nullptr;
  {
    std::lock_guard<runtime_lock> guard(l->lock);
    for (;;) {
      std::uint32_t t = l->notify.load(std::memory_order_relaxed);
      if (t == l->wait.load(std::memory_order_acquire)) return;
      l->notify.store(t + 1, std::memory_order_release);
      if (!l->abandoned.empty() && l->abandoned.front() == t) {
        // That waiter timed out: give the notification to the next ticket.
        std::pop_heap(l->abandoned.begin(), l->abandoned.end(), later_ticket);
        l->abandoned.pop_back();
        continue;
      }
      for (waiter* w = l->head; w != nullptr; w = w->next) {
        if (static_cast<std::uint32_t>(w->ticket) == t) {
          found = w;
          break;
        }
      }
      // Not queued yet: the waiter is between add and wait and will see notify > t.
      if (found == nullptr) return;
      unlink(l, found);
      // Mark it dequeued for a deadline callback that may look at it.
      static_cast<timed_wait*>(found->elem)->queued = false;
      break;
    }
  }
  waiter_wake_list(found);  // unlinked, so found->next is null
}

void notify_list_notify_all(notify_list* l) {
  if (l->wait.load(std::memory_order_acquire) == l->notify.load(std::memory_order_acquire)) return;
  waiter* w = nullptr;
  {
    std::lock_guard<runtime_lock> guard(l->lock);
    w = l->head;
    l->head = l->tail = nullptr;
    l->notify.store(l->wait.load(std::memory_order_acquire), std::memory_order_release);
    l->abandoned.clear();
    for (waiter* q = w; q != nullptr; q = q->next) static_cast<timed_wait*>(q->elem)->queued = false;
  }
  waiter_wake_list(w);
}

}  // namespace goro::rt
