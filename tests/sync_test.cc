// Tests for goro's sync primitives: mutex (with starvation mode), shared_mutex (writer
// preference), condition_variable (order, timeouts), wait_group (misuse panics) and
// call_once (concurrency, exceptions), used from goroutines and plain threads together.
// Fatal errors and wait reasons are checked in child processes (child_process.h).
//
// In-process cases run twice, once plainly and once with GODEBUG=goromigrate=1 (a goroutine
// moves to another thread at every park), with GOMAXPROCS=4 so that goroutines run in
// parallel even on a small machine.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "goro_fixture.h"
#include "goro/runtime.hpp"
#include "goro/sync.hpp"
#include "goro/select.hpp"
#include "goro/time.hpp"
#include "runtime/sched/sched.h"
#include "runtime/sched/waiter.h"

namespace {

using goro_test::yield_until;

using namespace std::chrono_literals;
using goro_test::describe;
using goro_test::run_child;
using goro_test::scoped_env;

class Sync : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(F&& main, const char* gomaxprocs = "4") {
    return goro_test::run_with_godebug(GetParam(), gomaxprocs, std::forward<F>(main));
  }

 public:
  template <class F>
  int run_on_one_p(F&& main) {
    return run(std::forward<F>(main), "1");
  }
};

INSTANTIATE_TEST_SUITE_P(Godebug, Sync, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());


// Starts a plain thread running f. Deadlock detection counts a plain thread as a possible
// waker only from its first blocking call into goro, so the thread registers itself first and
// the caller yields (without parking) until it has: otherwise a goroutine that blocks waiting
// for the thread could be reported as deadlocked before the thread touched goro at all.
template <class F>
std::thread start_plain_thread(F f) {
  std::atomic<bool> registered{false};
  std::thread t([&registered, f]() mutable {
    goro::register_plain_thread();
    registered.store(true);
    f();
  });
  while (!registered.load()) goro::yield();
  return t;
}

// --- mutex ----------------------------------------------------------------------------------

TEST_P(Sync, MutexCountsWithGoroutinesAndThreads) {
  constexpr int kGoroutines = 50;
  constexpr int kThreads = 3;
  constexpr int kIncrements = 2000;
  std::int64_t counter = 0;
  run([&] {
    goro::mutex m;
    goro::wait_group wg;
    wg.add(kGoroutines + kThreads);
    for (int i = 0; i < kGoroutines; ++i) {
      goro::go([&] {
        for (int k = 0; k < kIncrements; ++k) {
          std::lock_guard lock(m);
          ++counter;
        }
        wg.done();
      });
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.push_back(start_plain_thread([&] {
        for (int k = 0; k < kIncrements; ++k) {
          std::unique_lock lock(m);
          ++counter;
        }
        wg.done();
      }));
    }
    wg.wait();
    for (auto& t : threads) t.join();
  });
  EXPECT_EQ(counter, std::int64_t{kGoroutines + kThreads} * kIncrements);
}

TEST_P(Sync, MutexTryLock) {
  run([] {
    goro::mutex m;
    EXPECT_TRUE(m.try_lock());
    EXPECT_FALSE(m.try_lock());
    std::atomic<bool> other_got{true};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      other_got = m.try_lock();
      wg.done();
    });
    wg.wait();
    EXPECT_FALSE(other_got.load());
    m.unlock();  // any goroutine may unlock, as in Go
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  });
}

TEST_P(Sync, MutexUnlockedByAnotherGoroutine) {
  run([] {
    goro::mutex m;
    m.lock();
    goro::go([&] { m.unlock(); });
    m.lock();  // blocks until the other goroutine unlocks
    m.unlock();
  });
}

// A goroutine hogs the mutex: it holds it across a 100 µs sleep and takes it again right
// after each unlock, while it is still running. In normal mode the woken waiter always finds
// the mutex taken again and queues anew. Starvation mode (a waiter blocked over 1 ms gets the
// mutex handed to it) lets the waiter through. Go's TestMutexFairness makes the same check,
// with the same 10 s bound. One P makes the race deterministic: the waiter never runs while the
// hog holds the P, so without starvation mode it would never get the mutex.
TEST_P(Sync, MutexStarvingWaiterGetsLock) {
  constexpr int kAcquisitions = 10;
  std::chrono::steady_clock::duration took{};
  run([&] {
    goro::mutex m;
    std::atomic<bool> stop{false};
    goro::wait_group wg;
    wg.add(1);
    std::atomic<bool> hog_started{false};
    // The hog gives up after 15 s, so a starving waiter fails the test instead of hanging it.
    auto hog_deadline = std::chrono::steady_clock::now() + 15s;
    goro::go([&] {
      while (!stop.load() && std::chrono::steady_clock::now() < hog_deadline) {
        std::lock_guard lock(m);
        hog_started = true;
        goro::sleep(100us);
      }
      wg.done();
    });
    // Arrive late: the hog's loop must be running before this goroutine competes.
    while (!hog_started.load()) goro::yield();
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kAcquisitions; ++i) {
      m.lock();
      goro::sleep(100us);
      m.unlock();
    }
    took = std::chrono::steady_clock::now() - start;
    stop = true;
    wg.wait();
  }, "1");
  EXPECT_LT(took, 10s) << "the waiter starved behind the hot lock-unlock loop";
}

// Releasing a blocked goroutine is a scheduling point. A goroutine that loops on a
// contended mutex makes no other runtime call, so only there can it honour sysmon's request
// to yield (the P's preempt flag, set after a 10 ms time slice). If the release ignores the
// request, sysmon takes the P 10 ms later and starts another thread for it. With 100
// goroutines contending at GOMAXPROCS=2, bench/goro/mutex then grew to 98 threads and took
// four times Go's time. With one P, the released goroutine runs only if the releaser
// yields. An attempt counts only if the release came within 5 ms of the request, well
// before sysmon would take the P (a loaded machine can stall the releaser).
template <class Prepare, class Block, class Release>
void expect_release_yields_when_preempted(Sync& fixture, Prepare prepare, Block block,
                                          Release release) {
  constexpr int kAttempts = 5;
  bool counted = false;
  bool woken_ran = false;
  for (int attempt = 0; attempt < kAttempts && !counted; ++attempt) {
    fixture.run_on_one_p([&] {
      std::atomic<bool> blocking{false};
      std::atomic<bool> ran{false};
      goro::wait_group done;
      done.add(1);
      prepare();
      goro::go([&] {
        blocking = true;
        block();  // parks: with one P, the releaser runs again only after this has parked
        ran = true;
        done.done();
      });
      while (!blocking.load()) goro::yield();

      goro::rt::P* pp = goro::rt::getm()->p;
      const auto limit = std::chrono::steady_clock::now() + 20s;
      while (!pp->preempt.load(std::memory_order_relaxed) &&
             std::chrono::steady_clock::now() < limit) {
      }
      const auto requested = std::chrono::steady_clock::now();
      release();
      woken_ran = ran.load();
      counted = woken_ran || std::chrono::steady_clock::now() - requested < 5ms;
      done.wait();
    });
  }
  EXPECT_TRUE(woken_ran) << "the released goroutine had not run when the release returned, "
                            "though sysmon had asked the releaser to yield";
}

TEST_P(Sync, MutexUnlockHonoursPreemption) {
  goro::mutex m;
  expect_release_yields_when_preempted(
      *this, [&] { m.lock(); },
      [&] {
        m.lock();
        m.unlock();
      },
      [&] { m.unlock(); });
}

TEST_P(Sync, CondNotifyHonoursPreemption) {
  goro::mutex m;
  goro::condition_variable cv;
  bool ready = false;
  expect_release_yields_when_preempted(
      *this, [] {},
      [&] {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return ready; });
        ready = false;
      },
      [&] {
        {
          std::lock_guard lock(m);
          ready = true;
        }
        cv.notify_one();
      });
}

TEST_P(Sync, WaitGroupDoneHonoursPreemption) {
  goro::wait_group wg;
  expect_release_yields_when_preempted(
      *this, [&] { wg.add(1); }, [&] { wg.wait(); }, [&] { wg.done(); });
}

// --- shared_mutex ---------------------------------------------------------------------------

TEST_P(Sync, SharedMutexReadersShare) {
  run([] {
    goro::shared_mutex rw;
    std::shared_lock first(rw);
    std::atomic<bool> second_shared{false};
    std::atomic<bool> writer_got{true};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      second_shared = rw.try_lock_shared();
      if (second_shared) rw.unlock_shared();
      writer_got = rw.try_lock();
      wg.done();
    });
    wg.wait();
    EXPECT_TRUE(second_shared.load());
    EXPECT_FALSE(writer_got.load());
  });
}

// A writer waiting for active readers blocks readers that arrive after it: the late reader
// gets the lock only after the writer released it.
TEST_P(Sync, SharedMutexWaitingWriterBlocksNewReaders) {
  run([] {
    goro::shared_mutex rw;
    goro::mutex order_mutex;
    std::string order;
    rw.lock_shared();  // the active reader

    goro::wait_group wg;
    wg.add(2);
    // Each goroutine calls done only after releasing both locks: once the last done runs,
    // main may return and its frame, with rw and order_mutex, is gone.
    goro::go([&] {
      {
        std::lock_guard lock(rw);
        std::lock_guard o(order_mutex);
        order += 'W';
      }
      wg.done();
    });
    // The writer has announced itself once a new reader cannot get in.
    ASSERT_TRUE(yield_until([&] {
      if (!rw.try_lock_shared()) return true;
      rw.unlock_shared();
      return false;
    }));
    goro::go([&] {
      {
        std::shared_lock lock(rw);
        std::lock_guard o(order_mutex);
        order += 'R';
      }
      wg.done();
    });
    rw.unlock_shared();  // the writer runs, then the late reader
    wg.wait();
    EXPECT_EQ(order, "WR");
  });
}

TEST_P(Sync, SharedMutexStressKeepsInvariant) {
  constexpr int kWriters = 4;
  constexpr int kReaders = 16;
  constexpr int kRounds = 500;
  std::atomic<int> violations{0};
  run([&] {
    goro::shared_mutex rw;
    std::int64_t a = 0;
    std::int64_t b = 0;  // writers keep b == -a
    goro::wait_group wg;
    wg.add(kWriters + kReaders);
    for (int w = 0; w < kWriters; ++w) {
      goro::go([&] {
        for (int i = 0; i < kRounds; ++i) {
          std::lock_guard lock(rw);
          ++a;
          goro::yield();  // park while holding, so readers queue up behind the writer
          b = -a;
        }
        wg.done();
      });
    }
    for (int r = 0; r < kReaders; ++r) {
      goro::go([&] {
        for (int i = 0; i < kRounds; ++i) {
          std::shared_lock lock(rw);
          if (a + b != 0) violations.fetch_add(1);
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(a, std::int64_t{kWriters} * kRounds);
  });
  EXPECT_EQ(violations.load(), 0);
}

TEST_P(Sync, SharedMutexWithPlainThreads) {
  std::int64_t value = 0;
  run([&] {
    goro::shared_mutex rw;
    goro::wait_group wg;
    wg.add(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.push_back(start_plain_thread([&] {
        for (int i = 0; i < 1000; ++i) {
          std::lock_guard lock(rw);
          ++value;
        }
        wg.done();
      }));
      goro::go([&] {
        for (int i = 0; i < 1000; ++i) {
          if (i % 2 == 0) {
            std::shared_lock lock(rw);
            (void)value;
          } else {
            std::lock_guard lock(rw);
            ++value;
          }
        }
        wg.done();
      });
    }
    wg.wait();
    for (auto& t : threads) t.join();
  });
  EXPECT_EQ(value, 2 * 1000 + 2 * 500);
}

// --- condition_variable ---------------------------------------------------------------------

// Waiters are notified in the order they started waiting.
TEST_P(Sync, CondNotifyOneWakesInOrder) {
  constexpr int kWaiters = 4;
  run([] {
    goro::mutex m;
    goro::condition_variable cv;
    int waiting = 0;
    std::vector<int> woken;
    int tokens = 0;
    goro::wait_group wg;
    wg.add(kWaiters);
    for (int i = 0; i < kWaiters; ++i) {
      goro::go([&, i] {
        std::unique_lock lock(m);
        ++waiting;
        while (tokens == 0) cv.wait(lock);
        --tokens;
        woken.push_back(i);
        lock.unlock();  // before done: main may return, destroying m, once all are done
        wg.done();
      });
      // The next waiter starts only after this one holds its ticket.
      ASSERT_TRUE(yield_until([&] {
        std::lock_guard lock(m);
        return waiting == i + 1;
      }));
    }
    // One notification at a time: the next goes out once the previous waiter has run.
    for (int i = 0; i < kWaiters; ++i) {
      {
        std::lock_guard lock(m);
        ++tokens;
        cv.notify_one();
      }
      ASSERT_TRUE(yield_until([&] {
        std::lock_guard lock(m);
        return woken.size() == static_cast<std::size_t>(i + 1);
      }));
    }
    wg.wait();
    EXPECT_EQ(woken, (std::vector<int>{0, 1, 2, 3}));
  });
}

TEST_P(Sync, CondNotifyAllWakesEveryWaiter) {
  constexpr int kWaiters = 10;
  run([] {
    goro::mutex m;
    goro::condition_variable cv;
    int waiting = 0;
    bool go_on = false;
    goro::wait_group wg;
    wg.add(kWaiters + 1);
    for (int i = 0; i < kWaiters; ++i) {
      goro::go([&] {
        std::unique_lock lock(m);
        ++waiting;
        cv.wait(lock, [&] { return go_on; });
        lock.unlock();  // before done: main may return, destroying m, once all are done
        wg.done();
      });
    }
    std::thread plain = start_plain_thread([&] {
      std::unique_lock lock(m);
      ++waiting;
      cv.wait(lock, [&] { return go_on; });
      lock.unlock();  // before done: main may return, destroying m, once all are done
      wg.done();
    });
    ASSERT_TRUE(yield_until([&] {
      std::lock_guard lock(m);
      return waiting == kWaiters + 1;
    }));
    {
      std::lock_guard lock(m);
      go_on = true;
    }
    cv.notify_all();
    wg.wait();
    plain.join();
  });
}

TEST_P(Sync, CondWaitForTimesOut) {
  run([] {
    goro::mutex m;
    goro::condition_variable cv;
    std::unique_lock lock(m);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(cv.wait_for(lock, 20ms), std::cv_status::timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
    EXPECT_TRUE(lock.owns_lock());
    EXPECT_FALSE(cv.wait_for(lock, 5ms, [] { return false; }));
    EXPECT_TRUE(cv.wait_until(lock, std::chrono::steady_clock::now() + 1h, [] { return true; }));
    EXPECT_EQ(cv.wait_for(lock, -1s), std::cv_status::timeout);
  });
}

// Durations and deadlines of every representation time out: a 32-bit count of milliseconds
// once compared against a limit that wrapped negative in its type, so the wait had no
// deadline, and time_point::min() overflowed deadline - now. A guard timer ends the test if
// a wait does not return.
TEST_P(Sync, CondTimedWaitsOfAnyRepresentation) {
  run([] {
    goro::mutex m;
    goro::condition_variable cv;
    goro::chan<int> finished(4);
    goro::go([&] {
      std::unique_lock lock(m);
      EXPECT_EQ(cv.wait_for(lock, std::chrono::duration<int, std::milli>(20)),
                std::cv_status::timeout);
      finished.send(1);
      EXPECT_FALSE(cv.wait_for(lock, std::chrono::duration<int, std::micro>(20'000),
                               [] { return false; }));
      finished.send(2);
      EXPECT_EQ(cv.wait_until(lock, std::chrono::steady_clock::time_point::min()),
                std::cv_status::timeout);
      finished.send(3);
      EXPECT_EQ(cv.wait_for(lock, std::chrono::hours::min()), std::cv_status::timeout);
      finished.send(4);
    });
    auto guard = goro::after(10s);
    for (int step = 1; step <= 4; ++step) {
      int got = 0;
      goro::select(goro::on_recv(finished, [&](std::optional<int> v) { got = v.value_or(0); }),
                   goro::on_recv(guard, [](std::optional<goro::time_point>) {}));
      ASSERT_EQ(got, step) << "timed wait " << step << " did not return within 10 s";
    }
  });
}

TEST_P(Sync, CondWaitForNotifiedBeforeDeadline) {
  run([] {
    goro::mutex m;
    goro::condition_variable cv;
    bool flag = false;
    goro::go([&] {
      std::lock_guard lock(m);
      flag = true;
      cv.notify_one();
    });
    std::unique_lock lock(m);
    EXPECT_TRUE(cv.wait_for(lock, 1h, [&] { return flag; }));
  });
}

// notify_one skips the tickets of timed-out waits in O(log n) each. It searched and erased a
// vector instead, so after 300 000 timeouts one notify_one took 3.6 s in a release build,
// many times what the 300 000 waits took.
TEST_P(Sync, NotifyAfterManyTimeoutsIsQuick) {
  constexpr int kTimeouts = 300'000;
  run([] {
    goro::mutex m;
    goro::condition_variable cv;
    std::unique_lock lock(m);
    const auto waits_start = std::chrono::steady_clock::now();
    for (int i = 0; i < kTimeouts; ++i) ASSERT_EQ(cv.wait_for(lock, 0s), std::cv_status::timeout);
    const auto waits = std::chrono::steady_clock::now() - waits_start;
    const auto start = std::chrono::steady_clock::now();
    cv.notify_one();
    const auto notify = std::chrono::steady_clock::now() - start;
    // Relative to the waits, so that a sanitizer's or a loaded machine's slowdown cancels out:
    // skipping the abandoned tickets costs about as much as taking them, where a quadratic
    // skip costs thousands of times more.
    EXPECT_LT(notify, 4 * waits + 100ms);
  });
}

// A waiter that timed out must not absorb a later notify_one meant for a waiter still there.
TEST_P(Sync, CondTimedOutWaiterDoesNotSwallowNotify) {
  run([] {
    goro::mutex m;
    goro::condition_variable cv;
    bool timed_out = false;
    bool waiting = false;
    bool woken = false;
    goro::wait_group wg;
    wg.add(2);
    goro::go([&] {  // takes the first ticket and gives up
      std::unique_lock lock(m);
      timed_out = cv.wait_for(lock, 10ms) == std::cv_status::timeout;
      lock.unlock();  // before done: main may return, destroying m, once all are done
      wg.done();
    });
    ASSERT_TRUE(yield_until([&] {
      std::lock_guard lock(m);
      return timed_out;
    }));
    goro::go([&] {
      std::unique_lock lock(m);
      waiting = true;
      cv.wait(lock);
      woken = true;
      lock.unlock();  // before done: main may return, destroying m, once all are done
      wg.done();
    });
    ASSERT_TRUE(yield_until([&] {
      std::lock_guard lock(m);
      return waiting;
    }));
    cv.notify_one();
    wg.wait();
    EXPECT_TRUE(woken);
  });
}

// Ticket order across a timeout that races with notifications.
TEST_P(Sync, CondStressWithTimeouts) {
  constexpr int kWorkers = 8;
  constexpr int kItems = 2000;
  int consumed = 0;
  run([&] {
    goro::mutex m;
    goro::condition_variable cv;
    int queue = 0;
    int produced = 0;
    goro::wait_group wg;
    wg.add(kWorkers);
    for (int w = 0; w < kWorkers; ++w) {
      goro::go([&] {
        std::unique_lock lock(m);
        for (;;) {
          if (queue > 0) {
            --queue;
            ++consumed;
            continue;
          }
          if (produced == kItems) break;
          cv.wait_for(lock, 50us);
        }
        lock.unlock();  // before done: main may return, destroying m, once all are done
        wg.done();
      });
    }
    for (int i = 0; i < kItems; ++i) {
      std::lock_guard lock(m);
      ++queue;
      ++produced;
      cv.notify_one();
    }
    {
      std::lock_guard lock(m);
      cv.notify_all();
    }
    wg.wait();
  });
  EXPECT_EQ(consumed, kItems);
}

// --- wait_group -----------------------------------------------------------------------------

TEST_P(Sync, WaitGroupWaitsForAll) {
  constexpr int kWorkers = 100;
  std::atomic<int> finished{0};
  int seen = -1;
  run([&] {
    goro::wait_group wg;
    wg.wait();  // zero: returns at once
    wg.add(kWorkers);
    for (int i = 0; i < kWorkers; ++i) {
      goro::go([&] {
        goro::yield();
        finished.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    // Several waiters, goroutines and a thread, are all released.
    goro::wait_group outer;
    outer.add(2);
    goro::go([&] {
      wg.wait();
      outer.done();
    });
    std::thread plain = start_plain_thread([&] {
      wg.wait();
      outer.done();
    });
    wg.wait();
    seen = finished.load(std::memory_order_relaxed);
    outer.wait();
    plain.join();
  });
  EXPECT_EQ(seen, kWorkers);
}

TEST_P(Sync, WaitGroupNegativeCounterPanics) {
  run([] {
    goro::wait_group wg;
    try {
      wg.done();
      ADD_FAILURE() << "done() on a zero counter did not throw";
    } catch (const goro::panic_error& e) {
      EXPECT_STREQ(e.what(), "sync: negative WaitGroup counter");
    }
    goro::wait_group wg2;
    wg2.add(2);
    EXPECT_THROW(wg2.add(-3), goro::panic_error);
  });
}

TEST_P(Sync, WaitGroupReusable) {
  run([] {
    goro::wait_group wg;
    for (int round = 0; round < 100; ++round) {
      wg.add(2);
      goro::go([&] { wg.done(); });
      goro::go([&] { wg.done(); });
      wg.wait();
    }
  });
}

// --- call_once ------------------------------------------------------------------------------

TEST_P(Sync, CallOnceRunsOnceForConcurrentCallers) {
  constexpr int kCallers = 64;
  std::atomic<int> calls{0};
  std::atomic<int> saw_effect{0};
  run([&] {
    goro::once_flag once;
    int value = 0;
    goro::wait_group wg;
    wg.add(kCallers + 1);
    auto caller = [&] {
      goro::call_once(once, [&] {
        calls.fetch_add(1);
        goro::yield();  // let the other callers pile up while f runs
        value = 42;
      });
      if (value == 42) saw_effect.fetch_add(1);
      wg.done();
    };
    for (int i = 0; i < kCallers; ++i) goro::go(caller);
    std::thread plain = start_plain_thread(caller);
    wg.wait();
    plain.join();
  });
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(saw_effect.load(), kCallers + 1);
}

TEST_P(Sync, CallOnceRetriesAfterException) {
  run([] {
    goro::once_flag once;
    int attempts = 0;
    EXPECT_THROW(goro::call_once(once, [&] {
                   ++attempts;
                   throw std::runtime_error("first attempt fails");
                 }),
                 std::runtime_error);
    goro::call_once(once, [&](int add) { attempts += add; }, 10);
    goro::call_once(once, [&] { attempts += 100; });  // done: not called
    EXPECT_EQ(attempts, 11);
  });
}

TEST(SyncOutsideRun, PrimitivesWorkOnPlainThreads) {
  goro::mutex m;
  goro::condition_variable cv;
  goro::wait_group wg;
  goro::once_flag once;
  int once_runs = 0;  // written only by call_once, read after join
  int value = 0;      // guarded by m
  wg.add(1);
  std::thread plain([&] {
    goro::call_once(once, [&] { ++once_runs; });
    std::lock_guard lock(m);
    value = 2;
    cv.notify_one();
    wg.done();
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return value == 2; });
  }
  wg.wait();
  plain.join();
  EXPECT_EQ(once_runs, 1);
  goro::call_once(once, [&] { ++once_runs; });
  EXPECT_EQ(once_runs, 1);
  std::unique_lock lock(m);
  EXPECT_THROW(cv.wait_for(lock, 1ms), goro::panic_error);
  EXPECT_TRUE(lock.owns_lock());
}

// --- fatal errors and wait reasons (child processes) ----------------------------------------

GORO_CHILD_SCENARIO(unlock_unlocked_mutex) {
  return goro::run(0, nullptr, [] {
    goro::mutex m;
    m.unlock();
    return 0;
  });
}

GORO_CHILD_SCENARIO(unlock_unlocked_rwmutex) {
  return goro::run(0, nullptr, [] {
    goro::shared_mutex rw;
    rw.unlock();
    return 0;
  });
}

GORO_CHILD_SCENARIO(runlock_unlocked_rwmutex) {
  return goro::run(0, nullptr, [] {
    goro::shared_mutex rw;
    rw.unlock_shared();
    return 0;
  });
}

GORO_CHILD_SCENARIO(cond_wait_without_lock) {
  return goro::run(0, nullptr, [] {
    goro::mutex m;
    goro::condition_variable cv;
    std::unique_lock lock(m);
    m.unlock();  // behind the unique_lock's back: the wait's own unlock is the second one
    cv.wait(lock);
    return 0;
  });
}

GORO_CHILD_SCENARIO(unlock_unlocked_mutex_on_thread) {
  std::thread plain([] {
    goro::mutex m;
    m.unlock();
  });
  plain.join();
  return 0;
}

struct fatal_case {
  const char* scenario;
  const char* message;
};

class SyncFatal : public ::testing::TestWithParam<fatal_case> {};

INSTANTIATE_TEST_SUITE_P(
    Misuse, SyncFatal,
    ::testing::Values(
        fatal_case{"unlock_unlocked_mutex", "fatal error: sync: unlock of unlocked mutex\n"},
        fatal_case{"unlock_unlocked_rwmutex", "fatal error: sync: Unlock of unlocked RWMutex\n"},
        fatal_case{"runlock_unlocked_rwmutex",
                   "fatal error: sync: RUnlock of unlocked RWMutex\n"},
        fatal_case{"cond_wait_without_lock", "fatal error: sync: unlock of unlocked mutex\n"},
        fatal_case{"unlock_unlocked_mutex_on_thread",
                   "fatal error: sync: unlock of unlocked mutex\n"}),
    [](const auto& case_info) { return std::string(case_info.param.scenario); });

TEST_P(SyncFatal, ExitsWithStatus2) {
  auto r = run_child(GetParam().scenario);
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with(GetParam().message)) << describe(r);
}

// Every goroutine blocks for good in a different primitive, so the deadlock report lists each
// one with its wait reason.
GORO_CHILD_SCENARIO(deadlock_in_each_primitive) {
  return goro::run(0, nullptr, [] {
    static goro::mutex m;
    static goro::shared_mutex rw_read;
    static goro::shared_mutex rw_write;
    static goro::condition_variable cv;
    static goro::mutex cv_mutex;
    static goro::once_flag once;
    m.lock();
    rw_read.lock();
    rw_write.lock_shared();
    goro::go([] { m.lock(); });
    goro::go([] { rw_read.lock_shared(); });
    goro::go([] { rw_write.lock(); });
    goro::go([] {
      std::unique_lock lock(cv_mutex);
      cv.wait(lock);
    });
    // The second call_once must find the first one running, or it would run its own empty
    // function and neither would block.
    static std::atomic<bool> once_running{false};
    goro::go([] {
      goro::call_once(once, [] {
        once_running.store(true);
        m.lock();
      });
    });
    goro::go([] {
      while (!once_running.load()) goro::yield();
      goro::call_once(once, [] {});
    });
    goro::wait_group wg;
    wg.add(1);
    wg.wait();
    return 0;
  });
}

TEST(SyncDeadlock, DumpShowsWaitReasons) {
  auto r = run_child("deadlock_in_each_primitive", {"GOTRACEBACK", "GOMAXPROCS=2"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with("fatal error: all goroutines are asleep - deadlock!"))
      << describe(r);
  EXPECT_NE(r.err.find("\ngoroutine 1 [sync.WaitGroup.Wait]:\n"), std::string::npos) << describe(r);
  for (const char* reason : {"sync.Mutex.Lock", "sync.RWMutex.RLock", "sync.RWMutex.Lock",
                             "sync.Cond.Wait", "sync.Once.Do"}) {
    // A goroutine header line: "goroutine <id> [<reason>]:".
    EXPECT_NE(r.err.find(std::string(" [") + reason + "]:\n"), std::string::npos)
        << reason << "\n"
        << describe(r);
  }
}

}  // namespace
