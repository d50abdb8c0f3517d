// gdb on goroutine stacks: `bt` in a thread that is running a goroutine must walk the
// goroutine's frames and stop cleanly at its first frame (goro_rt_trampoline, whose CFI
// marks the return address undefined), with no "corrupt stack" complaint.
#include <gtest/gtest.h>

#include <unistd.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include <atomic>
#include <thread>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "child_process.h"
#include "gdb_runner.h"
#include "goro/goro.hpp"

namespace {

using namespace std::chrono_literals;
using goro_test::have_gdb;
using goro_test::run_command;
using goro_test::thread_in_read;

int block_fds[2] = {-1, -1};
std::atomic<bool> entering_read{false};
// The child reads from this descriptor number, so the parent can recognise the read(2) in
// /proc whatever descriptors the test runner left open.
constexpr int kReadFd = 100;

[[gnu::noinline]] void goroutine_blocked_in_read() {
  char byte = 0;
  entering_read.store(true);
  goro::blocking([&byte] { return ::read(kReadFd, &byte, 1); });
}

// The goroutine blocks in read(2) inside goro::blocking, so its thread sits in a system call
// with the goroutine's frames on the stack when gdb attaches.
GORO_CHILD_SCENARIO(goroutine_in_read) {
  if (::pipe(block_fds) != 0 || ::dup2(block_fds[0], kReadFd) != kReadFd) return 10;
  return goro::run(0, nullptr, [] {
    goro::go([] { goroutine_blocked_in_read(); });
    while (!entering_read.load()) goro::yield();
    std::puts("started");
    std::fflush(stdout);
    goro::sleep(std::chrono::hours(1));
  });
}

TEST(Gdb, BacktraceEndsAtGoroutineEntry) {
  if (!have_gdb()) GTEST_SKIP() << "gdb is not installed (apt-get install gdb)";
  goro_test::child_process child("goroutine_in_read");
  ASSERT_TRUE(child.wait_for_stdout("started", 20s)) << "the child never started its goroutine";
  auto deadline = std::chrono::steady_clock::now() + 20s;
  bool in_read = false;
  while (!in_read && std::chrono::steady_clock::now() < deadline) {
    in_read = thread_in_read(child.pid(), kReadFd);
    if (!in_read) std::this_thread::yield();
  }
  ASSERT_TRUE(in_read) << "no thread of the child reached read(2)";

  std::string bt = run_command("gdb -nx -batch -p " + std::to_string(child.pid()) +
                               " -ex 'thread apply all bt' 2>&1");
  child.kill();

  // The goroutine's thread shows its frames, from read down to the trampoline.
  auto frame = bt.find("goroutine_blocked_in_read");
  ASSERT_NE(frame, std::string::npos) << bt;
  auto entry = bt.find("goro_rt_trampoline", frame);
  EXPECT_NE(entry, std::string::npos) << "bt did not reach the goroutine's first frame\n" << bt;
  EXPECT_EQ(bt.find("corrupt stack"), std::string::npos) << bt;
  EXPECT_EQ(bt.find("previous frame identical"), std::string::npos) << bt;

  // The trampoline is the outermost frame of that thread: nothing follows it before the next
  // thread's listing.
  if (entry != std::string::npos) {
    auto line_end = bt.find('\n', entry);
    auto next_line = bt.substr(line_end + 1, bt.find('\n', line_end + 1) - line_end - 1);
    EXPECT_EQ(next_line.rfind("#", 0), std::string::npos)
        << "a frame follows the trampoline: " << next_line << "\n" << bt;
  }
}

#if defined(__x86_64__)

// --- Inside goro_rt_switch after the stack switch --------------------------------------------
// Once goro_rt_switch has moved to the incoming goroutine's stack, its CFI must describe that
// goroutine's frames, including the callee-saved registers it has not popped yet. Its callers
// keep their CFA in rbp (goro builds with -fno-omit-frame-pointer). An unwinder that takes rbp
// from the register, not from the incoming stack, walks the outgoing goroutine's frames.
// The reload of MXCSR and the x87 control word runs only in that window, when the incoming
// goroutine's control words differ from the thread's.

[[gnu::noinline]] void fp_parked_incoming() {
  goro::yield();  // parked here while fp_switching_outgoing switches to it
  goro::yield();
  asm volatile("" ::: "memory");  // no tail call: the frame must stay on the stack
}

[[gnu::noinline]] void fp_switching_outgoing() {
  _mm_setcsr(0x1f80 | 0x4000);  // defaults, rounding toward +inf
  goro::yield();
  _mm_setcsr(0x1f80);
  asm volatile("" ::: "memory");
}

// With GOMAXPROCS=1: fp_parked_incoming parks in its first yield, then fp_switching_outgoing
// changes MXCSR and yields to it, which takes the reload path of goro_rt_switch.
GORO_CHILD_SCENARIO(fp_reload_switch) {
  return goro::run(0, nullptr, [] {
    goro::wait_group wg;
    wg.add(2);
    goro::go([&] {
      fp_parked_incoming();
      wg.done();
    });
    goro::yield();
    goro::go([&] {
      fp_switching_outgoing();
      wg.done();
    });
    wg.wait();
  });
}

// Returns the offset of the first ldmxcsr in gdb's disassembly of goro_rt_switch, or -1.
long ldmxcsr_offset(const std::string& disassembly) {
  auto at = disassembly.find("ldmxcsr");
  if (at == std::string::npos) return -1;
  auto plus = disassembly.rfind("<+", at);
  if (plus == std::string::npos) return -1;
  return std::stol(disassembly.substr(plus + 2));
}

TEST(Gdb, BacktraceInFpReloadShowsIncoming) {
  if (!have_gdb()) GTEST_SKIP() << "gdb is not installed (apt-get install gdb)";
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();

  std::string disassembly =
      run_command("gdb -nx -batch -ex 'disassemble goro_rt_switch' '" + exe + "' 2>&1");
  long offset = ldmxcsr_offset(disassembly);
  ASSERT_GT(offset, 0) << "no ldmxcsr in goro_rt_switch\n" << disassembly;

  std::string bt = run_command(
      "GORO_TEST_SCENARIO=fp_reload_switch GOMAXPROCS=1 GODEBUG= timeout 60 gdb -nx -batch"
      " -ex 'set pagination off' -ex 'break *(goro_rt_switch+" + std::to_string(offset) + ")'"
      " -ex run -ex bt -ex kill --args '" + exe + "'"
      " --gtest_filter=DISABLED_ChildScenario.Run --gtest_also_run_disabled_tests 2>&1");

  ASSERT_NE(bt.find("Breakpoint 1, "), std::string::npos) << "the reload path never ran\n" << bt;
  std::string_view stack(bt);
  stack = stack.substr(stack.find("Breakpoint 1, "));
  EXPECT_NE(stack.find("fp_parked_incoming"), std::string_view::npos)
      << "bt does not show the incoming goroutine\n" << bt;
  EXPECT_EQ(stack.find("fp_switching_outgoing"), std::string_view::npos)
      << "bt shows the outgoing goroutine's frames on the incoming stack\n" << bt;
  EXPECT_NE(stack.find("goro_rt_trampoline"), std::string_view::npos) << bt;
}

#endif  // __x86_64__

}  // namespace
