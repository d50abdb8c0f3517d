// gdb on goroutine stacks: `bt` in a thread that is running a goroutine must walk the
// goroutine's frames and stop cleanly at its first frame (goro_rt_trampoline, whose CFI
// marks the return address undefined), with no "corrupt stack" complaint.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <thread>
#include <chrono>
#include <string>

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

}  // namespace
