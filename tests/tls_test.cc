// Tests for thread state that belongs to a goroutine rather than to its thread: errno, the
// C++ runtime's exception state (caught exceptions and the uncaught count), and wiring a
// goroutine to its thread with lock_os_thread.
//
// Most cases run with GODEBUG=goromigrate=1, which moves a goroutine to another thread at
// every park, so a value that stayed with the old thread shows up as a failure. They also
// check with gettid() that the goroutine really changed threads.
#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cfenv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "child_process.h"
#include "goro_fixture.h"
#include "goro/runtime.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "runtime/arch/context.h"

namespace {

using namespace std::chrono_literals;
using goro_test::scoped_env;

// A park long enough to go through the timer heap; with goromigrate it resumes elsewhere.
constexpr auto kPark = 100us;

pid_t thread_id() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// errno through a call the optimiser cannot see into. glibc declares __errno_location
// const, so code that reads errno directly may reuse the old thread's errno address after a
// switch. The runtime cannot remove that hazard of user code, and these tests are not about it.
[[gnu::noinline]] int read_errno() {
  asm volatile("" ::: "memory");
  return errno;
}
[[gnu::noinline]] void write_errno(int value) {
  asm volatile("" ::: "memory");
  errno = value;
}

// Runs `main` under goro::run with the given GODEBUG and GOMAXPROCS.
template <class F>
int run_with(const char* godebug, const char* gomaxprocs, F&& main) {
  scoped_env debug_env("GODEBUG", godebug);
  scoped_env procs_env("GOMAXPROCS", gomaxprocs);
  return goro::run(0, nullptr, std::forward<F>(main));
}

template <class F>
int run_migrating(F&& main) {
  return run_with("goromigrate=1", "2", std::forward<F>(main));
}

// Yields until `done` returns true, failing the test after 20 s.
template <class Done>
void yield_until(Done done) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "condition not reached within 20 s";
      return;
    }
    goro::yield();
  }
}

// --- errno ----------------------------------------------------------------------------------

TEST(GoroutineErrno, SurvivesMigration) {
  pid_t before = 0;
  pid_t after = 0;
  int seen = 0;
  run_migrating([&] {
    write_errno(4242);
    before = thread_id();
    goro::sleep(kPark);
    after = thread_id();
    seen = read_errno();
  });
  EXPECT_NE(before, after) << "goromigrate=1 did not move the goroutine";
  EXPECT_EQ(seen, 4242);
}

// Two goroutines on one thread interleave; each keeps its own errno across the switches.
TEST(GoroutineErrno, PerGoroutineOnOneThread) {
  std::atomic<int> finished{0};
  std::vector<int> seen(2, 0);
  run_with(nullptr, "1", [&] {
    for (int i = 0; i < 2; ++i) {
      goro::go([&, i] {
        int mine = 1000 + i;
        for (int round = 0; round < 50; ++round) {
          write_errno(mine);
          goro::yield();
          if (read_errno() != mine) break;
          seen[static_cast<std::size_t>(i)] = round + 1;
        }
        finished.fetch_add(1);
      });
    }
    yield_until([&] { return finished.load() == 2; });
  });
  EXPECT_EQ(seen[0], 50);
  EXPECT_EQ(seen[1], 50);
}

// --- Floating-point control words ------------------------------------------------------------
// MXCSR (SSE rounding, exception masks, flush-to-zero) and the x87 control word (precision,
// rounding) belong to the goroutine. The switch saves the outgoing pair and loads the
// incoming one when either differs from the thread's.

#if defined(__x86_64__)

std::uint32_t read_mxcsr() { return _mm_getcsr(); }
void write_mxcsr(std::uint32_t value) { _mm_setcsr(value); }

std::uint16_t read_x87_control() {
  std::uint16_t cw = 0;
  asm volatile("fnstcw %0" : "=m"(cw));
  return cw;
}
void write_x87_control(std::uint16_t cw) { asm volatile("fldcw %0" : : "m"(cw)); }

constexpr std::uint32_t kMxcsrRoundUp = 0x1f80 | 0x4000;  // defaults, rounding toward +inf
constexpr std::uint16_t kX87Single = 0x037f & ~0x0300;   // defaults, 24-bit precision

// Three goroutines take turns on one thread: one changes only MXCSR, one only the x87
// control word, one neither. Each must see its own pair after every switch, so each of the
// two comparisons in the switch has to notice its own difference.
TEST(GoroutineFpControl, PerGoroutineOnOneThread) {
  std::atomic<int> finished{0};
  std::vector<int> rounds(3, 0);
  std::uint32_t default_mxcsr = 0;
  std::uint16_t default_cw = 0;
  run_with(nullptr, "1", [&] {
    default_mxcsr = read_mxcsr();
    default_cw = read_x87_control();
    for (int i = 0; i < 3; ++i) {
      goro::go([&, i] {
        std::uint32_t mxcsr = i == 0 ? kMxcsrRoundUp : default_mxcsr;
        std::uint16_t cw = i == 1 ? kX87Single : default_cw;
        write_mxcsr(mxcsr);
        write_x87_control(cw);
        for (int round = 0; round < 50; ++round) {
          goro::yield();
          if (read_mxcsr() != mxcsr || read_x87_control() != cw) break;
          rounds[static_cast<std::size_t>(i)] = round + 1;
        }
        write_mxcsr(default_mxcsr);
        write_x87_control(default_cw);
        finished.fetch_add(1);
      });
    }
    yield_until([&] { return finished.load() == 3; });
    EXPECT_EQ(read_mxcsr(), default_mxcsr);
    EXPECT_EQ(read_x87_control(), default_cw);
  });
  EXPECT_EQ(default_mxcsr & 0xffc0, 0x1f80u) << "the test expects the power-on masks";
  EXPECT_EQ(rounds, (std::vector<int>{50, 50, 50}));
}

// A rounding mode set with fesetround (both words) goes with the goroutine to its next
// thread and does not stay behind on the old one.
TEST(GoroutineFpControl, RoundingModeSurvivesMigration) {
  pid_t before = 0;
  pid_t after = 0;
  int mode_after = -1;
  double third_up = 0;
  double third_nearest = 0;
  std::atomic<int> other_mode{-1};
  run_migrating([&] {
    volatile double numerator = 1.0;
    volatile double denominator = 3.0;
    third_nearest = numerator / denominator;
    std::fesetround(FE_UPWARD);
    before = thread_id();
    goro::sleep(kPark);
    after = thread_id();
    mode_after = std::fegetround();
    third_up = numerator / denominator;
    std::fesetround(FE_TONEAREST);

    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      other_mode.store(std::fegetround());
      wg.done();
    });
    std::fesetround(FE_DOWNWARD);
    wg.wait();
    std::fesetround(FE_TONEAREST);
  });
  EXPECT_NE(before, after) << "goromigrate=1 did not move the goroutine";
  EXPECT_EQ(mode_after, FE_UPWARD);
  EXPECT_GT(third_up, third_nearest);
  EXPECT_EQ(other_mode.load(), FE_TONEAREST) << "a new goroutine inherited its creator's mode";
}

// A new M's thread inherits the FP control words of the thread that created it. That thread
// may be running a goroutine with its own mode, so the M resets them before anything else.
TEST(GoroutineFpControl, NewThreadResetToDefaults) {
  std::uint32_t mxcsr = 0;
  std::uint16_t cw = 0;
  std::thread thread([&] {
    write_mxcsr(kMxcsrRoundUp & ~0x0200u);  // rounding up, divide-by-zero unmasked
    write_x87_control(kX87Single);
    goro::rt::context_reset_fp_control();
    mxcsr = read_mxcsr();
    cw = read_x87_control();
  });
  thread.join();
  EXPECT_EQ(mxcsr & 0xffc0, 0x1f80u);
  EXPECT_EQ(cw, 0x037f);
}

#endif  // __x86_64__

// --- Exception state ------------------------------------------------------------------------

TEST(GoroutineExceptions, ParkInsideCatchAndRethrow) {
  pid_t before = 0;
  pid_t after = 0;
  bool had_exception = false;
  std::string rethrown;
  bool clear_after = false;
  run_migrating([&] {
    try {
      try {
        throw std::runtime_error("inner");
      } catch (...) {
        before = thread_id();
        goro::sleep(kPark);
        after = thread_id();
        had_exception = std::current_exception() != nullptr;
        throw;
      }
    } catch (const std::runtime_error& e) {
      rethrown = e.what();
    }
    clear_after = std::current_exception() == nullptr;
  });
  EXPECT_NE(before, after) << "goromigrate=1 did not move the goroutine";
  EXPECT_TRUE(had_exception);
  EXPECT_EQ(rethrown, "inner");
  EXPECT_TRUE(clear_after);
}

// While one goroutine is parked inside a catch block, another goroutine on the same thread
// has no current exception, and its own catch does not disturb the first one's.
TEST(GoroutineExceptions, CaughtStateIsPerGoroutine) {
  std::atomic<bool> first_parked{false};
  std::atomic<bool> second_done{false};
  bool second_saw_none = false;
  std::string second_caught;
  std::string first_rethrown;
  run_with(nullptr, "1", [&] {
    goro::go([&] {
      try {
        try {
          throw std::runtime_error("first");
        } catch (...) {
          first_parked.store(true);
          yield_until([&] { return second_done.load(); });
          throw;
        }
      } catch (const std::runtime_error& e) {
        first_rethrown = e.what();
      }
    });
    goro::go([&] {
      yield_until([&] { return first_parked.load(); });
      second_saw_none = std::current_exception() == nullptr;
      try {
        throw std::logic_error("second");
      } catch (const std::logic_error& e) {
        goro::yield();
        second_caught = e.what();
      }
      second_done.store(true);
    });
    yield_until([&] { return second_done.load() && !first_rethrown.empty(); });
  });
  EXPECT_TRUE(second_saw_none);
  EXPECT_EQ(second_caught, "second");
  EXPECT_EQ(first_rethrown, "first");
}

// A destructor run by unwinding parks; the uncaught count stays 1 across the switch and the
// migration, and unwinding then completes into the handler.
struct parks_in_destructor {
  int* uncaught_before;
  int* uncaught_after;
  pid_t* thread_before;
  pid_t* thread_after;
  ~parks_in_destructor() {
    *uncaught_before = std::uncaught_exceptions();
    *thread_before = thread_id();
    goro::sleep(kPark);
    *thread_after = thread_id();
    *uncaught_after = std::uncaught_exceptions();
  }
};

TEST(GoroutineExceptions, ParkInDestructorDuringUnwinding) {
  int uncaught_before = -1;
  int uncaught_after = -1;
  pid_t before = 0;
  pid_t after = 0;
  std::string caught;
  int uncaught_in_handler = -1;
  run_migrating([&] {
    try {
      parks_in_destructor guard{&uncaught_before, &uncaught_after, &before, &after};
      throw std::runtime_error("unwinding");
    } catch (const std::runtime_error& e) {
      caught = e.what();
      uncaught_in_handler = std::uncaught_exceptions();
    }
  });
  EXPECT_NE(before, after) << "goromigrate=1 did not move the goroutine";
  EXPECT_EQ(uncaught_before, 1);
  EXPECT_EQ(uncaught_after, 1);
  EXPECT_EQ(caught, "unwinding");
  EXPECT_EQ(uncaught_in_handler, 0);
}

TEST(GoroutineExceptions, UncaughtCountIsPerGoroutine) {
  std::atomic<bool> first_parked{false};
  std::atomic<bool> second_done{false};
  int second_saw = -1;
  int first_after = -1;
  run_with(nullptr, "1", [&] {
    struct waits_in_destructor {
      std::atomic<bool>* parked;
      std::atomic<bool>* release;
      int* after;
      ~waits_in_destructor() {
        parked->store(true);
        yield_until([this] { return release->load(); });
        *after = std::uncaught_exceptions();
      }
    };
    goro::go([&] {
      try {
        waits_in_destructor guard{&first_parked, &second_done, &first_after};
        throw std::runtime_error("first");
      } catch (const std::runtime_error&) {
      }
    });
    goro::go([&] {
      yield_until([&] { return first_parked.load(); });
      second_saw = std::uncaught_exceptions();
      second_done.store(true);
    });
    yield_until([&] { return second_done.load() && first_after >= 0; });
  });
  EXPECT_EQ(second_saw, 0);
  EXPECT_EQ(first_after, 1);
}

// --- lock_os_thread -------------------------------------------------------------------------

class LockOsThread : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(F&& main) {
    return run_with(GetParam(), "2", std::forward<F>(main));
  }
  bool migrating() const { return std::string(GetParam()) == "goromigrate=1"; }
};

INSTANTIATE_TEST_SUITE_P(Godebug, LockOsThread, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

TEST_P(LockOsThread, SameThreadAcrossSleeps) {
  std::atomic<int> same{0};
  std::atomic<bool> done{false};
  run([&] {
    goro::go([&] {
      goro::lock_os_thread();
      pid_t tid = thread_id();
      for (int i = 0; i < 100; ++i) {
        goro::sleep(kPark);
        if (thread_id() == tid) same.fetch_add(1);
      }
      goro::unlock_os_thread();
      done.store(true);
    });
    yield_until([&] { return done.load(); });
  });
  EXPECT_EQ(same.load(), 100);
}

TEST_P(LockOsThread, MainGoroutineLocks) {
  int same = 0;
  run([&] {
    goro::lock_os_thread();
    pid_t tid = thread_id();
    for (int i = 0; i < 20; ++i) {
      goro::sleep(kPark);
      if (thread_id() == tid) ++same;
    }
    goro::unlock_os_thread();
  });
  EXPECT_EQ(same, 20);
}

TEST_P(LockOsThread, NestedCallsUnwireAfterLastUnlock) {
  int same_while_nested = 0;
  bool moved_after_unlock = false;
  std::atomic<bool> done{false};
  run([&] {
    goro::go([&] {
      goro::lock_os_thread();
      goro::lock_os_thread();
      pid_t tid = thread_id();
      goro::unlock_os_thread();  // still wired: one lock left
      for (int i = 0; i < 10; ++i) {
        goro::sleep(kPark);
        if (thread_id() == tid) ++same_while_nested;
      }
      goro::unlock_os_thread();
      goro::unlock_os_thread();  // an extra unlock is a no-op
      for (int i = 0; i < 10 && !moved_after_unlock; ++i) {
        goro::sleep(kPark);
        moved_after_unlock = thread_id() != tid;
      }
      done.store(true);
    });
    yield_until([&] { return done.load(); });
  });
  EXPECT_EQ(same_while_nested, 10);
  if (migrating()) {
    EXPECT_TRUE(moved_after_unlock) << "an unwired goroutine must migrate under goromigrate=1";
  }
}

TEST_P(LockOsThread, ExitWhileLockedEndsThread) {
  std::atomic<pid_t> locked_tid{0};
  bool thread_gone = false;
  pid_t self = thread_id();
  run([&] {
    // main stays on the thread that called goro::run, so the goroutine runs on another one
    // (that thread survives an exit while wired).
    goro::lock_os_thread();
    goro::go([&] {
      goro::lock_os_thread();
      goro::sleep(kPark);  // make sure the thread also ran the scheduler while wired
      locked_tid.store(thread_id());
    });
    yield_until([&] { return locked_tid.load() != 0; });
    std::string task = "/proc/self/task/" + std::to_string(locked_tid.load());
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!std::filesystem::exists(task)) {
        thread_gone = true;
        break;
      }
      goro::sleep(1ms);
    }
    goro::unlock_os_thread();
  });
  EXPECT_NE(locked_tid.load(), self) << "the goroutine ran on the thread that called goro::run";
  EXPECT_TRUE(thread_gone) << "thread " << locked_tid.load() << " still exists";
}

TEST(LockOsThreadApi, PlainThreadThrows) {
  EXPECT_THROW(goro::lock_os_thread(), goro::panic_error);
  EXPECT_THROW(goro::unlock_os_thread(), goro::panic_error);
}

}  // namespace
