// Tests for goro::chan: capacity and length, FIFO order (buffered and across parked senders),
// close semantics, Go's panic texts, element types (empty, move-only), range-for, plain
// threads talking to goroutines, deadlock reports for nil channels, and stress with many
// producers and consumers.
//
// In-process cases boot the runtime once per case and run twice: plainly and with
// GODEBUG=goromigrate=1, which moves a goroutine to another thread at every park, so channel
// code that caches thread-local state fails there.
#include "goro/chan.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "child_process.h"
#include "goro_fixture.h"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/sync.hpp"
#include "goro/thread.hpp"
#include "runtime/sched/runtime2.h"
#include "runtime/sched/sched.h"

namespace {

using goro_test::scoped_env;

class Chan : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(F&& main, const char* gomaxprocs = nullptr) {
    return goro_test::run_with_godebug(GetParam(), gomaxprocs, std::forward<F>(main));
  }
};

INSTANTIATE_TEST_SUITE_P(Godebug, Chan, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

// Returns the what() of the panic_error f throws, or "" if it throws none.
template <class F>
std::string panic_text(F&& f) {
  try {
    f();
  } catch (const goro::panic_error& e) {
    return e.what();
  }
  return "";
}

TEST(ChanHandle, SizeAndCapacity) {
  goro::chan<int> unbuffered;
  EXPECT_EQ(unbuffered.size(), 0u);
  EXPECT_EQ(unbuffered.capacity(), 0u);
  goro::chan<int> zero(0);
  EXPECT_EQ(zero.capacity(), 0u);
  goro::chan<int> one(1);
  EXPECT_EQ(one.capacity(), 1u);
  one.send(7);
  EXPECT_EQ(one.size(), 1u);
  goro::chan<int> many(10);
  for (int i = 0; i < 4; ++i) many.send(i);
  EXPECT_EQ(many.size(), 4u);
  EXPECT_EQ(many.capacity(), 10u);
  many.recv();
  EXPECT_EQ(many.size(), 3u);
  many.close();
  EXPECT_EQ(many.size(), 3u) << "len still counts undrained values after close";
  auto nil = goro::chan<int>::nil();
  EXPECT_EQ(nil.size(), 0u);
  EXPECT_EQ(nil.capacity(), 0u);
}

TEST(ChanHandle, CopiesShareTheChannel) {
  goro::chan<int> a(2);
  goro::chan<int> b = a;
  EXPECT_TRUE(a == b);
  b.send(5);
  EXPECT_EQ(a.recv(), 5);
  goro::chan<int> c(2);
  EXPECT_FALSE(a == c);
  c = a;
  EXPECT_TRUE(a == c);
  goro::chan<int> moved = std::move(c);
  EXPECT_TRUE(moved == a);
  EXPECT_TRUE(goro::chan<int>::nil() == goro::chan<int>::nil());
}

TEST(ChanHandle, PanicsUseGoText) {
  goro::chan<int> c(1);
  c.close();
  EXPECT_EQ(panic_text([&] { c.send(1); }), "send on closed channel");
  EXPECT_EQ(panic_text([&] { c.close(); }), "close of closed channel");
  EXPECT_EQ(panic_text([] { goro::chan<int>::nil().close(); }), "close of nil channel");
  EXPECT_EQ(panic_text([] { goro::chan<char> huge(std::size_t{1} << 60); }),
            "makechan: size out of range");
}

TEST(ChanHandle, BufferedFifoAndCloseDrains) {
  goro::chan<std::string> c(5);
  for (int i = 0; i < 5; ++i) c.send("v" + std::to_string(i));
  c.close();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.recv(), "v" + std::to_string(i));
  EXPECT_EQ(c.recv(), std::nullopt);
  EXPECT_EQ(c.recv(), std::nullopt) << "a closed, drained channel returns nullopt every time";
}

TEST(ChanHandle, ZeroSizeAndMoveOnlyElements) {
  struct empty {};
  goro::chan<empty> e(3);
  e.send(empty{});
  e.send({});
  EXPECT_EQ(e.size(), 2u);
  EXPECT_TRUE(e.recv().has_value());
  // No storage per slot, as Go's make(chan struct{}, 1<<40).
  goro::chan<empty> huge(std::size_t{1} << 40);
  EXPECT_EQ(huge.capacity(), std::size_t{1} << 40);
  for (int i = 0; i < 1000; ++i) huge.send({});
  EXPECT_EQ(huge.size(), 1000u);
  EXPECT_TRUE(huge.recv().has_value());
  goro::chan<std::monostate> m(1);
  m.send({});
  EXPECT_TRUE(m.recv().has_value());

  goro::chan<std::unique_ptr<int>> p(2);
  p.send(std::make_unique<int>(41));
  p.send(std::make_unique<int>(42));
  p.close();
  int sum = 0;
  for (auto& v : p) sum += *v;
  EXPECT_EQ(sum, 83);

  // Move-constructible but not assignable: range-for constructs each value in place.
  struct message {
    const int id;
  };
  goro::chan<message> q(2);
  q.send(message{1});
  q.send(message{2});
  q.close();
  int ids = 0;
  for (const message& msg : q) ids += msg.id;
  EXPECT_EQ(ids, 3);
}

TEST(ChanHandle, BufferedValuesDestroyedWithTheChannel) {
  auto token = std::make_shared<int>(0);
  {
    goro::chan<std::shared_ptr<int>> c(4);
    c.send(token);
    c.send(token);
    EXPECT_EQ(token.use_count(), 3);
  }
  EXPECT_EQ(token.use_count(), 1) << "the last handle frees buffered values";
}

TEST_P(Chan, UnbufferedRendezvousAndRangeFor) {
  std::int64_t sum = 0;
  run([&] {
    goro::chan<std::int64_t> c;
    goro::go([c] {
      for (std::int64_t i = 1; i <= 1000; ++i) c.send(i);
      c.close();
    });
    for (std::int64_t v : c) sum += v;
  });
  EXPECT_EQ(sum, 500500);
}

TEST_P(Chan, FifoAcrossParkedSenders) {
  // Senders park in order on a full buffer; receives must see buffer values first, then the
  // parked senders' values in the order they parked.
  std::vector<int> got;
  run(
      [&] {
        goro::chan<int> c(3);
        for (int i = 0; i < 3; ++i) c.send(i);
        goro::chan<int> parked(1);
        for (int i = 3; i < 8; ++i) {
          // Start sender i and wait until it is parked (the buffer is full, so it must be).
          goro::chan<bool> started;
          goro::go([c, started, i] {
            started.send(true);
            c.send(i);
          });
          started.recv();
          // Let the sender reach its send: yield until nothing else is runnable for it. The
          // order check below would fail if a later sender overtook an earlier one.
          for (int k = 0; k < 50; ++k) goro::yield();
        }
        for (int i = 0; i < 8; ++i) got.push_back(c.recv().value());
      },
      "1");
  ASSERT_EQ(got.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i);
}

TEST_P(Chan, CloseWakesEveryReceiverAndSender) {
  int receivers_woken = 0;
  int senders_panicked = 0;
  run(
      [&] {
        goro::chan<int> r;
        goro::chan<int> s;
        goro::chan<int> done(20);
        for (int i = 0; i < 10; ++i) {
          goro::go([r, done] { done.send(r.recv().has_value() ? 1 : 0); });
          goro::go([s, done] {
            try {
              s.send(1);
              done.send(2);
            } catch (const goro::panic_error& e) {
              done.send(std::string(e.what()) == "send on closed channel" ? 3 : 4);
            }
          });
        }
        // Wait until all 20 are parked: with one P and the main goroutine yielding, each has
        // run to its blocking operation.
        for (int k = 0; k < 100; ++k) goro::yield();
        r.close();
        s.close();
        for (int i = 0; i < 20; ++i) {
          int v = done.recv().value();
          if (v == 0) ++receivers_woken;
          if (v == 3) ++senders_panicked;
        }
      },
      "1");
  EXPECT_EQ(receivers_woken, 10);
  EXPECT_EQ(senders_panicked, 10);
}

TEST_P(Chan, ValuesSentBeforeCloseAreStillReceived) {
  std::vector<int> got;
  run([&] {
    goro::chan<int> c(4);
    goro::chan<bool> closed;
    goro::go([c, closed] {
      c.send(1);
      c.send(2);
      c.close();
      closed.send(true);
    });
    closed.recv();
    while (auto v = c.recv()) got.push_back(*v);
  });
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
}

TEST_P(Chan, PlainThreadsAndGoroutinesExchange) {
  std::int64_t sum_in_goroutine = 0;
  std::int64_t sum_in_thread = 0;
  run([&] {
    goro::chan<std::int64_t> to_goroutine;  // unbuffered: every send blocks the thread
    goro::chan<std::int64_t> to_thread;
    std::promise<void> registered;
    std::thread t([&] {
      // A plain thread counts as a possible waker for deadlock detection from its first
      // channel operation on; until then a goroutine waiting for it would look deadlocked.
      // So the thread makes one first, and main waits for that through a blocking call.
      goro::chan<bool>(1).send(true);
      registered.set_value();
      for (std::int64_t i = 1; i <= 2000; ++i) to_goroutine.send(i);
      to_goroutine.close();
      for (auto v : to_thread) sum_in_thread += v;
    });
    goro::blocking([&] { registered.get_future().wait(); });
    goro::chan<bool> done;
    goro::go([&, done] {
      for (auto v : to_goroutine) sum_in_goroutine += v;
      for (std::int64_t i = 1; i <= 2000; ++i) to_thread.send(i * 2);
      to_thread.close();
      done.send(true);
    });
    done.recv();
    goro::blocking([&] { t.join(); });
  });
  EXPECT_EQ(sum_in_goroutine, 2001000);
  EXPECT_EQ(sum_in_thread, 4002000);
}

TEST(ChanThreads, PlainThreadsWithoutRuntime) {
  // Channels work between plain threads alone: a receiver blocks its thread.
  goro::chan<int> c;
  std::int64_t sum = 0;
  std::thread receiver([&] {
    for (int v : c) sum += v;
  });
  for (int i = 0; i < 1000; ++i) c.send(i);
  c.close();
  receiver.join();
  EXPECT_EQ(sum, 499500);
}

TEST_P(Chan, StressManyProducersAndConsumers) {
  constexpr int kProducers = 8;
  constexpr int kConsumers = 8;
  constexpr std::int64_t kPerProducer = 20000;
  for (std::size_t capacity : {std::size_t{0}, std::size_t{1}, std::size_t{64}}) {
    std::atomic<std::int64_t> sum{0};
    std::atomic<std::int64_t> count{0};
    run(
        [&] {
          goro::chan<std::int64_t> c(capacity);
          goro::chan<bool> producers_done(kProducers);
          goro::chan<bool> consumers_done(kConsumers);
          for (int p = 0; p < kProducers; ++p) {
            goro::go([=] {
              for (std::int64_t i = 1; i <= kPerProducer; ++i) c.send(i);
              producers_done.send(true);
            });
          }
          for (int k = 0; k < kConsumers; ++k) {
            goro::go([&, c, consumers_done] {
              std::int64_t local = 0;
              std::int64_t n = 0;
              for (auto v : c) {
                local += v;
                ++n;
              }
              sum += local;
              count += n;
              consumers_done.send(true);
            });
          }
          for (int p = 0; p < kProducers; ++p) producers_done.recv();
          c.close();
          for (int k = 0; k < kConsumers; ++k) consumers_done.recv();
        },
        "4");
    EXPECT_EQ(count.load(), kProducers * kPerProducer) << "capacity " << capacity;
    EXPECT_EQ(sum.load(), kProducers * (kPerProducer * (kPerProducer + 1) / 2))
        << "capacity " << capacity;
  }
}

// --- Deadlock detection ---------------------------------------------------------------------

GORO_CHILD_SCENARIO(nil_chan_recv_deadlock) {
  return goro::run(0, nullptr, [] { goro::chan<int>::nil().recv(); });
}

GORO_CHILD_SCENARIO(nil_chan_send_deadlock) {
  return goro::run(0, nullptr, [] { goro::chan<int>::nil().send(1); });
}

GORO_CHILD_SCENARIO(unbuffered_recv_deadlock) {
  return goro::run(0, nullptr, [] { goro::chan<int>().recv(); });
}

TEST(ChanDeadlock, NilChannelReceiveIsReported) {
  auto r = goro_test::run_child("nil_chan_recv_deadlock");
  ASSERT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 2) << goro_test::describe(r);
  EXPECT_NE(r.err.find("fatal error: all goroutines are asleep - deadlock!"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("goroutine 1 [chan receive (nil chan)]:"), std::string::npos) << r.err;
}

TEST(ChanDeadlock, NilChannelSendAndPlainReceiveAreReported) {
  auto r = goro_test::run_child("nil_chan_send_deadlock");
  EXPECT_EQ(r.exit_status, 2) << goro_test::describe(r);
  EXPECT_NE(r.err.find("goroutine 1 [chan send (nil chan)]:"), std::string::npos) << r.err;
  r = goro_test::run_child("unbuffered_recv_deadlock");
  EXPECT_EQ(r.exit_status, 2) << goro_test::describe(r);
  EXPECT_NE(r.err.find("goroutine 1 [chan receive]:"), std::string::npos) << r.err;
}

GORO_CHILD_SCENARIO(recv_inside_blocking_deadlock) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> c;
    goro::blocking([&] { c.recv(); });
  });
}

// A receive inside goro::blocking parks the goroutine, so a receive that no goroutine can serve is a
// deadlock like any other, reported with the receive's wait reason.
TEST(ChanDeadlock, ReceiveInsideBlockingIsReported) {
  auto r = goro_test::run_child("recv_inside_blocking_deadlock");
  ASSERT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 2) << goro_test::describe(r);
  EXPECT_TRUE(r.err.starts_with("fatal error: all goroutines are asleep - deadlock!")) << r.err;
  EXPECT_NE(r.err.find("goroutine 1 [chan receive]:"), std::string::npos) << r.err;
}

GORO_CHILD_SCENARIO(thread_sends_later) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> started(1);
    goro::chan<int> data;
    goro::chan<int> release(1);
    std::promise<void> registered;
    std::thread t([&] {
      started.send(1);  // the thread has now used a channel: it counts as a possible waker
      registered.set_value();
      // Busy outside goro's primitives while the goroutine is parked on `data`; polling
      // `release` without blocking keeps the thread active the whole time.
      std::uint64_t spins = 0;
      while (goro::select(goro::on_recv(release, [](std::optional<int>) {}),
                          goro::on_default([] {})) == 1) {
        if (++spins > 20'000'000) break;
        std::this_thread::yield();
      }
      // Widen the window in which only this thread can wake the parked goroutine: every M
      // is idle now, so a wrong deadlock check would fire here.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      data.send(42);
    });
    // Wait through a blocking call: a goroutine parked on a channel before the thread's
    // first channel operation would rightly look deadlocked (the thread is not known yet).
    goro::blocking([&] { registered.get_future().wait(); });
    started.recv();
    goro::go([release] {
      for (int k = 0; k < 1000; ++k) goro::yield();
      release.send(1);
    });
    int v = data.recv().value();
    goro::blocking([&] { t.join(); });
    std::printf("received %d\n", v);
    return v == 42 ? 0 : 1;
  });
}

// main blocks on a channel that a plain thread sends to only after main is parked and m0 has
// gone idle. stopm runs checkdead before it sleeps, so the deadlock check has then seen the
// state where only that thread can wake main. With `register_first` the thread calls
// goro::register_plain_thread before main blocks; without it, the thread is still unknown.
int send_after_main_parks(bool register_first) {
  return goro::run(0, nullptr, [register_first] {
    goro::chan<int> data;
    goro::rt::G* main_g = goro::rt::getg();
    std::atomic<bool> started{false};
    std::thread t([&] {
      if (register_first) goro::register_plain_thread();
      started.store(true);
      while (main_g->status.load(std::memory_order_acquire) != goro::rt::gstatus::waiting ||
             !goro::rt::m0->blocked.load(std::memory_order_relaxed)) {
        std::this_thread::yield();
      }
      data.send(42);
    });
    // Spin without parking: main must not block before the thread has started.
    while (!started.load()) std::this_thread::yield();
    int v = data.recv().value();
    goro::blocking([&] { t.join(); });
    std::printf("received %d\n", v);
    return v == 42 ? 0 : 1;
  });
}

GORO_CHILD_SCENARIO(registered_thread_sends_after_main_parks) {
  return send_after_main_parks(true);
}

GORO_CHILD_SCENARIO(unregistered_thread_sends_after_main_parks) {
  return send_after_main_parks(false);
}

TEST(ChanDeadlock, RegisteredPlainThreadKeepsWaiterAlive) {
  auto r = goro_test::run_child("registered_thread_sends_after_main_parks");
  ASSERT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 0) << goro_test::describe(r);
  EXPECT_NE(r.out.find("received 42"), std::string::npos) << goro_test::describe(r);
  EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << r.err;
}

// The same program without the registration: main looks deadlocked, as documented.
TEST(ChanDeadlock, UnregisteredPlainThreadIsNotCounted) {
  auto r = goro_test::run_child("unregistered_thread_sends_after_main_parks");
  ASSERT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 2) << goro_test::describe(r);
  EXPECT_TRUE(r.err.starts_with("fatal error: all goroutines are asleep - deadlock!")) << r.err;
}

// Waits, without a goro call, until main is parked and m0 has gone idle, so that checkdead
// has seen main blocked with only the plain thread left to wake it.
void wait_until_main_parked_and_m0_idle(goro::rt::G* main_g) {
  while (main_g->status.load(std::memory_order_acquire) != goro::rt::gstatus::waiting ||
         !goro::rt::m0->blocked.load(std::memory_order_relaxed)) {
    std::this_thread::yield();
  }
}

// goro::plain_thread counts its thread before the constructor returns: main blocks at once,
// long before the thread's first goro call, and is not reported as deadlocked.
GORO_CHILD_SCENARIO(plain_thread_sends_after_main_parks) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> data;
    goro::rt::G* main_g = goro::rt::getg();
    goro::plain_thread sender([data, main_g] {
      wait_until_main_parked_and_m0_idle(main_g);
      data.send(42);
    });
    const int v = data.recv().value();
    std::printf("received %d\n", v);
    return v == 42 ? 0 : 1;
  });
}

// The same thread exits without sending: once it is gone nothing can wake main, and the
// deadlock is reported then, although every M had gone idle before.
GORO_CHILD_SCENARIO(plain_thread_exits_without_sending) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> data;
    goro::rt::G* main_g = goro::rt::getg();
    goro::plain_thread quitter([main_g] { wait_until_main_parked_and_m0_idle(main_g); });
    // Detached, because the deadlock report exits the process with the thread finished, and
    // TSan reports a finished thread that was never joined as a leak (exit status 66).
    quitter.detach();
    data.recv();
    return 0;
  });
}

TEST(ChanDeadlock, PlainThreadCountsBeforeItRuns) {
  auto r = goro_test::run_child("plain_thread_sends_after_main_parks", {"GOMAXPROCS=1"});
  ASSERT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 0) << goro_test::describe(r);
  EXPECT_NE(r.out.find("received 42"), std::string::npos) << goro_test::describe(r);
  EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << r.err;
}

TEST(ChanDeadlock, DeadlockReportedWhenLastPlainThreadExits) {
  auto r = goro_test::run_child("plain_thread_exits_without_sending", {"GOMAXPROCS=1"});
  ASSERT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 2) << goro_test::describe(r);
  EXPECT_TRUE(r.err.starts_with("fatal error: all goroutines are asleep - deadlock!")) << r.err;
}

// join from a goroutine waits inside goro::blocking: at GOMAXPROCS=1 the goroutine that the
// thread waits for still gets the P.
TEST(PlainThread, JoinFromGoroutineLeavesThePFree) {
  goro::run(0, nullptr, [] {
    goro::gomaxprocs(1);
    std::atomic<bool> goroutine_ran{false};
    goro::plain_thread waiter([&] {
      while (!goroutine_ran.load()) std::this_thread::yield();
    });
    goro::go([&] { goroutine_ran.store(true); });
    waiter.join();
    EXPECT_FALSE(waiter.joinable());
    EXPECT_TRUE(goroutine_ran.load());
  });
}

// Arguments are copied into the thread as std::thread copies them, the destructor joins,
// and a moved-from object owns no thread.
TEST(PlainThread, ArgumentsMoveAndDestructorJoins) {
  goro::run(0, nullptr, [] {
    int sum = 0;
    {
      goro::plain_thread adder([&sum](int a, std::unique_ptr<int> b) { sum = a + *b; }, 40,
                               std::make_unique<int>(2));
      goro::plain_thread moved = std::move(adder);
      EXPECT_FALSE(adder.joinable());  // NOLINT(bugprone-use-after-move): checks the move
      EXPECT_TRUE(moved.joinable());
    }
    EXPECT_EQ(sum, 42);
  });
}

TEST(ChanMisuse, RegisterPlainThreadFromGoroutineThrows) {
  goro::run(0, nullptr, [] {
    EXPECT_THROW(goro::register_plain_thread(), goro::panic_error);
    std::thread plain([] {
      goro::register_plain_thread();
      goro::register_plain_thread();  // again: harmless
    });
    goro::blocking([&] { plain.join(); });
  });
}

TEST(ChanDeadlock, GoroutineWaitingForAPlainThreadIsNotDeadlocked) {
  auto r = goro_test::run_child("thread_sends_later");
  ASSERT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 0) << goro_test::describe(r);
  EXPECT_NE(r.out.find("received 42"), std::string::npos) << goro_test::describe(r);
  EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << r.err;
}

}  // namespace
