// Tests for how a goro program dies: the deadlock detector (and the waits it must not mistake
// for a deadlock) and the panic report for an exception that escapes a goroutine.
//
// Every case runs in a child process (child_process.h) because its subject is the process's
// exit status and what it wrote to stderr.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

// GCC 12 at -O2 with sanitizers reports a false -Wmaybe-uninitialized inside <regex>.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#else
#include <regex>
#endif

#include "child_process.h"
#include "goro/runtime.hpp"
#include "goro/time.hpp"
#include "runtime/sched/sched.h"

namespace {

using namespace std::chrono_literals;
using goro_test::describe;
using goro_test::run_child;
namespace rt = goro::rt;

constexpr std::string_view kDeadlockLine = "fatal error: all goroutines are asleep - deadlock!\n";

// Unlock function for rt::park: publishes the parked G through `out` so a waker can ready it.
bool publish_parked_g(rt::G* gp, void* out) {
  static_cast<std::atomic<rt::G*>*>(out)->store(gp, std::memory_order_release);
  return true;
}

// --- Deadlock -------------------------------------------------------------------------------

GORO_CHILD_SCENARIO(main_parks_forever) {
  return goro::run(0, nullptr, [] {
    rt::park(rt::waitreason::chan_receive, nullptr, nullptr);
    return 0;
  });
}

TEST(Deadlock, MainParkedWithoutWaker) {
  auto r = run_child("main_parks_forever", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  std::string expected = std::string(kDeadlockLine) + "\ngoroutine 1 [chan receive]:\n";
  EXPECT_TRUE(r.err.starts_with(expected)) << describe(r);
}

GORO_CHILD_SCENARIO(two_goroutines_park_forever) {
  return goro::run(0, nullptr, [] {
    goro::go([] { rt::park(rt::waitreason::select_no_cases, nullptr, nullptr); });
    rt::park(rt::waitreason::chan_send, nullptr, nullptr);
    return 0;
  });
}

// A main goroutine wired to its thread sleeps in stoplockedm (counted in nmidlelocked), not in
// stopm; the detector must count that thread as idle too.
GORO_CHILD_SCENARIO(locked_main_parks_forever) {
  return goro::run(0, nullptr, [] {
    goro::lock_os_thread();
    goro::go([] { rt::park(rt::waitreason::chan_send, nullptr, nullptr); });
    rt::park(rt::waitreason::chan_receive, nullptr, nullptr);
    return 0;
  });
}

TEST(Deadlock, LockedMainParkedWithoutWaker) {
  auto r = run_child("locked_main_parks_forever", {"GOTRACEBACK", "GOMAXPROCS=2"}, 10s);
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with(kDeadlockLine)) << describe(r);
  EXPECT_NE(r.err.find("goroutine 1 [chan receive, locked to thread]:\n"), std::string::npos)
      << describe(r);
}

TEST(Deadlock, DumpListsEveryGoroutine) {
  auto r = run_child("two_goroutines_park_forever", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with(kDeadlockLine)) << describe(r);
  EXPECT_NE(r.err.find("\ngoroutine 1 [chan send]:\n"), std::string::npos) << describe(r);
  EXPECT_TRUE(std::regex_search(r.err, std::regex("\ngoroutine [0-9]+ \\[select \\(no cases\\)\\]:\n")))
      << describe(r);
}

// main parks until a goroutine that sleeps first readies it. While both wait, every M is
// idle; the pending timer is what makes it not a deadlock.
GORO_CHILD_SCENARIO(sleeper_readies_main) {
  return goro::run(0, nullptr, [] {
    std::atomic<rt::G*> parked{nullptr};
    goro::go([&parked] {
      goro::sleep(30ms);
      rt::G* main_g = nullptr;
      while ((main_g = parked.load(std::memory_order_acquire)) == nullptr) goro::yield();
      rt::runtime_mode mode;
      rt::ready(main_g);
    });
    rt::park(rt::waitreason::chan_receive, &publish_parked_g, &parked);
    std::puts("main resumed");
    return 0;
  });
}

TEST(Deadlock, SleepingGoroutineIsNotDeadlock) {
  auto r = run_child("sleeper_readies_main", {"GOMAXPROCS=1"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  EXPECT_NE(r.out.find("main resumed"), std::string::npos) << describe(r);
  EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << describe(r);
}

// Whether every M of the run is idle, read under sched.lock as checkdead reads it.
bool all_ms_idle() {
  std::lock_guard<rt::runtime_lock> guard(rt::sched.lock);
  return rt::sched.mcount_alive.load(std::memory_order_relaxed) - rt::sched.nmidle -
             rt::sched.nmidlelocked - rt::sched.nmsys ==
         0;
}

// main parks; a plain std::thread waits until every M is idle (so checkdead has run with
// main parked) and then readies main. The thread is registered in sched.nplain_active, the
// count checkdead treats as possible wakers.
// The scenario changes that counter itself, where a program would call
// goro::register_plain_thread (chan_test covers that call), so that the count is already
// raised when main parks and drops before the thread exits.
GORO_CHILD_SCENARIO(plain_thread_readies_main) {
  return goro::run(0, nullptr, [] {
    std::atomic<rt::G*> parked{nullptr};
    rt::sched.nplain_active.fetch_add(1, std::memory_order_release);
    std::thread waker([&parked] {
      rt::G* main_g = nullptr;
      while ((main_g = parked.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
      auto deadline = std::chrono::steady_clock::now() + 10s;
      while (!all_ms_idle()) {
        if (std::chrono::steady_clock::now() > deadline) {
          std::puts("idle state not reached");
          break;
        }
        std::this_thread::yield();
      }
      rt::ready_global(main_g);
      rt::sched.nplain_active.fetch_sub(1, std::memory_order_release);
    });
    rt::park(rt::waitreason::chan_receive, &publish_parked_g, &parked);
    goro::blocking([&waker] { waker.join(); });
    std::puts("main resumed");
    return 0;
  });
}

TEST(Deadlock, PlainThreadWakerIsNotDeadlock) {
  auto r = run_child("plain_thread_readies_main", {"GOMAXPROCS=1"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  EXPECT_NE(r.out.find("main resumed"), std::string::npos) << describe(r);
  EXPECT_EQ(r.out.find("idle state not reached"), std::string::npos) << describe(r);
  EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << describe(r);
}

// --- Panics ---------------------------------------------------------------------------------

[[gnu::noinline]] void throw_boom_from_worker() {
  throw std::runtime_error("boom");
}

[[gnu::noinline]] void throw_panic_error_from_worker() {
  throw goro::panic_error("send on closed channel");
}

// Starts `body` in a goroutine, prints its id on stdout and waits for the process to die.
template <class Body>
int run_panicking_worker(Body body) {
  return goro::run(0, nullptr, [body] {
    std::atomic<bool> started{false};
    goro::go([&started, body] {
      std::printf("worker %lld\n", static_cast<long long>(goro::goroutine_id()));
      std::fflush(stdout);
      started.store(true);
      body();
    });
    while (true) goro::sleep(1s);
    return 0;
  });
}

GORO_CHILD_SCENARIO(worker_throws_runtime_error) {
  return run_panicking_worker([] { throw_boom_from_worker(); });
}

GORO_CHILD_SCENARIO(worker_throws_panic_error) {
  return run_panicking_worker([] { throw_panic_error_from_worker(); });
}

GORO_CHILD_SCENARIO(main_throws_runtime_error) {
  return goro::run(0, nullptr, [] {
    throw_boom_from_worker();
    return 0;
  });
}

// The id the worker printed on stdout, or -1.
long long worker_id(const goro_test::child_result& r) {
  std::smatch m;
  if (!std::regex_search(r.out, m, std::regex("worker ([0-9]+)\n"))) return -1;
  return std::stoll(m[1]);
}

TEST(Panic, EscapedExceptionReport) {
  auto r = run_child("worker_throws_runtime_error", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  long long id = worker_id(r);
  ASSERT_GT(id, 1) << describe(r);
  std::string expected = "panic: std::runtime_error: boom\n\ngoroutine " + std::to_string(id) +
                         " [running]:\n";
  EXPECT_TRUE(r.err.starts_with(expected)) << describe(r);
  EXPECT_NE(r.err.find("throw_boom_from_worker"), std::string::npos) << describe(r);
}

// Every frame of a goroutine, down to the runtime's, prints demangled. The frames that call
// the goroutine's function once printed mangled, because GCC 12's demangler rejected the
// names that goro::go's closure call used to produce.
TEST(Panic, EveryFrameIsDemangled) {
  auto r = run_child("worker_throws_runtime_error", {"GOTRACEBACK=system"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_NE(r.err.find("\ngoro::detail::invoke_closure<"), std::string::npos) << describe(r);
  EXPECT_EQ(r.err.find("\n_Z"), std::string::npos) << describe(r);
}

// The creator line names the function that called goro::go, with its file and line.
TEST(Panic, CreatedByNamesCreator) {
  auto r = run_child("worker_throws_runtime_error", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("created by ([^\n]*) in goroutine 1\n\t([^\n]*)")))
      << describe(r);
  // The caller is the lambda inside run_panicking_worker. Unoptimised builds name it with its
  // enclosing function; optimised ones inline it, and the debug information then names only
  // the inlined "operator()".
  std::string creator = m[1].str();
  EXPECT_TRUE(creator.find("run_panicking_worker") != std::string::npos ||
              creator == "operator()")
      << describe(r);
  EXPECT_FALSE(creator.starts_with("goro::go")) << describe(r);
  EXPECT_NE(m[2].str().find("crash_test.cc:"), std::string::npos) << describe(r);
}

TEST(Panic, MainGoroutineException) {
  auto r = run_child("main_throws_runtime_error", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with("panic: std::runtime_error: boom\n\ngoroutine 1 [running]:\n"))
      << describe(r);
  EXPECT_NE(r.err.find("throw_boom_from_worker"), std::string::npos) << describe(r);
}

TEST(Panic, TracebackNonePrintsOnlyPanicLine) {
  auto r = run_child("worker_throws_runtime_error", {"GOTRACEBACK=none"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with("panic: std::runtime_error: boom\n")) << describe(r);
  EXPECT_EQ(r.err.find("goroutine"), std::string::npos) << describe(r);
  EXPECT_EQ(r.err.find("throw_boom_from_worker"), std::string::npos) << describe(r);
}

TEST(Panic, PanicErrorPrintsWhatOnly) {
  auto r = run_child("worker_throws_panic_error", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with("panic: send on closed channel\n\ngoroutine ")) << describe(r);
  EXPECT_NE(r.err.find("throw_panic_error_from_worker"), std::string::npos) << describe(r);
}

}  // namespace
