// Tests for goro::select: non-blocking operations through on_default on nil, empty, full and
// closed channels; uniform choice among ready cases; two selects matching each other; the
// same channel in several cases; a send and a receive case on one channel; close while a
// select is parked; selects on plain threads; and the deadlock report of an empty select.
#include "goro/select.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "goro_fixture.h"
#include "goro/chan.hpp"
#include "goro/runtime.hpp"

namespace {

using goro_test::scoped_env;

class Select : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(F&& main, const char* gomaxprocs = nullptr) {
    return goro_test::run_with_godebug(GetParam(), gomaxprocs, std::forward<F>(main));
  }
};

INSTANTIATE_TEST_SUITE_P(Godebug, Select, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

// Non-blocking receive: 0 if a value (or nullopt, from a closed channel) was received.
std::size_t try_recv(const goro::chan<int>& c, std::optional<int>* got) {
  return goro::select(goro::on_recv(c, [&](std::optional<int> v) { *got = v; }),
                      goro::on_default([] {}));
}

std::size_t try_send(const goro::chan<int>& c, int v) {
  return goro::select(goro::on_send(c, v, [] {}), goro::on_default([] {}));
}

TEST(SelectNonBlocking, ReceiveOnEveryKindOfChannel) {
  std::optional<int> got;
  EXPECT_EQ(try_recv(goro::chan<int>::nil(), &got), 1u) << "nil: default";
  EXPECT_EQ(try_recv(goro::chan<int>(), &got), 1u) << "unbuffered, no sender: default";
  EXPECT_EQ(try_recv(goro::chan<int>(3), &got), 1u) << "empty buffer: default";

  goro::chan<int> full(2);
  full.send(10);
  full.send(11);
  EXPECT_EQ(try_recv(full, &got), 0u);
  EXPECT_EQ(got, 10);
  goro::chan<int> closed(2);
  closed.send(20);
  closed.close();
  EXPECT_EQ(try_recv(closed, &got), 0u);
  EXPECT_EQ(got, 20) << "a closed channel still yields its buffered value first";
  got = 99;
  EXPECT_EQ(try_recv(closed, &got), 0u);
  EXPECT_EQ(got, std::nullopt) << "closed and drained: ready with nullopt";
  goro::chan<int> closed_unbuffered;
  closed_unbuffered.close();
  got = 99;
  EXPECT_EQ(try_recv(closed_unbuffered, &got), 0u);
  EXPECT_EQ(got, std::nullopt);
}

TEST(SelectNonBlocking, SendOnEveryKindOfChannel) {
  EXPECT_EQ(try_send(goro::chan<int>::nil(), 1), 1u) << "nil: default";
  EXPECT_EQ(try_send(goro::chan<int>(), 1), 1u) << "unbuffered, no receiver: default";
  goro::chan<int> room(2);
  EXPECT_EQ(try_send(room, 1), 0u);
  EXPECT_EQ(try_send(room, 2), 0u);
  EXPECT_EQ(try_send(room, 3), 1u) << "full: default";
  EXPECT_EQ(room.size(), 2u);
  goro::chan<int> closed(2);
  closed.close();
  try {
    try_send(closed, 1);
    ADD_FAILURE() << "a send case on a closed channel must panic";
  } catch (const goro::panic_error& e) {
    EXPECT_STREQ(e.what(), "send on closed channel");
  }
}

TEST(SelectNonBlocking, DefaultOnlyAndAllNil) {
  int ran = 0;
  EXPECT_EQ(goro::select(goro::on_default([&] { ++ran; })), 0u);
  EXPECT_EQ(
      goro::select(goro::on_recv(goro::chan<int>::nil(), [&](std::optional<int>) { ran += 10; }),
                   goro::on_send(goro::chan<int>::nil(), 1, [&] { ran += 10; }),
                   goro::on_default([&] { ++ran; })),
      2u);
  EXPECT_EQ(ran, 2);
}

TEST(SelectNonBlocking, MoveOnlySendValueStaysWithUnchosenCase) {
  goro::chan<std::unique_ptr<int>> full(1);
  full.send(std::make_unique<int>(1));
  auto p = std::make_unique<int>(2);
  EXPECT_EQ(goro::select(goro::on_send(full, std::move(p), [] {}), goro::on_default([] {})), 1u);
  goro::chan<std::unique_ptr<int>> room(1);
  EXPECT_EQ(
      goro::select(goro::on_send(room, std::make_unique<int>(3), [] {}), goro::on_default([] {})),
      0u);
  EXPECT_EQ(*room.recv().value(), 3);
}

TEST_P(Select, FairAmongReadyCases) {
  // Two always-ready cases (receives from closed channels). If each select picks uniformly,
  // the count of case 0 over n selects is Binomial(n, 1/2): mean n/2, standard deviation
  // sqrt(n)/2 = 158 for n = 100 000. A fair implementation lands outside 6 standard
  // deviations with probability below 2e-9, so the check cannot flake; a biased one (say
  // 52% / 48%, i.e. 2000 off) fails every time.
  constexpr int kSelects = 100'000;
  const double sd = std::sqrt(static_cast<double>(kSelects)) / 2;
  std::array<int, 2> chosen{};
  run([&] {
    goro::chan<int> a;
    goro::chan<int> b;
    a.close();
    b.close();
    for (int i = 0; i < kSelects; ++i) {
      chosen[goro::select(goro::on_recv(a, [](std::optional<int>) {}),
                          goro::on_recv(b, [](std::optional<int>) {}))]++;
    }
  });
  EXPECT_EQ(chosen[0] + chosen[1], kSelects);
  EXPECT_LT(std::abs(chosen[0] - kSelects / 2), 6 * sd) << chosen[0] << " vs " << chosen[1];
}

// A default runs only if no case was ready at one moment. A mover passes tokens between two
// buffered channels of capacity 1 and always fills one before it drains the other, so while
// the selecting goroutine has no token, some case is ready at every moment. Looking at
// each channel without its lock, at different moments, could find both empty.
TEST_P(Select, DefaultNeverRunsWhileACaseIsReady) {
  constexpr int kMoves = 300'000;
  long defaults = 0;
  long selects = 0;
  run(
      [&] {
        goro::chan<int> a(1);
        goro::chan<int> b(1);
        std::atomic<bool> mover_done{false};
        b.send(1);
        goro::go([&] {
          for (int i = 0; i < kMoves; ++i) {
            a.send(1);
            b.recv();
            b.send(1);
            a.recv();
          }
          mover_done.store(true);
        });
        while (!mover_done.load()) {
          ++selects;
          goro::select(goro::on_recv(a, [&](std::optional<int> v) { a.send(*v); }),
                       goro::on_recv(b, [&](std::optional<int> v) { b.send(*v); }),
                       goro::on_default([&] { ++defaults; }));
        }
      },
      "2");
  EXPECT_EQ(defaults, 0) << "in " << selects << " selects";
}

// More cases than select keeps inline (8): the poll order goes on the heap and the lock order
// is sorted with std::sort. Each of 10 always-ready cases is chosen about a tenth of the
// time: Binomial(20 000, 0.1) has a standard deviation of 42, and the bound is 6 of them, so
// the check cannot flake. Then a select that blocks on all 10 is woken by a send on one.
TEST_P(Select, TenCasesChooseFairlyAndBlock) {
  constexpr int kSelects = 20'000;
  std::array<int, 10> chosen{};
  std::size_t woken_case = 99;
  run([&] {
    std::vector<goro::chan<int>> c;
    for (int i = 0; i < 10; ++i) c.emplace_back(1);
    auto on = [&](int i) { return goro::on_recv(c[i], [](std::optional<int>) {}); };
    for (int s = 0; s < kSelects; ++s) {
      for (auto& ch : c) {
        if (ch.size() == 0) ch.send(1);
      }
      chosen[goro::select(on(0), on(1), on(2), on(3), on(4), on(5), on(6), on(7), on(8),
                          on(9))]++;
    }
    for (auto& ch : c) {
      while (ch.size() != 0) ch.recv();
    }
    goro::go([&] { c[7].send(7); });
    woken_case = goro::select(on(0), on(1), on(2), on(3), on(4), on(5), on(6), on(7), on(8), on(9));
  });
  const double sd = std::sqrt(kSelects * 0.1 * 0.9);
  for (int i = 0; i < 10; ++i) {
    EXPECT_LT(std::abs(chosen[i] - kSelects / 10), 6 * sd) << "case " << i << ": " << chosen[i];
  }
  EXPECT_EQ(woken_case, 7u);
}

TEST_P(Select, DoubleSelectDeliversEachValueOnce) {
  // Two senders select between sending on c1 and c2; two receivers select between receiving
  // from c1 and c2. Both sides of every hand-off may be parked selects.
  constexpr int kRounds = 100'000;
  std::vector<std::atomic<int>> seen(kRounds);
  std::atomic<std::int64_t> received{0};
  run(
      [&] {
        goro::chan<int> c1;
        goro::chan<int> c2;
        goro::chan<bool> done(4);
        for (int s = 0; s < 2; ++s) {
          goro::go([=] {
            for (int v = s; v < kRounds; v += 2) {
              goro::select(goro::on_send(c1, v, [] {}), goro::on_send(c2, v, [] {}));
            }
            done.send(true);
          });
        }
        goro::chan<bool> stop;
        for (int r = 0; r < 2; ++r) {
          goro::go([&, c1, c2, stop, done] {
            bool running = true;
            while (running) {
              auto got = [&](std::optional<int> v) {
                seen[static_cast<std::size_t>(*v)].fetch_add(1);
                received.fetch_add(1);
              };
              goro::select(goro::on_recv(c1, got), goro::on_recv(c2, got),
                           goro::on_recv(stop, [&](std::optional<bool>) { running = false; }));
            }
            done.send(true);
          });
        }
        done.recv();
        done.recv();
        stop.close();
        done.recv();
        done.recv();
      },
      "4");
  EXPECT_EQ(received.load(), kRounds);
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  EXPECT_EQ(wrong, 0) << "values received other than exactly once";
}

TEST_P(Select, SameChannelInTwoCases) {
  std::array<int, 2> chosen{};
  int leftover = -1;
  run([&] {
    goro::chan<int> c;
    goro::go([c] {
      for (int i = 0; i < 2000; ++i) c.send(i);
    });
    int expect = 0;
    for (int i = 0; i < 2000; ++i) {
      std::size_t k =
          goro::select(goro::on_recv(c, [&](std::optional<int> v) { EXPECT_EQ(v, expect); }),
                       goro::on_recv(c, [&](std::optional<int> v) { EXPECT_EQ(v, expect); }));
      ++expect;
      chosen[k]++;
    }
    // No waiter of the finished selects may be left on the channel: a non-blocking send
    // must find no receiver.
    leftover = static_cast<int>(try_send(c, 1));
  });
  EXPECT_EQ(chosen[0] + chosen[1], 2000);
  EXPECT_GT(chosen[0], 0);
  EXPECT_GT(chosen[1], 0);
  EXPECT_EQ(leftover, 1);
}

TEST_P(Select, SendAndReceiveCasesOnOneChannelRendezvous) {
  // Two goroutines each select {send on c, receive from c} on one unbuffered channel: in
  // every round one sends to the other.
  constexpr int kRounds = 5000;
  std::array<int, 2> sent{};
  std::array<int, 2> got{};
  run(
      [&] {
        goro::chan<int> c;
        goro::chan<bool> done(2);
        for (int g = 0; g < 2; ++g) {
          goro::go([&, g, c, done] {
            for (int i = 0; i < kRounds; ++i) {
              goro::select(goro::on_send(c, g, [&] { sent[static_cast<std::size_t>(g)]++; }),
                           goro::on_recv(c, [&](std::optional<int> v) {
                             EXPECT_EQ(v, 1 - g);
                             got[static_cast<std::size_t>(g)]++;
                           }));
            }
            done.send(true);
          });
        }
        done.recv();
        done.recv();
      },
      "2");
  EXPECT_EQ(sent[0] + got[0], kRounds);
  EXPECT_EQ(sent[1] + got[1], kRounds);
  EXPECT_EQ(sent[0], got[1]);
  EXPECT_EQ(sent[1], got[0]);
}

TEST_P(Select, CloseWakesAParkedSelect) {
  std::size_t recv_case = 99;
  std::optional<int> value = 5;
  std::string send_panic;
  run(
      [&] {
        goro::chan<int> a;
        goro::chan<int> b;
        goro::chan<bool> done;
        goro::go([&, a, b, done] {
          recv_case = goro::select(goro::on_recv(a, [&](std::optional<int> v) { value = v; }),
                                   goro::on_recv(b, [&](std::optional<int> v) { value = v; }));
          done.send(true);
        });
        goro::chan<int> s;
        goro::go([&, a, s, done] {
          try {
            goro::select(goro::on_send(s, 1, [] {}), goro::on_recv(a, [](std::optional<int>) {}));
          } catch (const goro::panic_error& e) {
            send_panic = e.what();
          }
          done.send(true);
        });
        for (int k = 0; k < 100; ++k) goro::yield();  // usually both are parked by now
        b.close();
        done.recv();
        s.close();
        done.recv();
      },
      "1");
  EXPECT_EQ(recv_case, 1u);
  EXPECT_EQ(value, std::nullopt);
  EXPECT_EQ(send_panic, "send on closed channel");
}

TEST_P(Select, PlainThreadBlocksInSelect) {
  std::size_t which = 99;
  int value = 0;
  run([&] {
    goro::chan<int> a;
    goro::chan<int> b;
    std::promise<void> registered;
    std::thread t([&] {
      // From its first channel operation on, the thread counts as a possible waker for
      // deadlock detection; main waits for that (through a blocking call) before it parks.
      goro::chan<bool>(1).send(true);
      registered.set_value();
      which = goro::select(goro::on_recv(a, [&](std::optional<int> v) { value = v.value(); }),
                           goro::on_recv(b, [&](std::optional<int> v) { value = v.value(); }));
    });
    goro::blocking([&] { registered.get_future().wait(); });
    b.send(7);  // blocks this goroutine until the thread's select takes it
    goro::blocking([&] { t.join(); });
  });
  EXPECT_EQ(which, 1u);
  EXPECT_EQ(value, 7);
}

TEST_P(Select, BufferedFeedersThroughSelect) {
  // The benchmark's shape: two feeders on buffered channels, one selecting consumer.
  constexpr std::int64_t kPerFeeder = 50'000;
  std::int64_t left = 0;
  std::int64_t right = 0;
  run(
      [&] {
        goro::chan<std::int64_t> l(100);
        goro::chan<std::int64_t> r(100);
        goro::go([l] {
          for (std::int64_t i = 0; i < kPerFeeder; ++i) l.send(i);
        });
        goro::go([r] {
          for (std::int64_t i = 0; i < kPerFeeder; ++i) r.send(i);
        });
        std::int64_t next_l = 0;
        std::int64_t next_r = 0;
        while (left + right < 2 * kPerFeeder) {
          goro::select(goro::on_recv(l,
                                     [&](std::optional<std::int64_t> v) {
                                       EXPECT_EQ(v, next_l++);
                                       ++left;
                                     }),
                       goro::on_recv(r, [&](std::optional<std::int64_t> v) {
                         EXPECT_EQ(v, next_r++);
                         ++right;
                       }));
        }
      },
      "4");
  EXPECT_EQ(left, kPerFeeder);
  EXPECT_EQ(right, kPerFeeder);
}

GORO_CHILD_SCENARIO(empty_select_deadlock) {
  return goro::run(0, nullptr, [] { goro::select(); });
}

GORO_CHILD_SCENARIO(select_deadlock) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> a;
    goro::chan<int> b;
    goro::select(goro::on_recv(a, [](std::optional<int>) {}), goro::on_send(b, 1, [] {}));
  });
}

GORO_CHILD_SCENARIO(nil_cases_select_deadlock) {
  return goro::run(0, nullptr, [] {
    goro::select(goro::on_recv(goro::chan<int>::nil(), [](std::optional<int>) {}),
                 goro::on_send(goro::chan<int>::nil(), 1, [] {}));
  });
}

TEST(SelectDeadlock, EmptySelectAndParkedSelectAreReported) {
  auto r = goro_test::run_child("empty_select_deadlock");
  EXPECT_EQ(r.exit_status, 2) << goro_test::describe(r);
  EXPECT_NE(r.err.find("fatal error: all goroutines are asleep - deadlock!"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("goroutine 1 [select (no cases)]:"), std::string::npos) << r.err;
  r = goro_test::run_child("select_deadlock");
  EXPECT_EQ(r.exit_status, 2) << goro_test::describe(r);
  EXPECT_NE(r.err.find("goroutine 1 [select]:"), std::string::npos) << r.err;
  // Only nil channels: a select with cases, none of which can ever proceed.
  r = goro_test::run_child("nil_cases_select_deadlock");
  EXPECT_EQ(r.exit_status, 2) << goro_test::describe(r);
  EXPECT_NE(r.err.find("goroutine 1 [select]:"), std::string::npos) << r.err;
}

}  // namespace
