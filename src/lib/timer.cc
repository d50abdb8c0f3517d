// goro::after, goro::timer and goro::ticker: channel timers with Go 1.23 semantics on the
// runtime's per-P timer heaps (runtime/time/timer.h).
//
// Model. A timer_state joins three parties: the user's stop/reset calls, the runtime timer
// callback (fire), which runs on an M in runtime mode and must not block, and the channel,
// whose last handle releases the state (on_last_handle_released). Every decision is made under
// timer_state::lock, taken before the channel's lock when both are needed (fire's
// try_send_from_runtime, stop's drain), and never while a P's timers_lock is held.
//
//   * Arming bumps `seq` and stores it in the runtime timer's arg, which check_timers reads
//     when it pops the timer. A callback whose arg differs from `seq` belongs to an earlier
//     arming (stop or reset ran after the pop) and does nothing, so no stale value is sent
//     after stop or reset returns. The value a callback already sent is drained by stop and
//     reset, under the same lock.
//   * Tickers re-arm themselves in the callback (the runtime timer's own period is unused).
//     reset waits for a popped callback before it re-arms. So a timer is in one heap, or
//     popped with exactly one callback on its way, or idle. `callbacks` counts heap entries plus popped callbacks that have not yet taken
//     the lock; deltimer's success takes one back.
//   * When the last channel handle goes away, the state is marked released. It is freed by
//     whichever of the release hook or the last outstanding callback sees callbacks == 0, so a
//     callback never touches freed memory, and a released state never touches the channel.
#include <chrono>
#include <mutex>
#include <new>
#include <string>
#include <thread>

#include "goro/time.hpp"
#include "lib/chan_core.h"
#include "lib/chan_scope.h"
#include "runtime/os/futex.h"
#include "runtime/sched/lock.h"
#include "runtime/sched/sched.h"
#include "runtime/time/timer.h"

namespace goro::detail {

struct timer_state {
  rt::timer runtime_timer;  // first member: fire() recovers the state from its address
  chan_core* channel = nullptr;  // no reference: the channel owns this state

  rt::runtime_lock lock;
  // Guarded by lock.
  std::uint64_t seq = 0;        // arming generation; also stored in runtime_timer.arg
  bool active = false;          // a delivery is pending for the current arming
  bool released = false;        // the channel is gone; free once callbacks == 0
  std::int64_t period = 0;      // > 0 for tickers
  std::int32_t callbacks = 0;   // heap entries plus popped callbacks not yet run
};

namespace {

void* seq_arg(std::uint64_t seq) { return reinterpret_cast<void*>(static_cast<std::uintptr_t>(seq)); }

time_point steady_from_nanotime(std::int64_t ns) {
  // nanotime is CLOCK_MONOTONIC, the clock behind std::chrono::steady_clock on Linux.
  return time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::nanoseconds(ns)));
}

void fire(rt::timer* t, void* arg, std::int64_t now);

// Lock held, timer not in a heap: arms the current generation to fire at `when`.
void arm(timer_state* s, std::int64_t when) {
  s->runtime_timer.when = when;
  s->runtime_timer.period = 0;
  s->runtime_timer.f = &fire;
  s->runtime_timer.arg = seq_arg(s->seq);
  ++s->callbacks;
  rt::addtimer(&s->runtime_timer);
}

// Lock held: cancels the current generation. Returns true if a delivery was pending.
bool disarm(timer_state* s) {
  bool was_active = s->active;
  if (rt::deltimer(&s->runtime_timer)) --s->callbacks;
  // A callback popped before this point (if any) now sees a stale seq.
  ++s->seq;
  s->active = false;
  return was_active;
}

// Lock held: discards a value sent but not received. Returns true if there was one.
bool drain_unreceived(chan_core* c) {
  std::lock_guard<rt::runtime_lock> guard(c->lock);
  if (c->count.load(std::memory_order_relaxed) == 0) return false;
  alignas(time_point) unsigned char discarded[sizeof(time_point)];
  buffer_take(c, discarded);  // time_point is trivially destructible
  return true;
}

void fire(rt::timer* t, void* arg, std::int64_t now) {
  auto* s = reinterpret_cast<timer_state*>(t);
  bool free_state = false;
  {
    std::lock_guard<rt::runtime_lock> guard(s->lock);
    --s->callbacks;
    if (s->released) {
      free_state = s->callbacks == 0;
    } else if (arg == seq_arg(s->seq) && s->active) {
      time_point value = steady_from_nanotime(now);
      // Fails only when a tick is already waiting (tickers drop the surplus).
      (void)try_send_from_runtime(s->channel, &value);
      if (s->period > 0) {
        arm(s, rt::next_period(t->when, s->period, now));
      } else {
        s->active = false;
      }
    }
  }
  if (free_state) delete s;
}

// The channel's last handle is gone: stop for good and free the state if no callback can
// still reach it.
void release_state(void* arg) {
  auto* s = static_cast<timer_state*>(arg);
  bool free_state = false;
  {
    std::lock_guard<rt::runtime_lock> guard(s->lock);
    disarm(s);
    s->released = true;
    s->channel = nullptr;
    free_state = s->callbacks == 0;
  }
  if (free_state) delete s;
}

void require_runtime(const char* what) {
  if (!rt::runtime_running()) {
    throw panic_error(std::string(what) +
                      ": goro's runtime is not running; use timers inside goro::run");
  }
}

}  // namespace

timer_state* timer_start(chan_core* c, std::int64_t delay_ns, std::int64_t period_ns) {
  require_runtime("goro timer");
  // Registers a plain thread for deadlock detection. It does not enter runtime mode: addtimer
  // uses the goroutine's P (P 0 from a plain thread) under that P's timer lock.
  chan_scope scope;
  auto* s = new timer_state;
  s->channel = c;
  chan_set_timer_sync(c);
  chan_set_on_last_handle_released(c, &release_state, s);
  std::lock_guard<rt::runtime_lock> guard(s->lock);
  s->period = period_ns;
  s->active = true;
  arm(s, rt::when_after(rt::os::nanotime(), delay_ns));
  return s;
}

bool timer_stop(timer_state* s) noexcept {
  std::lock_guard<rt::runtime_lock> guard(s->lock);
  bool prevented = disarm(s);
  if (drain_unreceived(s->channel)) prevented = true;
  return prevented;
}

bool timer_reset(timer_state* s, std::int64_t delay_ns, std::int64_t period_ns) {
  require_runtime("goro timer reset");
  chan_scope scope;
  std::unique_lock<rt::runtime_lock> guard(s->lock);
  bool prevented = false;
  // A callback popped from the heap before disarm still reads the runtime timer's fields
  // until it runs; re-arming rewrites them, so wait for it first (it only takes the lock,
  // sees a stale seq and leaves). A concurrent reset may arm the timer while the lock is
  // released here, so disarm again on every turn: waiting for that arming's callback
  // would block this reset until its new delay had passed.
  for (;;) {
    if (disarm(s)) prevented = true;
    if (drain_unreceived(s->channel)) prevented = true;
    if (s->callbacks == 0) break;
    guard.unlock();
    // The callback runs on the M that popped it, not this one: an OS-level yield suffices.
    std::this_thread::yield();
    guard.lock();
  }
  s->period = period_ns;
  s->active = true;
  arm(s, rt::when_after(rt::os::nanotime(), delay_ns));
  return prevented;
}

}  // namespace goro::detail

namespace goro {

chan<time_point> after(std::chrono::nanoseconds d) {
  chan<time_point> c(1);
  detail::timer_start(c.core(), d.count(), 0);
  return c;
}

timer::timer(std::chrono::nanoseconds d)
    : channel_(1), state_(detail::timer_start(channel_.core(), d.count(), 0)) {}

bool timer::stop() noexcept {
  if (channel_.core() == nullptr) return false;  // moved from
  return detail::timer_stop(state_);
}

bool timer::reset(std::chrono::nanoseconds d) {
  if (channel_.core() == nullptr) return false;
  return detail::timer_reset(state_, d.count(), 0);
}

ticker::ticker(std::chrono::nanoseconds d) : channel_(1), state_(nullptr) {
  if (d.count() <= 0) throw panic_error("non-positive interval for NewTicker");
  state_ = detail::timer_start(channel_.core(), d.count(), d.count());
}

void ticker::stop() noexcept {
  if (channel_.core() != nullptr) detail::timer_stop(state_);
}

void ticker::reset(std::chrono::nanoseconds d) {
  if (d.count() <= 0) throw panic_error("non-positive interval for Ticker.Reset");
  if (channel_.core() != nullptr) detail::timer_reset(state_, d.count(), d.count());
}

}  // namespace goro
