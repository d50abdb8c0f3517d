// Tests for goro's timers with Go 1.23 semantics: sleep never returns early, after/timer/ticker
// deliver on synchronous channels (size and capacity 0), the stop/reset truth table including a
// timer that fired but whose value nobody received, tickers dropping ticks for a slow receiver,
// unreferenced timers leaving the heap (a million after() selects stay flat in memory), and
// deadlock detection around timer channels (in child processes).
//
// Checks that something does NOT arrive wait a generous multiple of the timer's delay: a
// correct implementation passes them whatever the machine's speed.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "goro_fixture.h"
#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "lib/chan_core.h"
#include "runtime/os/futex.h"
#include "runtime/sched/runtime2.h"
#include "runtime/sched/sched.h"
#include "runtime/time/timer.h"

namespace {

using namespace std::chrono_literals;
using goro::time_point;
using goro_test::describe;
using goro_test::run_child;
using goro_test::scoped_env;
using steady = std::chrono::steady_clock;

#if defined(__has_feature)
#define GORO_TEST_HAS_FEATURE(x) __has_feature(x)
#else
#define GORO_TEST_HAS_FEATURE(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || GORO_TEST_HAS_FEATURE(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#if defined(__SANITIZE_THREAD__) || GORO_TEST_HAS_FEATURE(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
constexpr bool kSanitized = kAddressSanitizer || kThreadSanitizer;

class Timer : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(F&& main) {
    scoped_env godebug("GODEBUG", GetParam());
    scoped_env procs("GOMAXPROCS", "4");
    return goro::run(0, nullptr, std::forward<F>(main));
  }
};

INSTANTIATE_TEST_SUITE_P(Godebug, Timer, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

// A non-blocking receive: the value if one is ready now.
std::optional<time_point> poll(const goro::chan<time_point>& c) {
  std::optional<time_point> got;
  goro::select(goro::on_recv(c, [&](std::optional<time_point> v) { got = v; }),
               goro::on_default([] {}));
  return got;
}

// Yields until the timer behind c has put its value in the channel's buffer (which
// size() hides, as Go 1.23 does). Fails after 20 s instead of hanging.
bool wait_until_buffered(const goro::chan<time_point>& c) {
  auto deadline = steady::now() + 20s;
  while (c.core()->count.load(std::memory_order_relaxed) == 0) {
    if (steady::now() > deadline) {
      ADD_FAILURE() << "the timer did not fire within 20 s";
      return false;
    }
    goro::yield();
  }
  return true;
}

// --- sleep and after ------------------------------------------------------------------------

TEST_P(Timer, SleepNeverReturnsEarly) {
  run([] {
    for (auto d : {1ms, 10ms, 25ms}) {
      auto start = steady::now();
      goro::sleep(d);
      EXPECT_GE(steady::now() - start, d);
    }
  });
}

// Durations too long for int64 nanoseconds, or whose end is past the clock's range, wait
// forever, as in Go. They once wrapped into the past and ended at once. A timer due in the
// past fires before one due in 1 ms, so once after(1ms) has delivered, a wrapped timer
// would have delivered too.
TEST_P(Timer, LongestDurationsNeverEnd) {
  EXPECT_EQ(goro::detail::to_ns(std::chrono::nanoseconds::max()), INT64_MAX);
  EXPECT_EQ(goro::detail::to_ns(std::chrono::hours::max()), INT64_MAX);
  EXPECT_EQ(goro::detail::to_ns(std::chrono::hours::min()), INT64_MIN);
  EXPECT_EQ(goro::detail::to_ns(std::chrono::duration<double>(1.5e-9)), 2);
  EXPECT_EQ(goro::rt::when_after(100, INT64_MAX), goro::rt::kMaxWhen);
  EXPECT_EQ(goro::rt::when_after(100, -5), 100);
  EXPECT_EQ(goro::rt::next_period(INT64_MAX - 10, 100, INT64_MAX - 5), goro::rt::kMaxWhen);
  EXPECT_EQ(goro::rt::next_period(10, 4, 21), 22);

  run([] {
    std::atomic<int> sleepers_woken{0};
    goro::go([&] {
      goro::sleep(std::chrono::nanoseconds::max());
      sleepers_woken.fetch_add(1);
    });
    goro::go([&] {
      goro::sleep(std::chrono::hours::max());
      sleepers_woken.fetch_add(1);
    });
    goro::timer t(std::chrono::nanoseconds::max());
    goro::ticker tick(std::chrono::nanoseconds::max());
    auto a = goro::after(std::chrono::nanoseconds::max());
    auto [ctx, cancel] = goro::with_timeout(goro::background(), std::chrono::nanoseconds::max());

    goro::after(1ms).recv();
    goro::yield();
    EXPECT_FALSE(poll(t.channel()).has_value());
    EXPECT_FALSE(poll(tick.channel()).has_value());
    EXPECT_FALSE(poll(a).has_value());
    EXPECT_FALSE(ctx.err()) << ctx.err().message();
    EXPECT_EQ(sleepers_woken.load(), 0);
    EXPECT_TRUE(t.stop());
    tick.stop();
    cancel();
  });
}

TEST_P(Timer, AfterDeliversOnceAfterDelay) {
  run([] {
    auto start = steady::now();
    auto c = goro::after(20ms);
    EXPECT_EQ(c.size(), 0u);
    EXPECT_EQ(c.capacity(), 0u);
    std::optional<time_point> v = c.recv();
    ASSERT_TRUE(v.has_value());
    EXPECT_GE(steady::now() - start, 20ms);
    EXPECT_GE(*v - start, 20ms);
    goro::sleep(20ms);
    EXPECT_FALSE(poll(c).has_value()) << "after() delivered twice";
  });
}

TEST_P(Timer, ChannelReportsZeroWhenFired) {
  run([] {
    goro::timer t(1ms);
    auto c = t.channel();
    ASSERT_TRUE(wait_until_buffered(c));
    EXPECT_EQ(c.size(), 0u);
    EXPECT_EQ(c.capacity(), 0u);
    EXPECT_TRUE(poll(c).has_value());
  });
}

TEST_P(Timer, PlainThreadReceives) {
  run([] {
    auto start = steady::now();  // before the timer starts, as in TickerTicksRepeatedly
    auto c = goro::after(10ms);
    std::optional<time_point> got;
    std::thread plain([&] { got = c.recv(); });
    goro::blocking([&] { plain.join(); });
    EXPECT_TRUE(got.has_value());
    EXPECT_GE(steady::now() - start, 10ms);
  });
}

TEST_P(Timer, SelectWakesOnEarliestTimer) {
  run([] {
    auto start = steady::now();
    std::size_t chosen = goro::select(goro::on_recv(goro::after(1h), [](auto) {}),
                                      goro::on_recv(goro::after(15ms), [](auto) {}));
    EXPECT_EQ(chosen, 1u);
    EXPECT_GE(steady::now() - start, 15ms);
  });
}

// --- stop / reset truth table ---------------------------------------------------------------

TEST_P(Timer, StopPendingReturnsTrue) {
  run([] {
    goro::timer t(10ms);
    EXPECT_TRUE(t.stop());
    EXPECT_FALSE(t.stop()) << "second stop";
    goro::sleep(40ms);
    EXPECT_FALSE(poll(t.channel()).has_value()) << "a stopped timer delivered";
  });
}

TEST_P(Timer, StopFiredNotReceivedDrains) {
  run([] {
    goro::timer t(1ms);
    ASSERT_TRUE(wait_until_buffered(t.channel()));
    EXPECT_TRUE(t.stop()) << "the fired value was not received yet, so stop prevents it";
    EXPECT_FALSE(poll(t.channel()).has_value()) << "stale value received after stop";
    EXPECT_FALSE(t.stop());
  });
}

TEST_P(Timer, StopAfterReceiveReturnsFalse) {
  run([] {
    goro::timer t(1ms);
    EXPECT_TRUE(t.channel().recv().has_value());
    EXPECT_FALSE(t.stop());
  });
}

// Two goroutines reset one timer to an hour while it fires. A reset that waits for the fired
// callback must not wait for the other reset's new arming too: that would block it for the
// hour. The start is spun to land around the firing. Each round gives its resets 2 s.
TEST_P(Timer, ConcurrentResetsBothReturn) {
  constexpr int kRounds = 2000;
  run([] {
    std::mt19937 rng(3);
    for (int round = 0; round < kRounds; ++round) {
      goro::timer t(20us);
      std::atomic<bool> start{false};
      goro::chan<int> done(2);
      for (int k = 0; k < 2; ++k) {
        goro::go([&t, &start, done] {
          while (!start.load()) {
          }
          t.reset(1h);
          done.send(1);
        });
      }
      const auto spin_until = steady::now() + std::chrono::nanoseconds(15'000 + rng() % 10'000);
      while (steady::now() < spin_until) {
      }
      start.store(true);
      int returned = 0;
      bool timed_out = false;
      goro::timer limit(2s);
      while (returned < 2 && !timed_out) {
        goro::select(
            goro::on_recv(done, [&](std::optional<int>) { ++returned; }),
            goro::on_recv(limit.channel(), [&](std::optional<time_point>) { timed_out = true; }));
      }
      ASSERT_FALSE(timed_out) << "round " << round << ": a reset did not return within 2 s";
      t.stop();
    }
  });
}

// A timer, a ticker and a context deadline are created in one run and used after it. Their
// records once pointed at the run's freed P (ASan: heap-use-after-free in deltimer). A timer
// reset in a later run then never fired, and that run ended in a false deadlock.
GORO_CHILD_SCENARIO(timers_outlive_their_run) {
  std::optional<goro::timer> stopped;
  std::optional<goro::timer> reset;
  std::optional<goro::ticker> tick;
  std::optional<goro::context> ctx;
  goro::cancel_function cancel;
  goro::run(0, nullptr, [&] {
    stopped.emplace(1h);
    reset.emplace(1h);
    tick.emplace(1h);
    auto [c, f] = goro::with_timeout(goro::background(), 1h);
    ctx = c;
    cancel = f;
  });
  std::printf("stop after the run: %d\n", stopped->stop() ? 1 : 0);
  tick->stop();
  cancel();
  std::printf("context: %s\n", ctx->err().message().c_str());
  return goro::run(0, nullptr, [&] {
    reset->reset(1ms);
    const bool fired = reset->channel().recv().has_value();
    std::printf("fired in the next run: %d\n", fired ? 1 : 0);
    tick.reset();
    stopped.reset();
    reset.reset();
    return 0;
  });
}

TEST(TimerLifetime, TimersOutliveTheirRun) {
  auto r = goro_test::run_child("timers_outlive_their_run");
  ASSERT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 0) << goro_test::describe(r);
  EXPECT_NE(r.out.find("stop after the run: 1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("context: context canceled\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fired in the next run: 1\n"), std::string::npos) << goro_test::describe(r);
}

TEST_P(Timer, ResetPendingReturnsTrue) {
  run([] {
    goro::timer t(1h);
    auto start = steady::now();
    EXPECT_TRUE(t.reset(15ms));
    EXPECT_TRUE(t.channel().recv().has_value());
    EXPECT_GE(steady::now() - start, 15ms);
    goro::sleep(30ms);
    EXPECT_FALSE(poll(t.channel()).has_value()) << "reset timer delivered twice";
  });
}

TEST_P(Timer, ResetFiredNotReceivedDropsStaleValue) {
  run([] {
    goro::timer t(1ms);
    ASSERT_TRUE(wait_until_buffered(t.channel()));
    EXPECT_TRUE(t.reset(1h));
    EXPECT_FALSE(poll(t.channel()).has_value()) << "stale value received after reset";
    EXPECT_TRUE(t.stop());
  });
}

TEST_P(Timer, ResetAfterReceiveFiresAgain) {
  run([] {
    goro::timer t(1ms);
    EXPECT_TRUE(t.channel().recv().has_value());
    auto start = steady::now();
    EXPECT_FALSE(t.reset(10ms));
    std::optional<time_point> v = t.channel().recv();
    ASSERT_TRUE(v.has_value());
    EXPECT_GE(*v - start, 10ms);
  });
}

TEST_P(Timer, ResetStoppedFiresAgain) {
  run([] {
    goro::timer t(1h);
    EXPECT_TRUE(t.stop());
    EXPECT_FALSE(t.reset(5ms));
    EXPECT_TRUE(t.channel().recv().has_value());
  });
}

TEST_P(Timer, ZeroDelayFiresAtOnce) {
  run([] {
    goro::timer t(0ns);
    EXPECT_TRUE(t.channel().recv().has_value());
    EXPECT_TRUE(goro::after(-1s).recv().has_value());
  });
}

// Many goroutines stop and reset their timers at random moments around the firing time; a
// true stop must leave nothing to receive, and a reset timer must deliver exactly once.
TEST_P(Timer, StopResetStress) {
  constexpr int kGoroutines = 32;
  constexpr int kRounds = 100;
  std::atomic<int> stale{0};
  run([&] {
    goro::wait_group wg;
    wg.add(kGoroutines);
    for (int g = 0; g < kGoroutines; ++g) {
      goro::go([&, g] {
        for (int i = 0; i < kRounds; ++i) {
          goro::timer t(std::chrono::microseconds((g * 7 + i * 13) % 200));
          for (int spin = 0; spin < i % 5; ++spin) goro::yield();
          if (i % 2 == 0) {
            if (t.stop() && poll(t.channel()).has_value()) stale.fetch_add(1);
          } else {
            t.reset(std::chrono::microseconds(50));
            if (!t.channel().recv().has_value()) stale.fetch_add(1);
            if (poll(t.channel()).has_value()) stale.fetch_add(1);
          }
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(stale.load(), 0);
}

// --- ticker ---------------------------------------------------------------------------------

TEST_P(Timer, TickerTicksRepeatedly) {
  run([] {
    // The clock is read before the ticker starts, because its ticks are due at multiples of
    // 2 ms after its own start. A later read would shorten the measured time.
    auto start = steady::now();
    goro::ticker tk(2ms);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(tk.channel().recv().has_value());
    EXPECT_GE(steady::now() - start, 10ms);
    EXPECT_EQ(tk.channel().size(), 0u);
    EXPECT_EQ(tk.channel().capacity(), 0u);
  });
}

// A receiver that is 50 ticks late gets one waiting tick, and the next tick is a fresh one:
// the missed ticks were dropped, not queued.
TEST_P(Timer, TickerDropsTicksForSlowReceiver) {
  run([] {
    goro::ticker tk(1ms);
    goro::sleep(50ms);
    ASSERT_TRUE(tk.channel().recv().has_value());
    auto after_first = steady::now();
    std::optional<time_point> second = tk.channel().recv();
    ASSERT_TRUE(second.has_value());
    EXPECT_GE(*second, after_first - 1ms) << "a tick older than the first receive was queued";
  });
}

TEST_P(Timer, TickerStopAndReset) {
  run([] {
    goro::ticker tk(1ms);
    ASSERT_TRUE(tk.channel().recv().has_value());
    tk.stop();
    goro::sleep(20ms);
    EXPECT_FALSE(poll(tk.channel()).has_value()) << "tick after stop";
    auto start = steady::now();
    tk.reset(10ms);
    ASSERT_TRUE(tk.channel().recv().has_value());
    EXPECT_GE(steady::now() - start, 10ms);
    tk.stop();
  });
}

TEST_P(Timer, TickerRejectsNonPositiveInterval) {
  run([] {
    try {
      goro::ticker tk(0ns);
      ADD_FAILURE() << "ticker(0) did not throw";
    } catch (const goro::panic_error& e) {
      EXPECT_STREQ(e.what(), "non-positive interval for NewTicker");
    }
    goro::ticker tk(1h);
    EXPECT_THROW(tk.reset(-1ms), goro::panic_error);
  });
}

// --- memory: unreferenced timers leave the heap ---------------------------------------------

std::int64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long size = 0;
  long resident = 0;
  int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  if (n != 2) return -1;
  return static_cast<std::int64_t>(resident) * ::sysconf(_SC_PAGESIZE);
}

// Go 1.23's motivating case: time.After in a select loop. Each iteration makes a timer and a
// channel that nobody references once the select returns; without release on the last handle
// a million of them (about 200 bytes each plus a heap slot) would stay until they fire.
TEST_P(Timer, AfterInSelectLoopStaysFlat) {
  const int iterations = kSanitized ? 200'000 : 1'000'000;
  std::int64_t before = 0;
  std::int64_t after = 0;
  std::int32_t timers_left = -1;
  run([&] {
    // Warm up the allocator so that its first arenas are not counted as growth.
    for (int i = 0; i < 10'000; ++i) {
      goro::select(goro::on_recv(goro::after(1h), [](auto) {}), goro::on_default([] {}));
    }
    before = resident_bytes();
    int defaults = 0;
    for (int i = 0; i < iterations; ++i) {
      goro::select(goro::on_recv(goro::after(1h), [](auto) {}),
                   goro::on_default([&] { ++defaults; }));
    }
    after = resident_bytes();
    timers_left = goro::rt::sched.ntimers.load();
    EXPECT_EQ(defaults, iterations);
  });
  EXPECT_LE(timers_left, 1) << "timers still in the heaps";
  ASSERT_GT(before, 0);
  // ASan keeps freed blocks in its quarantine (256 MiB by default), so RSS says nothing there.
  if (kAddressSanitizer) GTEST_SKIP() << "RSS is not measurable under AddressSanitizer";
  // Leaked timers would cost well over 40 MB here even at 200 000 iterations (a timer state,
  // a channel block and a heap slot each); 32 MB leaves room for allocator noise.
  EXPECT_LT(after - before, std::int64_t{32} << 20)
      << "RSS grew from " << before << " to " << after << " bytes";
}

TEST_P(Timer, DroppedTimerObjectLeavesHeap) {
  std::int32_t during = -1;
  std::int32_t left = -1;
  run([&] {
    {
      std::vector<goro::timer> timers;
      for (int i = 0; i < 100; ++i) timers.emplace_back(1h);
      during = goro::rt::sched.ntimers.load();
    }
    left = goro::rt::sched.ntimers.load();
  });
  EXPECT_GE(during, 100);
  EXPECT_EQ(left, 0);
}

TEST_P(Timer, ChannelOutlivesTimerObject) {
  run([] {
    goro::chan<time_point> c = goro::chan<time_point>::nil();
    {
      goro::timer t(5ms);
      c = t.channel();
    }
    EXPECT_TRUE(c.recv().has_value()) << "the timer stopped with its object";
  });
}

// --- deadlock detection (child processes) ---------------------------------------------------

GORO_CHILD_SCENARIO(wait_on_timer_channel) {
  return goro::run(0, nullptr, [] {
    goro::timer t(30ms);
    t.channel().recv();
    std::puts("timer received");
    return 0;
  });
}

GORO_CHILD_SCENARIO(wait_on_stopped_timer) {
  return goro::run(0, nullptr, [] {
    goro::timer t(30ms);
    t.stop();
    t.channel().recv();
    return 0;
  });
}

GORO_CHILD_SCENARIO(wait_on_nil_channel) {
  return goro::run(0, nullptr, [] {
    goro::chan<time_point>::nil().recv();
    return 0;
  });
}

TEST(TimerDeadlock, PendingTimerIsNotDeadlock) {
  auto r = run_child("wait_on_timer_channel", {"GOMAXPROCS=1"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  EXPECT_NE(r.out.find("timer received"), std::string::npos) << describe(r);
}

TEST(TimerDeadlock, StoppedTimerChannelIsDeadlock) {
  auto r = run_child("wait_on_stopped_timer", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with("fatal error: all goroutines are asleep - deadlock!\n"))
      << describe(r);
  EXPECT_NE(r.err.find("goroutine 1 [chan receive]:"), std::string::npos) << describe(r);
}

TEST(TimerDeadlock, NilChannelIsDeadlock) {
  auto r = run_child("wait_on_nil_channel", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_NE(r.err.find("goroutine 1 [chan receive (nil chan)]:"), std::string::npos)
      << describe(r);
}

// Checks a P's timers under its lock. Every heap entry's copy of `when` matches its timer,
// every timer records where it is, and each heap parent is due no later than its children.
// Each sorted run is linked both ways in `when` order, the run count is right, and
// timer0_when is the earliest `when` of all.
void check_timers_structure(goro::rt::P* pp) {
  namespace rt = goro::rt;
  std::lock_guard<rt::runtime_lock> guard(pp->timers_lock);
  std::int64_t earliest = 0;
  auto note = [&earliest](std::int64_t when) {
    if (earliest == 0 || when < earliest) earliest = when;
  };
  for (std::int32_t i = 0; i < pp->timers_len; ++i) {
    const rt::timer_when& e = pp->timers[i];
    ASSERT_EQ(e.when, e.t->when) << "heap entry " << i;
    ASSERT_EQ(e.t->index, i) << "heap entry " << i;
    ASSERT_EQ(e.t->pp.load(), pp) << "heap entry " << i;
    if (i > 0) {
      ASSERT_LE(pp->timers[(i - 1) / 4].when, e.when) << "heap entry " << i;
    }
    note(e.when);
  }
  std::int32_t in_runs = 0;
  for (int r = 0; r < rt::kTimerRuns; ++r) {
    const rt::timer* prev = nullptr;
    for (const rt::timer* t = pp->timer_run_head[r]; t != nullptr; t = t->next) {
      ASSERT_EQ(t->index, rt::run_index(r)) << "run " << r << " timer " << in_runs;
      ASSERT_EQ(t->prev, prev) << "run " << r;
      ASSERT_EQ(t->pp.load(), pp) << "run " << r;
      if (prev != nullptr) {
        ASSERT_LE(prev->when, t->when) << "run " << r << " is out of order";
      }
      note(t->when);
      prev = t;
      ++in_runs;
    }
    ASSERT_EQ(pp->timer_run_tail[r], prev) << "run " << r;
  }
  ASSERT_EQ(in_runs, pp->timer_run_len);
  ASSERT_EQ(pp->timer0_when.load(), earliest);
}

// Records each fired timer's `when` in the vector that arg points to.
void record_when(goro::rt::timer* t, void* arg, std::int64_t) {
  static_cast<std::vector<std::int64_t>*>(arg)->push_back(t->when);
}

// Far enough ahead that the scheduler never runs the timers by itself.
std::int64_t an_hour_from_now() {
  return goro::rt::os::nanotime() + std::int64_t{3600} * 1'000'000'000;
}

// A P's timers keep their order and bookkeeping through adds, deletes from any position
// and re-adds, with deadlines in random order, so most go to the heap and a few into sorted
// runs. Draining fires the survivors in time order, and deleted timers never fire.
TEST(TimerHeap, KeepsOrderThroughAddsAndDeletes) {
  scoped_env procs("GOMAXPROCS", "1");
  goro::run(0, nullptr, [] {
    namespace rt = goro::rt;
    constexpr int kTimers = 3000;
    std::vector<rt::timer> timers(kTimers);
    std::vector<std::int64_t> fired;
    std::vector<bool> pending(kTimers, false);
    std::mt19937_64 rng(7);
    const std::int64_t base = an_hour_from_now();

    rt::runtime_mode mode;
    rt::P* pp = mode.p();
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < kTimers; ++i) {
        if (pending[i]) continue;
        // Many equal deadlines, so that ties are exercised too.
        timers[i].when = base + static_cast<std::int64_t>(rng() % 5000);
        timers[i].f = record_when;
        timers[i].arg = &fired;
        rt::addtimer(&timers[i]);
        pending[i] = true;
      }
      check_timers_structure(pp);
      EXPECT_GT(pp->timers_len, kTimers / 2) << "random deadlines should mostly go to the heap";
      for (int i = 0; i < kTimers; ++i) {
        if (rng() % 3 != 0) continue;
        EXPECT_TRUE(rt::deltimer(&timers[i])) << "timer " << i;
        EXPECT_FALSE(rt::deltimer(&timers[i])) << "timer " << i;
        pending[i] = false;
      }
      check_timers_structure(pp);
    }

    const auto survivors = std::count(pending.begin(), pending.end(), true);
    std::int64_t next = 0;
    rt::check_timers(pp, std::numeric_limits<std::int64_t>::max(), &next);
    EXPECT_EQ(next, 0);
    EXPECT_EQ(static_cast<std::int64_t>(fired.size()), survivors);
    EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
    EXPECT_EQ(rt::timer_count(pp), 0);
  });
}

// Timers set for a few fixed durations (a worker's sleeps, connections' deadlines) arrive
// in order per duration, so they go into sorted runs, not the heap. One more sequence than
// there are runs spills into the heap. Deleting a run's head, tail or a middle timer keeps the
// links, and the runs and the heap fire together in time order.
TEST(TimerHeap, SortedRunsTakeTimersSetInOrder) {
  scoped_env procs("GOMAXPROCS", "1");
  goro::run(0, nullptr, [] {
    namespace rt = goro::rt;
    constexpr int kPerSequence = 200;
    constexpr int kSequences = rt::kTimerRuns + 1;
    std::vector<rt::timer> timers(kPerSequence * kSequences);
    std::vector<std::int64_t> fired;
    const std::int64_t base = an_hour_from_now();

    rt::runtime_mode mode;
    rt::P* pp = mode.p();
    // Sequence s starts later than s + 1 and interleaves with the others, as timers of
    // different durations set one after another do. Each sequence's deadlines increase.
    for (int k = 0; k < kPerSequence; ++k) {
      for (int s = 0; s < kSequences; ++s) {
        rt::timer& t = timers[k * kSequences + s];
        t.when = base + (kSequences - s) * 1'000'000 + k * 1000;
        t.f = record_when;
        t.arg = &fired;
        rt::addtimer(&t);
      }
    }
    check_timers_structure(pp);
    EXPECT_EQ(pp->timer_run_len, kPerSequence * rt::kTimerRuns);
    EXPECT_EQ(pp->timers_len, kPerSequence) << "the sequence beyond the runs goes to the heap";

    // A head, a tail and a middle timer of a run, and one heap timer.
    rt::timer* head = pp->timer_run_head[0];
    rt::timer* tail = pp->timer_run_tail[1];
    rt::timer* middle = pp->timer_run_head[2]->next->next;
    rt::timer* in_heap = pp->timers[pp->timers_len / 2].t;
    std::vector<std::int64_t> deleted;
    for (rt::timer* t : {head, tail, middle, in_heap}) {
      deleted.push_back(t->when);
      EXPECT_TRUE(rt::deltimer(t));
      EXPECT_FALSE(rt::deltimer(t));
      check_timers_structure(pp);
    }

    std::int64_t next = 0;
    rt::check_timers(pp, base + 2'500'000, &next);  // the first two sequences' worth
    check_timers_structure(pp);
    EXPECT_EQ(next, pp->timer0_when.load());
    rt::check_timers(pp, std::numeric_limits<std::int64_t>::max(), &next);
    EXPECT_EQ(next, 0);
    EXPECT_EQ(fired.size(), timers.size() - deleted.size());
    EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
    for (std::int64_t when : deleted) {
      EXPECT_EQ(std::count(fired.begin(), fired.end(), when), 0) << "a deleted timer fired";
    }
    EXPECT_EQ(rt::timer_count(pp), 0);
  });
}

TEST(TimerOutsideRun, Throws) {
  EXPECT_THROW(goro::timer(1ms), goro::panic_error);
}

}  // namespace
