// Timers: per-P heaps serviced by the scheduler, no timer thread. See timer.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "runtime/sched/runtime2.h"

namespace goro::rt {

// A timer record, embedded in whatever waits for it (a sleeping goroutine's frame, a
// goro::timer). It is in at most one P's timers (heap or sorted run) at a time.
struct timer {
  std::int64_t when = 0;    // nanotime at which it fires
  std::int64_t period = 0;  // > 0: fires again every period ns
  // Runs on the M that services the heap, in runtime mode with a P, with no lock held. It
  // must not block. `now` is the time the heap was checked.
  void (*f)(timer* t, void* arg, std::int64_t now) = nullptr;
  void* arg = nullptr;

  // The P whose heap holds the timer, or nullptr. Written under that P's timers_lock; read
  // with acquire by deltimer before it takes the lock, then re-checked under it.
  std::atomic<P*> pp{nullptr};
  // Where in pp's timers (pp->timers_lock): its position in the heap, or
  // run_index(r) in sorted run r with its neighbours in prev and next; -1 in none.
  std::int32_t index = -1;
  timer* prev = nullptr;
  timer* next = nullptr;
};

// The latest `when`: a timer due then never fires. Waits too long to represent end there
// instead of overflowing into the past, as Go's when() caps them.
inline constexpr std::int64_t kMaxWhen = INT64_MAX;

// Returns now + delay_ns, or kMaxWhen if the sum overflows; a delay <= 0 gives now.
inline std::int64_t when_after(std::int64_t now, std::int64_t delay_ns) {
  if (delay_ns <= 0) return now;
  return delay_ns > kMaxWhen - now ? kMaxWhen : now + delay_ns;
}

// Returns the steady-clock time d from now, or the clock's last time point if that sum
// overflows, so that a deadline past the clock's range is never reached instead of wrapping
// into the past. d may be negative.
inline std::chrono::steady_clock::time_point steady_after(std::chrono::nanoseconds d) {
  using clock = std::chrono::steady_clock;
  const clock::time_point now = clock::now();
  return d > clock::time_point::max() - now ? clock::time_point::max() : now + d;
}

// Returns the first time after `now` at which a periodic timer due at `when` fires again,
// skipping the periods that were missed (a slow receiver gets one tick, not a burst), or
// kMaxWhen if that overflows.
inline std::int64_t next_period(std::int64_t when, std::int64_t period, std::int64_t now) {
  std::int64_t step = 0;
  std::int64_t next = 0;
  if (__builtin_mul_overflow(period, 1 + (now - when) / period, &step) ||
      __builtin_add_overflow(when, step, &next)) {
    return kMaxWhen;
  }
  return next;
}

// timer::index of a timer in sorted run r.
constexpr std::int32_t run_index(int r) { return -2 - r; }

// timer::pp of a timer that was pending when its run ended (free_timer_heap). Such a timer is
// in no heap and never fires. The next deltimer returns true for it, as for a pending timer,
// so that its owner's accounting comes out even. Compared only, never dereferenced.
inline P* orphaned_timers() {
  static char tag;
  return reinterpret_cast<P*>(&tag);
}

// Adds t to the current P's timers (P 0's from a plain thread). t must not be in any.
void addtimer(timer* t);
// Removes t if it is still pending, or if its run ended while it was (orphaned_timers);
// returns true if so (it will not fire).
bool deltimer(timer* t);

// The number of timers pp holds (pp->timers_lock, or a racy read for schedtrace).
inline std::int32_t timer_count(const P* pp) { return pp->timers_len + pp->timer_run_len; }

// procresize: moves every timer of `from` into `to`.
void move_timers(P* from, P* to);
void free_timer_heap(P* pp);

}  // namespace goro::rt
