// Tests for goro::metrics: goroutine counts by state against a known set of parked,
// sleeping and blocked goroutines, a network poller waiter, thread and P counts, stack
// memory, the scheduler latency histogram's sample count and bucket layout, the printed
// table, and misuse.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include "goro_fixture.h"
#include "goro/chan.hpp"
#include "goro/metrics.hpp"
#include "goro/runtime.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "goro/trace.hpp"
#include "runtime/netpoll/netpoll.h"
#include "runtime/trace/latency_histogram.h"

namespace {

using namespace std::chrono_literals;
using goro_test::yield_until;

class Metrics : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(F&& main, const char* gomaxprocs) {
    return goro_test::run_with_godebug(GetParam(), gomaxprocs, std::forward<F>(main));
  }
};

INSTANTIATE_TEST_SUITE_P(Godebug, Metrics, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

constexpr int kReceivers = 10;
constexpr int kSleepers = 3;

TEST_P(Metrics, CountsMatchParkedGoroutines) {
  run([] {
    goro::chan<int> never;
    for (int i = 0; i < kReceivers; ++i) {
      goro::go([never] { (void)never.recv(); });
    }
    for (int i = 0; i < kSleepers; ++i) {
      goro::go([] { goro::sleep(1h); });
    }

    // A goroutine blocked in a call, on a pipe that main writes to at the end.
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    goro::wait_group blocked_done;
    blocked_done.add(1);
    goro::go([&] {
      char byte = 0;
      goro::blocking([&] { return ::read(fds[0], &byte, 1); });
      blocked_done.done();
    });

    goro::metrics::sample s;
    yield_until([&] {
      s = goro::metrics::read();
      return s.goroutines_waiting == kReceivers + kSleepers && s.goroutines_syscall == 1;
    });
    EXPECT_EQ(s.goroutines, 1 + kReceivers + kSleepers + 1);
    EXPECT_EQ(s.goroutines_running, 1);
    EXPECT_EQ(s.goroutines_runnable, 0);
    EXPECT_EQ(s.goroutines_waiting, kReceivers + kSleepers);
    EXPECT_EQ(s.goroutines_syscall, 1);
    EXPECT_EQ(s.timers, static_cast<std::int64_t>(kSleepers));
    EXPECT_EQ(s.netpoll_waiters, 0);
    EXPECT_EQ(s.gomaxprocs, 2);
    EXPECT_EQ(s.procs, 2);
    EXPECT_EQ(s.runqueue_local.size(), 2u);
    EXPECT_GE(s.threads, 2);  // main's thread, the blocked call's, maybe sysmon and others
    EXPECT_LE(s.threads_idle, s.threads);
    EXPECT_GE(s.stack_inuse_bytes, static_cast<std::uint64_t>(s.goroutines) * 16 * 1024);
    EXPECT_LE(s.stack_inuse_bytes, s.stack_reserved_bytes);

    char byte = 1;
    ASSERT_EQ(::write(fds[1], &byte, 1), 1);
    blocked_done.wait();
    ::close(fds[0]);
    ::close(fds[1]);
    s = goro::metrics::read();
    EXPECT_EQ(s.goroutines_syscall, 0);
  }, "2");
}

TEST_P(Metrics, CountsNetpollWaiter) {
  run([] {
    int sockets[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sockets), 0);
    goro::rt::poll_desc* pd = goro::rt::poll_open(sockets[0]);
    ASSERT_NE(pd, nullptr);
    goro::wait_group done;
    done.add(1);
    goro::go([&] {
      // Nothing was written yet, so the wait parks until main writes.
      EXPECT_EQ(goro::rt::poll_reset(pd, goro::rt::poll_mode::read), goro::rt::poll_status::ok);
      EXPECT_EQ(goro::rt::poll_wait(pd, goro::rt::poll_mode::read), goro::rt::poll_status::ok);
      done.done();
    });

    // The poller counts the waiter just before the goroutine parks, so wait for both.
    goro::metrics::sample s;
    yield_until([&] {
      s = goro::metrics::read();
      return s.netpoll_waiters == 1 && s.goroutines_waiting == 1;
    });
    EXPECT_EQ(s.netpoll_waiters, 1);
    EXPECT_EQ(s.goroutines_waiting, 1);

    ASSERT_EQ(::write(sockets[1], "x", 1), 1);
    done.wait();
    EXPECT_EQ(goro::metrics::read().netpoll_waiters, 0);
    goro::rt::poll_close(pd);
    ::close(sockets[0]);
    ::close(sockets[1]);
  }, "2");
}

// Returns how many times `needle` occurs in `text`.
std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST_P(Metrics, LatencyHistogramCountsEachStart) {
  constexpr int kGoroutines = 50;
  run([] {
    // The trace counts the transitions to runnable while collection is on. Each is followed
    // by exactly one start, so each adds one sample: every goroutine's creation, main's
    // unblock from wg.wait, and any yield or sysmon preemption, which depend on timing.
    std::ostringstream trace;
    goro::trace::start(trace);
    EXPECT_FALSE(goro::metrics::collect_sched_latencies(true));
    goro::wait_group wg;
    wg.add(kGoroutines);
    for (int i = 0; i < kGoroutines; ++i) goro::go([&wg] { wg.done(); });
    wg.wait();
    // Every goroutine must have exited, so none is runnable and not yet started.
    yield_until([] { return goro::num_goroutine() == 1; });
    EXPECT_TRUE(goro::metrics::collect_sched_latencies(false));
    goro::trace::stop();

    std::string events = trace.str();
    std::size_t creates = count_of(events, "\"name\":\"GoCreate\"");
    std::size_t runnable = creates + count_of(events, "\"name\":\"GoUnblock\"") +
                           count_of(events, "\"name\":\"GoSched\"") +
                           count_of(events, "\"name\":\"GoPreempt\"");
    EXPECT_EQ(creates, static_cast<std::size_t>(kGoroutines));
    goro::metrics::sample s = goro::metrics::read();
    EXPECT_EQ(s.sched_latencies.total(), runnable);
    EXPECT_GE(s.sched_latencies.total(), static_cast<std::uint64_t>(kGoroutines));
    EXPECT_FALSE(s.sched_latencies_collected);

    // Off: more scheduling adds nothing.
    std::uint64_t before = s.sched_latencies.total();
    wg.add(kGoroutines);
    for (int i = 0; i < kGoroutines; ++i) goro::go([&wg] { wg.done(); });
    wg.wait();
    EXPECT_EQ(goro::metrics::read().sched_latencies.total(), before);
  }, "1");
}

TEST_P(Metrics, LatencyCollectionStartsOffInEachRun) {
  run([] { goro::metrics::collect_sched_latencies(true); }, "1");
  run([] {
    goro::metrics::sample s = goro::metrics::read();
    EXPECT_FALSE(s.sched_latencies_collected);
    EXPECT_EQ(s.sched_latencies.total(), 0u);
  }, "1");
}

TEST(MetricsGodebug, SchedLatencyKeyCollectsFromStart) {
  goro_test::run_with_godebug("goroschedlatency=1", "1", [] {
    goro::wait_group wg;
    wg.add(1);
    goro::go([&wg] { wg.done(); });
    wg.wait();
    goro::metrics::sample s = goro::metrics::read();
    EXPECT_TRUE(s.sched_latencies_collected);
    // At least the main goroutine's first run and the new goroutine's.
    EXPECT_GE(s.sched_latencies.total(), 2u);
  });
}

TEST(MetricsHistogram, BucketLayout) {
  using namespace goro::rt;
  goro::metrics::histogram h;
  goro::run(0, nullptr, [&] { h = goro::metrics::read().sched_latencies; });
  ASSERT_EQ(h.counts.size(), static_cast<std::size_t>(kLatencyBuckets));
  ASSERT_EQ(h.boundaries.size(), h.counts.size() + 1);
  EXPECT_EQ(h.boundaries[0], 0.0);
  EXPECT_DOUBLE_EQ(h.boundaries[1], 512e-9);
  EXPECT_TRUE(std::isinf(h.boundaries.back()));
  for (std::size_t i = 1; i < h.boundaries.size(); ++i) {
    EXPECT_LT(h.boundaries[i - 1], h.boundaries[i]) << "at boundary " << i;
  }
  // Every value lands in the bucket whose bounds contain it.
  for (std::int64_t ns : {0LL, 511LL, 512LL, 700LL, 1000LL, 123456LL, 10'000'000'000LL}) {
    int b = latency_bucket(ns);
    EXPECT_LE(latency_bucket_lower_ns(b), ns) << ns;
    if (b + 1 < kLatencyBuckets) {
      EXPECT_GT(latency_bucket_lower_ns(b + 1), ns) << ns;
    }
  }
}

TEST(MetricsHistogram, QuantileUpperBound) {
  goro::metrics::histogram h;
  h.boundaries = {0, 1, 2, 4, INFINITY};
  h.counts = {0, 90, 9, 1};
  EXPECT_EQ(h.total(), 100u);
  EXPECT_EQ(h.quantile_upper_bound(0.5), 2);
  EXPECT_EQ(h.quantile_upper_bound(0.9), 2);
  EXPECT_EQ(h.quantile_upper_bound(0.95), 4);
  EXPECT_TRUE(std::isinf(h.quantile_upper_bound(1.0)));
  EXPECT_EQ(goro::metrics::histogram{}.quantile_upper_bound(0.5), 0);
}

TEST(MetricsPrint, TableNamesEveryMetric) {
  std::string text;
  goro::run(0, nullptr, [&] {
    goro::metrics::collect_sched_latencies(true);
    goro::chan<int> c;
    goro::go([c] { c.send(1); });
    (void)c.recv();
    text = goro::metrics::to_string(goro::metrics::read());
  });
  for (const char* name :
       {"/sched/goroutines:goroutines", "/sched/goroutines/running:goroutines",
        "/sched/goroutines/runnable:goroutines", "/sched/goroutines/waiting:goroutines",
        "/sched/goroutines/not-in-go:goroutines", "/sched/threads/total:threads",
        "/sched/threads/idle:threads", "/sched/threads/spinning:threads",
        "/sched/gomaxprocs:threads", "/sched/procs/total:procs", "/sched/procs/idle:procs",
        "/sched/runqueue/global:goroutines", "/sched/runqueue/local:goroutines",
        "/sched/timers/pending:timers", "/sched/netpoll/waiters:goroutines",
        "/memory/stacks/inuse:bytes", "/memory/stacks/reserved:bytes",
        "/sched/latencies:seconds"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name << " missing from:\n" << text;
  }
  EXPECT_NE(text.find("p50<="), std::string::npos) << text;
}

TEST(MetricsApi, ReadOutsideRunFails) {
  try {
    (void)goro::metrics::read();
    ADD_FAILURE() << "read outside goro::run did not throw";
  } catch (const goro::panic_error& e) {
    EXPECT_NE(std::string(e.what()).find("called outside goro::run"), std::string::npos)
        << e.what();
  }
}

}  // namespace
