// Sleeping and timers on goro's per-P timer heaps, which the scheduler services; no timer
// thread exists. A sleeping goroutine parks with wait reason "sleep".
//
// goro::after, goro::timer and goro::ticker follow Go 1.23's time package:
//   * their channels are synchronous: size() and capacity() report 0;
//   * once stop() or reset() returns, no receive sees a value prepared before the call;
//   * a timer or ticker nobody references any more costs nothing: when the last handle to
//     its channel goes away, it leaves the timer heap, even if it was never stopped;
//   * a ticker keeps at most one tick waiting for a slow receiver and drops the others.
//
//   goro::timer t(50ms);
//   goro::select(goro::on_recv(t.channel(), [](auto) { /* fired */ }),
//                goro::on_recv(done, [](auto) { /* cancelled */ }));
//
// Timers need a running goro::run: a timer created outside it throws panic_error.
#pragma once

#include <chrono>
#include <cstdint>

#include "goro/chan.hpp"
#include "goro/duration.hpp"
#include "goro/export.hpp"

namespace goro {

namespace detail {
GORO_EXPORT void sleep_ns(std::int64_t ns);

// The runtime side of a timer or ticker (src/lib/timer.cc). Owned by its channel: freed when
// the last channel handle goes away and no timer callback can run any more.
struct timer_state;
// Arms a timer that sends the current time on c (a fresh channel made with capacity 1 that
// has not been shared yet) after delay_ns, then every period_ns if period_ns > 0.
GORO_EXPORT timer_state* timer_start(chan_core* c, std::int64_t delay_ns, std::int64_t period_ns);
// Both return true if the call prevented a delivery: the timer was pending, or its value
// was in the channel and not received yet (that value is discarded).
GORO_EXPORT bool timer_stop(timer_state* s) noexcept;
GORO_EXPORT bool timer_reset(timer_state* s, std::int64_t delay_ns, std::int64_t period_ns);

}  // namespace detail

// Pauses the calling goroutine for at least d. A zero or negative d returns at once, as Go's
// time.Sleep does. On a plain thread (not a goroutine) it blocks the thread.
template <class Rep, class Period>
void sleep(std::chrono::duration<Rep, Period> d) {
  detail::sleep_ns(detail::to_ns(d));
}

// The value timer channels carry: the time on the steady clock when the timer fired.
using time_point = std::chrono::steady_clock::time_point;

// Go's time.After: a channel that receives the time once, after at least d. Dropping the
// channel before it fires releases the timer at once.
GORO_EXPORT chan<time_point> after(std::chrono::nanoseconds d);

// Go's time.Timer: sends the time on channel() once, after at least d (at once if d <= 0).
// Movable, not copyable; channel() handles keep the timer running after the object is gone.
class GORO_EXPORT timer {
 public:
  explicit timer(std::chrono::nanoseconds d);
  timer(timer&&) noexcept = default;
  timer& operator=(timer&&) noexcept = default;

  chan<time_point> channel() const { return channel_; }

  // Stops the timer. Returns true if that prevented a delivery, which includes discarding a
  // value that was sent but not yet received. Returns false if the value was already
  // received or the timer was already stopped.
  bool stop() noexcept;
  // Stops the timer as stop() does and re-arms it to fire after d. Returns what stop() would.
  bool reset(std::chrono::nanoseconds d);

 private:
  chan<time_point> channel_;
  detail::timer_state* state_;  // owned through channel_ (see detail::timer_state)
};

// Go's time.Ticker: sends the time on channel() every d; a receiver that falls behind gets
// one waiting tick, the others are dropped. Throws panic_error("non-positive interval for
// NewTicker") if d <= 0.
class GORO_EXPORT ticker {
 public:
  explicit ticker(std::chrono::nanoseconds d);
  ticker(ticker&&) noexcept = default;
  ticker& operator=(ticker&&) noexcept = default;

  chan<time_point> channel() const { return channel_; }

  // Stops the ticks; a tick waiting in the channel is discarded.
  void stop() noexcept;
  // Stops the ticker and restarts it with period d, the next tick d from now. Throws
  // panic_error("non-positive interval for Ticker.Reset") if d <= 0.
  void reset(std::chrono::nanoseconds d);

 private:
  chan<time_point> channel_;
  detail::timer_state* state_;
};

}  // namespace goro
