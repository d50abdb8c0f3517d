// Tests for goroutine dumps: goro::stack, rt::snapshot_goroutines, the SIGQUIT dump, the
// GOTRACEBACK levels and the long-runner report.
//
// Dumps are checked line by line against Go's formats: the header
// "goroutine N [wait reason, M minutes]:", a frame line with the function followed by
// "\t<file>:<line> +0x<offset>", and "created by F in goroutine K" with its file line. Each
// blocking function below is named and not inlined, and a constant just before it records
// the line of its blocking call, so a test can check the frame's file and line.
#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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
#include "goro/chan.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/signal.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "goro_fixture.h"
#include "lib/sema.h"
#include "runtime/os/futex.h"
#include "runtime/sched/longrun.h"
#include "runtime/sched/sanitizer.h"
#include "runtime/sched/sched.h"
#include "runtime/trace/snapshot.h"
#include "runtime/trace/symbolize.h"

namespace {

using namespace std::chrono_literals;
using goro_test::child_process;
using goro_test::describe;
using goro_test::run_child;
using goro_test::yield_until;
namespace rt = goro::rt;

// --- Blocking functions ---------------------------------------------------------------------

// Placed after a function's last call so that the compiler cannot turn that call into a tail
// call, which would drop the function's own frame from the stack.
inline void keep_frame() { asm volatile("" ::: "memory"); }

constexpr int kChanReceiveLine = __LINE__ + 1;
[[gnu::noinline]] void wait_in_chan_receive(goro::chan<int> c) { (void)c.recv(); }

constexpr int kChanSendLine = __LINE__ + 1;
[[gnu::noinline]] void wait_in_chan_send(goro::chan<int> c) { c.send(1); keep_frame(); }

constexpr int kSelectLine = __LINE__ + 3;
[[gnu::noinline]] void wait_in_select(goro::chan<int> a, goro::chan<int> b) {
  auto ignore = [](std::optional<int>) {};
  goro::select(goro::on_recv(a, ignore), goro::on_recv(b, ignore));
  keep_frame();
}

constexpr int kSleepLine = __LINE__ + 1;
[[gnu::noinline]] void wait_in_sleep() { goro::sleep(1h); keep_frame(); }

constexpr int kMutexLine = __LINE__ + 1;
[[gnu::noinline]] void wait_in_mutex_lock(goro::mutex* m) { std::lock_guard<goro::mutex> hold(*m); }

constexpr int kSemacquireLine = __LINE__ + 2;
[[gnu::noinline]] void wait_in_semacquire(std::atomic<std::uint32_t>* sema) {
  rt::semacquire(sema, rt::waitreason::semacquire, false);
  keep_frame();
}

constexpr int kWaitGroupLine = __LINE__ + 1;
[[gnu::noinline]] void wait_in_wait_group(goro::wait_group* wg) { wg->wait(); keep_frame(); }

constexpr int kCondLine = __LINE__ + 4;
[[gnu::noinline]] void wait_in_cond(goro::mutex* m, goro::condition_variable* cv,
                                    const bool* done) {
  std::unique_lock<goro::mutex> lock(*m);
  while (!*done) cv->wait(lock);
}

// Unlock function for rt::park: publishes the parked G through `out`.
bool publish_parked_g(rt::G* gp, void* out) {
  static_cast<std::atomic<rt::G*>*>(out)->store(gp, std::memory_order_release);
  return true;
}

constexpr int kParkLine = __LINE__ + 2;
[[gnu::noinline]] void wait_in_park(std::atomic<rt::G*>* parked) {
  rt::park(rt::waitreason::chan_receive, &publish_parked_g, parked);
  keep_frame();
}

// Reads one byte from fd inside goro::blocking, as a goroutine in a system call.
constexpr int kBlockingReadLine = __LINE__ + 3;
[[gnu::noinline]] void wait_in_blocking_read(int fd) {
  char byte = 0;
  (void)goro::blocking([fd, &byte] { return ::read(fd, &byte, 1); });
  keep_frame();
}

// --- Helpers --------------------------------------------------------------------------------

// Returns the status of goroutine `goid` in a fresh snapshot, or dead if it is not listed.
rt::gstatus status_of(std::int64_t goid) {
  for (const rt::goroutine_snapshot& s : rt::snapshot_goroutines()) {
    if (s.goid == goid) return s.status;
  }
  return rt::gstatus::dead;
}

// Starts f in a goroutine and returns its id once it is parked.
template <class F>
std::int64_t go_until_parked(F f) {
  auto id = std::make_shared<std::atomic<std::int64_t>>(0);
  goro::go([id, f]() mutable {
    id->store(goro::goroutine_id(), std::memory_order_release);
    f();
  });
  yield_until([&] { return id->load(std::memory_order_acquire) != 0; });
  const std::int64_t goid = id->load(std::memory_order_acquire);
  yield_until([&] { return status_of(goid) == rt::gstatus::waiting; });
  return goid;
}

// A pipe whose read end a goroutine blocks on in wait_in_blocking_read until the write end
// gets a byte or is closed.
struct blocking_pipe {
  int read_fd = -1;
  int write_fd = -1;

  blocking_pipe() {
    int fds[2];
    if (::pipe(fds) == 0) {
      read_fd = fds[0];
      write_fd = fds[1];
    }
  }
  ~blocking_pipe() {
    if (read_fd >= 0) ::close(read_fd);
    if (write_fd >= 0) ::close(write_fd);
  }
  blocking_pipe(const blocking_pipe&) = delete;
  blocking_pipe& operator=(const blocking_pipe&) = delete;

  // Ends the read of wait_in_blocking_read.
  void release() { (void)::write(write_fd, "x", 1); }
};

// Starts a goroutine that reads from `fd` inside goro::blocking and returns its id once its
// status is syscall.
std::int64_t go_until_in_syscall(int fd) {
  auto id = std::make_shared<std::atomic<std::int64_t>>(0);
  goro::go([id, fd] {
    id->store(goro::goroutine_id(), std::memory_order_release);
    wait_in_blocking_read(fd);
  });
  yield_until([&] { return id->load(std::memory_order_acquire) != 0; });
  const std::int64_t goid = id->load(std::memory_order_acquire);
  yield_until([&] { return status_of(goid) == rt::gstatus::syscall; });
  return goid;
}

// Returns the ids of the goroutine headers in `dump`, in the order they appear.
std::vector<std::int64_t> header_ids(const std::string& dump) {
  const std::regex header("(^|\n)goroutine ([0-9]+) [^\n]*\\]:\n");
  std::vector<std::int64_t> ids;
  for (auto it = std::sregex_iterator(dump.begin(), dump.end(), header);
       it != std::sregex_iterator(); ++it) {
    ids.push_back(std::stoll((*it)[2].str()));
  }
  return ids;
}

// Returns the lines of goroutine `goid` in `dump`: its header up to the blank line after it.
// The header may carry GOTRACEBACK=system's "gp=0x... m=N" before the state.
std::string goroutine_block(const std::string& dump, std::int64_t goid) {
  std::size_t start = std::string::npos;
  for (const char* after_id : {" [", " gp="}) {
    const std::string header = "goroutine " + std::to_string(goid) + after_id;
    const std::size_t at = dump.starts_with(header) ? 0 : dump.find("\n" + header);
    if (at != std::string::npos) start = at == 0 ? 0 : at + 1;
    if (start != std::string::npos) break;
  }
  if (start == std::string::npos) return "";
  const std::size_t end = dump.find("\n\n", start);
  return dump.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
}

// GCC names a specialised copy of a function (an optimisation clone, at -O2) with a suffix
// such as " [clone .isra.0]", which the frame line keeps.
const std::string kCloneSuffix = "( \\[clone [^\n]*\\])?";

// Matches a frame of `function` at dump_test.cc:line, as Go prints a frame (with the
// registers that GOTRACEBACK=system adds, if present).
std::regex frame_at(const std::string& function, int line) {
  // Clang's demangled names keep the ABI tag of a function that returns std::string.
  return std::regex("\n(\\(anonymous namespace\\)::)?" + function +
                    "(\\[abi:[a-z0-9]+\\])?\\([^\n]*\\)" + kCloneSuffix +
                    "\n\t[^\n]*dump_test\\.cc:" + std::to_string(line) +
                    " \\+0x[0-9a-f]+( fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ pc=0x[0-9a-f]+)?\n");
}

// Matches Go's creator lines for a goroutine started in go_until_parked by goroutine 1.
const std::regex kCreatedByHelper(
    "\ncreated by [^\n]*go_until_parked[^\n]* in goroutine 1\n\t[^\n]*dump_test\\.cc:[0-9]+ "
    "\\+0x[0-9a-f]+\n");

// Matches Go's creator lines for a goroutine started in go_until_in_syscall by goroutine 1.
const std::regex kCreatedBySyscallHelper(
    "\ncreated by [^\n]*go_until_in_syscall[^\n]* in goroutine 1\n\t[^\n]*dump_test\\.cc:"
    "[0-9]+ \\+0x[0-9a-f]+\n");

// Checks the dump block of goroutine `goid`, blocked in wait_in_blocking_read.
void expect_syscall_block(const std::string& dump, std::int64_t goid) {
  const std::string block = goroutine_block(dump, goid);
  ASSERT_FALSE(block.empty()) << "goroutine " << goid << " missing from:\n" << dump;
  EXPECT_TRUE(block.starts_with("goroutine " + std::to_string(goid) + " [syscall]:\n"))
      << block;
  EXPECT_TRUE(std::regex_search(block, frame_at("wait_in_blocking_read", kBlockingReadLine)))
      << block;
  // goro::blocking is the innermost frame, at its call of enter_blocking. Inlined into its
  // caller (at -O2), it is named without its namespace.
  EXPECT_TRUE(std::regex_search(block, std::regex("^goroutine [0-9]+ \\[syscall\\]:\n"
                                                  "(goro::)?blocking<")))
      << block;
  EXPECT_TRUE(std::regex_search(block, kCreatedBySyscallHelper)) << block;
  EXPECT_EQ(block.find("stack unavailable"), std::string::npos) << block;
}

// Checks the dump block of a goroutine parked in `function` at `line`.
void expect_parked_block(const std::string& dump, std::int64_t goid, const std::string& reason,
                         const std::string& function, int line) {
  const std::string block = goroutine_block(dump, goid);
  ASSERT_FALSE(block.empty()) << "goroutine " << goid << " missing from:\n" << dump;
  EXPECT_TRUE(block.starts_with("goroutine " + std::to_string(goid) + " [" + reason + "]:\n"))
      << block;
  EXPECT_TRUE(std::regex_search(block, frame_at(function, line))) << block;
  EXPECT_TRUE(std::regex_search(block, kCreatedByHelper)) << block;
}

// Checks what GOTRACEBACK=system adds to a dump whose main goroutine waits in chan receive:
// gp= and m= in the header, and fp= sp= pc= on frame lines.
void expect_system_level(const std::string& err) {
  EXPECT_TRUE(std::regex_search(err, std::regex("\ngoroutine 1 gp=0x[0-9a-f]+ m=nil "
                                                "\\[chan receive\\]:\n")))
      << err;
  EXPECT_TRUE(std::regex_search(err, std::regex(" fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ "
                                                "pc=0x[0-9a-f]+\n")))
      << err;
}

// --- Wait reasons in goro::stack(true) ------------------------------------------------------

TEST(DumpWaitReason, ChanReceive) {
  goro::run(0, nullptr, [] {
    goro::chan<int> c;
    const std::int64_t goid = go_until_parked([c] { wait_in_chan_receive(c); });
    expect_parked_block(goro::stack(true), goid, "chan receive", "wait_in_chan_receive",
                        kChanReceiveLine);
    c.send(1);
  });
}

TEST(DumpWaitReason, ChanSend) {
  goro::run(0, nullptr, [] {
    goro::chan<int> c;
    const std::int64_t goid = go_until_parked([c] { wait_in_chan_send(c); });
    expect_parked_block(goro::stack(true), goid, "chan send", "wait_in_chan_send",
                        kChanSendLine);
    (void)c.recv();
  });
}

TEST(DumpWaitReason, Select) {
  goro::run(0, nullptr, [] {
    goro::chan<int> a;
    goro::chan<int> b;
    const std::int64_t goid = go_until_parked([a, b] { wait_in_select(a, b); });
    expect_parked_block(goro::stack(true), goid, "select", "wait_in_select", kSelectLine);
    a.close();
  });
}

TEST(DumpWaitReason, Sleep) {
  goro::run(0, nullptr, [] {
    const std::int64_t goid = go_until_parked([] { wait_in_sleep(); });
    expect_parked_block(goro::stack(true), goid, "sleep", "wait_in_sleep", kSleepLine);
  });
}

TEST(DumpWaitReason, MutexLock) {
  goro::run(0, nullptr, [] {
    goro::mutex m;
    m.lock();
    const std::int64_t goid = go_until_parked([&m] { wait_in_mutex_lock(&m); });
    expect_parked_block(goro::stack(true), goid, "sync.Mutex.Lock", "wait_in_mutex_lock",
                        kMutexLine);
    m.unlock();
    yield_until([&] { return status_of(goid) == rt::gstatus::dead; });
  });
}

TEST(DumpWaitReason, Semacquire) {
  goro::run(0, nullptr, [] {
    std::atomic<std::uint32_t> sema{0};
    const std::int64_t goid = go_until_parked([&sema] { wait_in_semacquire(&sema); });
    expect_parked_block(goro::stack(true), goid, "semacquire", "wait_in_semacquire",
                        kSemacquireLine);
    rt::semrelease(&sema, false);
    yield_until([&] { return status_of(goid) == rt::gstatus::dead; });
  });
}

TEST(DumpWaitReason, WaitGroupWait) {
  goro::run(0, nullptr, [] {
    goro::wait_group wg;
    wg.add(1);
    const std::int64_t goid = go_until_parked([&wg] { wait_in_wait_group(&wg); });
    expect_parked_block(goro::stack(true), goid, "sync.WaitGroup.Wait", "wait_in_wait_group",
                        kWaitGroupLine);
    wg.done();
    yield_until([&] { return status_of(goid) == rt::gstatus::dead; });
  });
}

TEST(DumpWaitReason, CondWait) {
  goro::run(0, nullptr, [] {
    goro::mutex m;
    goro::condition_variable cv;
    bool done = false;
    const std::int64_t goid = go_until_parked([&] { wait_in_cond(&m, &cv, &done); });
    expect_parked_block(goro::stack(true), goid, "sync.Cond.Wait", "wait_in_cond", kCondLine);
    {
      std::lock_guard<goro::mutex> hold(m);
      done = true;
    }
    cv.notify_all();
    yield_until([&] { return status_of(goid) == rt::gstatus::dead; });
  });
}

// --- Goroutines in goro::blocking -----------------------------------------------------------

TEST(DumpSyscall, StackShowsCallerFrames) {
  goro::run(0, nullptr, [] {
    blocking_pipe pipe;
    ASSERT_GE(pipe.read_fd, 0) << "pipe failed";
    const std::int64_t goid = go_until_in_syscall(pipe.read_fd);
    expect_syscall_block(goro::stack(true), goid);
    pipe.release();
    yield_until([&] { return status_of(goid) == rt::gstatus::dead; });
  });
}

TEST(DumpSyscall, TracebackSystemShowsRuntimeFrames) {
  goro_test::scoped_env traceback("GOTRACEBACK", "system");
  goro::run(0, nullptr, [] {
    blocking_pipe pipe;
    ASSERT_GE(pipe.read_fd, 0) << "pipe failed";
    const std::int64_t goid = go_until_in_syscall(pipe.read_fd);
    const std::string dump = goro::stack(true);
    const std::size_t start = dump.find("\ngoroutine " + std::to_string(goid) + " gp=");
    ASSERT_NE(start, std::string::npos) << dump;
    const std::string block = dump.substr(start, dump.find("\n\n", start + 1) - start);
    EXPECT_NE(block.find("m=nil [syscall]:\n"), std::string::npos) << block;
    // The walk reaches the goroutine's first frame, the trampoline.
    EXPECT_NE(block.find("\ngoro_rt_trampoline()\n"), std::string::npos) << block;
    EXPECT_NE(block.find("wait_in_blocking_read("), std::string::npos) << block;
    pipe.release();
    yield_until([&] { return status_of(goid) == rt::gstatus::dead; });
  });
}

// Makes short blocking calls until *stop is set.
constexpr int kBlockingLoopLine = __LINE__ + 3;
[[gnu::noinline]] void loop_in_blocking_calls(const std::atomic<bool>* stop) {
  while (!stop->load(std::memory_order_relaxed)) {
    goro::blocking([] { ::usleep(200); });
  }
  keep_frame();
}

// Dumps taken while a goroutine enters and leaves goro::blocking: whenever it shows as
// syscall, its frames are the loop's, never those of a goroutine that moved on meanwhile.
TEST(DumpSyscall, DumpsWhileEnteringAndLeaving) {
  goro_test::scoped_env procs("GOMAXPROCS", "2");
  goro::run(0, nullptr, [] {
    std::atomic<bool> stop{false};
    auto id = std::make_shared<std::atomic<std::int64_t>>(0);
    goro::go([id, &stop] {
      id->store(goro::goroutine_id(), std::memory_order_release);
      loop_in_blocking_calls(&stop);
    });
    yield_until([&] { return id->load(std::memory_order_acquire) != 0; });
    const std::int64_t goid = id->load(std::memory_order_acquire);

    // Dumps until kSyscallDumps of them found the goroutine inside a call. It spends most of
    // its time there, but each dump stops it, so main sleeps between dumps to let it go on.
    // Under TSan on a loaded 2-CPU machine only about 1 dump in 400 found it there (it was
    // runnable in the others), so the bound is a time, not a number of dumps.
    constexpr int kSyscallDumps = 10;
    const auto limit = std::chrono::steady_clock::now() + 30s;
    int syscall_dumps = 0;
    int dumps = 0;
    for (; std::chrono::steady_clock::now() < limit && syscall_dumps < kSyscallDumps; ++dumps) {
      const std::string block = goroutine_block(goro::stack(true), goid);
      ASSERT_FALSE(block.empty()) << "goroutine " << goid << " missing from dump " << dumps;
      if (block.starts_with("goroutine " + std::to_string(goid) + " [syscall]:\n")) {
        ++syscall_dumps;
        ASSERT_TRUE(std::regex_search(block, frame_at("loop_in_blocking_calls",
                                                      kBlockingLoopLine)))
            << "dump " << dumps << ":\n" << block;
      }
      goro::sleep(100us);
    }
    stop.store(true);
    EXPECT_EQ(syscall_dumps, kSyscallDumps) << "after " << dumps << " dumps";
  });
}

// --- Dump order -----------------------------------------------------------------------------

TEST(DumpOrder, CallerFirstThenCreationOrder) {
  goro::run(0, nullptr, [] {
    goro::chan<int> never;
    std::vector<std::int64_t> parked;
    constexpr int kParked = 4;
    for (int i = 0; i < kParked; ++i) {
      parked.push_back(go_until_parked([never] { wait_in_chan_receive(never); }));
    }
    goro::chan<std::string> dump(1);
    goro::chan<std::int64_t> dumper_id(1);
    goro::go([dump, dumper_id] {
      dumper_id.send(goro::goroutine_id());
      dump.send(goro::stack(true));
    });
    const std::int64_t dumper = dumper_id.recv().value_or(0);
    const std::string text = dump.recv().value_or("");

    std::vector<std::int64_t> expected{dumper, 1};
    expected.insert(expected.end(), parked.begin(), parked.end());
    EXPECT_EQ(header_ids(text), expected) << text;
    never.close();
  });
}

// Go prints goroutines in allgs order, where a reused G keeps the place of the goroutine
// that first had it, so a newer goroutine may come before an older one.
TEST(DumpOrder, ReusedGoroutineKeepsPlace) {
  // One P, so that a new goroutine takes the G that the last one to exit freed on that P.
  goro_test::scoped_env procs("GOMAXPROCS", "1");
  goro::run(0, nullptr, [] {
    goro::chan<int> first_done;
    goro::chan<int> never;
    std::atomic<rt::G*> first_g{nullptr};
    std::atomic<rt::G*> reused_g{nullptr};
    const std::int64_t first = go_until_parked([first_done, &first_g] {
      first_g.store(rt::getg());
      wait_in_chan_receive(first_done);
    });
    const std::int64_t second = go_until_parked([never] { wait_in_chan_receive(never); });
    first_done.send(1);
    yield_until([&] { return status_of(first) == rt::gstatus::dead; });
    const std::int64_t third = go_until_parked([never, &reused_g] {
      reused_g.store(rt::getg());
      wait_in_chan_receive(never);
    });
    ASSERT_EQ(reused_g.load(), first_g.load()) << "goroutine " << third
                                               << " did not reuse goroutine " << first << "'s G";

    const std::string text = goro::stack(true);
    EXPECT_EQ(header_ids(text), (std::vector<std::int64_t>{1, third, second})) << text;
    never.close();
  });
}

// --- goro::stack ----------------------------------------------------------------------------

constexpr int kStackCallLine = __LINE__ + 2;
[[gnu::noinline]] std::string stack_of_caller() {
  std::string text = goro::stack(false);
  keep_frame();
  return text;
}

TEST(DumpStack, CallerOnly) {
  goro::run(0, nullptr, [] {
    goro::chan<int> c;
    const std::int64_t other = go_until_parked([c] { wait_in_chan_receive(c); });
    const std::string text = stack_of_caller();
    EXPECT_TRUE(text.starts_with("goroutine 1 [running]:\n")) << text;
    EXPECT_TRUE(std::regex_search(text, frame_at("stack_of_caller", kStackCallLine))) << text;
    EXPECT_EQ(goroutine_block(text, other), "") << text;
    // The main goroutine has no creator.
    EXPECT_EQ(text.find("created by"), std::string::npos) << text;
    c.send(1);
  });
}

TEST(DumpStack, CallerFirstThenOthers) {
  goro::run(0, nullptr, [] {
    goro::chan<int> c;
    const std::int64_t other = go_until_parked([c] { wait_in_chan_receive(c); });
    const std::string text = goro::stack(true);
    EXPECT_TRUE(text.starts_with("goroutine 1 [running]:\n")) << text;
    EXPECT_NE(text.find("\n\ngoroutine " + std::to_string(other) + " [chan receive]:\n"),
              std::string::npos)
        << text;
    EXPECT_TRUE(text.ends_with("\n")) << text;
    EXPECT_FALSE(text.ends_with("\n\n")) << text;
    c.send(1);
  });
}

TEST(DumpStack, AllWhileOthersRun) {
  goro_test::scoped_env procs("GOMAXPROCS", "4");
  goro::run(0, nullptr, [] {
    std::atomic<bool> stop{false};
    std::atomic<int> started{0};
    constexpr int kYielders = 3;
    for (int i = 0; i < kYielders; ++i) {
      goro::go([&] {
        started.fetch_add(1);
        while (!stop.load(std::memory_order_relaxed)) goro::yield();
      });
    }
    // One goroutine that reaches no scheduling point until `stop` is set.
    goro::go([&] {
      started.fetch_add(1);
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
    yield_until([&] { return started.load() == kYielders + 1; });

    constexpr int kDumps = 5;
    const std::regex header("(^|\n)goroutine [0-9]+ \\[[a-z. A-Z]+\\]:\n");
    for (int i = 0; i < kDumps; ++i) {
      const std::string text = goro::stack(true);
      const auto headers = std::distance(
          std::sregex_iterator(text.begin(), text.end(), header), std::sregex_iterator());
      EXPECT_EQ(headers, 1 + kYielders + 1) << text;
    }
    stop.store(true);
  });
}

TEST(DumpStack, PlainThreadThrows) {
  std::string error;
  std::thread plain([&] {
    try {
      (void)goro::stack(true);
    } catch (const goro::panic_error& e) {
      error = e.what();
    }
  });
  plain.join();
  EXPECT_NE(error.find("goro::stack: called from a thread that is not running a goroutine"),
            std::string::npos)
      << error;
}

// --- Minutes --------------------------------------------------------------------------------

TEST(DumpMinutes, HeaderShowsWholeMinutes) {
  goro::run(0, nullptr, [] {
    std::atomic<rt::G*> parked{nullptr};
    goro::go([&parked] { wait_in_park(&parked); });
    yield_until([&] { return parked.load(std::memory_order_acquire) != nullptr; });
    rt::G* gp = parked.load(std::memory_order_acquire);
    const std::string id = std::to_string(gp->goid);

    // No dump has seen the wait yet: no minutes.
    const std::string first = goro::stack(true);
    EXPECT_NE(first.find("goroutine " + id + " [chan receive]:\n"), std::string::npos) << first;

    // That dump stamped waitsince; back-date it instead of waiting.
    constexpr std::int64_t kMinute = 60'000'000'000;
    EXPECT_NE(gp->waitsince.load(), 0);
    gp->waitsince.store(rt::os::nanotime() - kMinute - kMinute / 2);
    const std::string one = goro::stack(true);
    EXPECT_NE(one.find("goroutine " + id + " [chan receive, 1 minutes]:\n"), std::string::npos)
        << one;

    gp->waitsince.store(rt::os::nanotime() - 125 * kMinute);
    const std::string many = goro::stack(true);
    EXPECT_NE(many.find("goroutine " + id + " [chan receive, 125 minutes]:\n"),
              std::string::npos)
        << many;
    EXPECT_TRUE(std::regex_search(many, frame_at("wait_in_park", kParkLine))) << many;

    // Waking the goroutine clears the stamp.
    {
      rt::runtime_mode mode;
      rt::ready(gp);
    }
    // Parse outside the loop: std::stoll touches errno, and the compiler computes errno's
    // address once for the whole loop, which is stale once main resumes on another thread.
    const std::int64_t goid = std::stoll(id);
    yield_until([&] { return status_of(goid) == rt::gstatus::dead; });
  });
}

// --- Snapshots ------------------------------------------------------------------------------

// Returns true if the innermost logical frame at one of pcs names `function`.
bool pcs_name(const std::vector<std::uintptr_t>& pcs, const std::string& function) {
  for (std::uintptr_t pc : pcs) {
    rt::symbol_info symbol;
    rt::symbolize_pc(pc - 1, &symbol);
    if (std::string(symbol.function).find(function) != std::string::npos) return true;
  }
  return false;
}

TEST(DumpSnapshot, RecordsEveryField) {
  goro::run(0, nullptr, [] {
    // semacquire is an out-of-line call, so its return address lies in wait_in_semacquire
    // itself rather than in a function inlined there.
    std::atomic<std::uint32_t> sema{0};
    const std::int64_t goid = go_until_parked([&sema] { wait_in_semacquire(&sema); });
    const std::vector<rt::goroutine_snapshot> first = rt::snapshot_goroutines();
    const std::vector<rt::goroutine_snapshot> all = rt::snapshot_goroutines();
    ASSERT_EQ(first.size(), 2u);
    ASSERT_EQ(all.size(), 2u);

    const rt::goroutine_snapshot& self = all[0];
    EXPECT_EQ(self.goid, 1);
    EXPECT_EQ(self.status, rt::gstatus::running);
    EXPECT_EQ(self.creator_pc, 0u);
    EXPECT_EQ(self.parent_goid, 0);
    EXPECT_TRUE(pcs_name(self.pcs, "DumpSnapshot_RecordsEveryField")) << self.pcs.size();

    const rt::goroutine_snapshot& other = all[1];
    EXPECT_EQ(other.goid, goid);
    EXPECT_EQ(other.status, rt::gstatus::waiting);
    EXPECT_EQ(other.wait_reason, rt::waitreason::semacquire);
    // go_until_parked's snapshots stamped the wait, so it grows from one snapshot to the next.
    EXPECT_GT(first[1].wait_ns, 0);
    EXPECT_GE(other.wait_ns, first[1].wait_ns);
    EXPECT_TRUE(pcs_name(other.pcs, "wait_in_semacquire")) << other.pcs.size();
    EXPECT_EQ(other.parent_goid, 1);
    rt::symbol_info creator;
    rt::symbolize_pc(other.creator_pc - 1, &creator);
    EXPECT_NE(std::string(creator.function).find("go_until_parked"), std::string::npos)
        << creator.function;
    rt::semrelease(&sema, false);
    yield_until([&] { return status_of(goid) == rt::gstatus::dead; });
  });
}

TEST(DumpSnapshot, RepeatedSnapshotsKeepStack) {
  goro::run(0, nullptr, [] {
    std::atomic<std::uint32_t> sema{0};
    const std::int64_t goid = go_until_parked([&sema] { wait_in_semacquire(&sema); });
    const auto parked_stack = [goid] {
      for (rt::goroutine_snapshot& s : rt::snapshot_goroutines()) {
        if (s.goid == goid) return s.pcs;
      }
      return std::vector<std::uintptr_t>{};
    };
    const std::vector<std::uintptr_t> first = parked_stack();

    // Each snapshot switches into the parked goroutine to unwind it. The goroutine must
    // switch back without leaving a frame behind, or its stack would grow with each dump.
    constexpr int kSnapshots = 20;
    for (int i = 0; i < kSnapshots; ++i) (void)parked_stack();
    const std::vector<std::uintptr_t> last = parked_stack();

    ASSERT_FALSE(first.empty());
    EXPECT_EQ(last, first) << "depth " << first.size() << " became " << last.size();
    EXPECT_FALSE(pcs_name(last, "traceback_serve"));
    rt::semrelease(&sema, false);
    yield_until([&] { return status_of(goid) == rt::gstatus::dead; });
  });
}

TEST(DumpSnapshot, RecordsSyscallStack) {
  goro::run(0, nullptr, [] {
    blocking_pipe pipe;
    ASSERT_GE(pipe.read_fd, 0) << "pipe failed";
    const std::int64_t goid = go_until_in_syscall(pipe.read_fd);
    bool found = false;
    for (const rt::goroutine_snapshot& s : rt::snapshot_goroutines()) {
      if (s.goid != goid) continue;
      found = true;
      EXPECT_EQ(s.status, rt::gstatus::syscall);
      EXPECT_TRUE(pcs_name(s.pcs, "wait_in_blocking_read")) << s.pcs.size();
      // The walk reaches the goroutine's first frame.
      EXPECT_TRUE(pcs_name(s.pcs, "goro_rt_trampoline")) << s.pcs.size();
    }
    EXPECT_TRUE(found) << "goroutine " << goid << " missing from the snapshot";
    pipe.release();
    yield_until([&] { return status_of(goid) == rt::gstatus::dead; });
  });
}

TEST(DumpSnapshot, PlainThreadThrows) {
  bool threw = false;
  std::thread plain([&] {
    try {
      (void)rt::snapshot_goroutines();
    } catch (const goro::panic_error&) {
      threw = true;
    }
  });
  plain.join();
  EXPECT_TRUE(threw);
}

// --- SIGQUIT --------------------------------------------------------------------------------

// Keeps GOTRACEBACK=crash children from writing core files into the test directory.
void disable_core_files() {
  struct rlimit none {};
  ::setrlimit(RLIMIT_CORE, &none);
}

// Name of the plain thread that ThreadSanitizer builds send SIGQUIT to (see quit_child).
constexpr const char* kSignalTargetName = "sigquit-target";

// Starts a plain thread that blocks in read(2) for the rest of the process.
void start_signal_target() {
  int fds[2];
  if (::pipe(fds) != 0) return;
  std::thread target([fd = fds[0]] {
    char byte;
    while (::read(fd, &byte, 1) != 0) {
    }
  });
  ::pthread_setname_np(target.native_handle(), kSignalTargetName);
  target.detach();
}

// Parks goroutines in chan receive (main), sleep and sync.Mutex.Lock, then prints "ready"
// once main is parked, and waits for the parent's SIGQUIT.
GORO_CHILD_SCENARIO(parked_until_sigquit) {
  disable_core_files();
  start_signal_target();
  return goro::run(0, nullptr, [] {
    goro::mutex m;
    m.lock();
    const std::int64_t sleeper = go_until_parked([] { wait_in_sleep(); });
    const std::int64_t locker = go_until_parked([&m] { wait_in_mutex_lock(&m); });
    std::printf("created %lld %lld\n", static_cast<long long>(sleeper),
                static_cast<long long>(locker));
    goro::go([] {
      yield_until([] { return status_of(1) == rt::gstatus::waiting; });
      std::fputs("ready\n", stdout);
      std::fflush(stdout);
    });
    goro::chan<int> never;
    wait_in_chan_receive(never);
    return 0;
  });
}

// Blocks a goroutine in goro::blocking (read on a pipe that is never written to) and main in chan
// receive, prints the blocked goroutine's id and "ready", and waits for SIGQUIT.
GORO_CHILD_SCENARIO(syscall_until_sigquit) {
  disable_core_files();
  start_signal_target();
  return goro::run(0, nullptr, [] {
    static blocking_pipe pipe;
    const std::int64_t goid = go_until_in_syscall(pipe.read_fd);
    go_until_parked([] { wait_in_sleep(); });
    goro::go([goid] {
      yield_until([] { return status_of(1) == rt::gstatus::waiting; });
      std::printf("syscall %lld\nready\n", static_cast<long long>(goid));
      std::fflush(stdout);
    });
    goro::chan<int> never;
    wait_in_chan_receive(never);
    return 0;
  });
}

// Returns the id of pid's thread named `name`, or 0.
pid_t find_thread(pid_t pid, const std::string& name) {
  const std::string task = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(task.c_str());
  if (dir == nullptr) return 0;
  pid_t found = 0;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream comm(task + "/" + entry->d_name + "/comm");
    std::string comm_name;
    if (std::getline(comm, comm_name) && comm_name == name) {
      found = static_cast<pid_t>(std::stol(entry->d_name));
      break;
    }
  }
  ::closedir(dir);
  return found;
}

// Sends SIGQUIT to child `pid`.
//
// ThreadSanitizer runs a handler only when the thread that took the signal passes one of its
// interceptors, and an idle M waits in a raw futex call, which is none. So under TSan the
// signal goes to a plain thread blocked in read(2) (start_signal_target), which TSan lets
// take it at once. Elsewhere it goes to the process, as kill(1) sends it.
void send_sigquit(pid_t pid) {
  pid_t target = rt::running_under_tsan() ? find_thread(pid, kSignalTargetName) : 0;
  if (target != 0) {
    ::syscall(SYS_tgkill, pid, target, SIGQUIT);
  } else {
    ::kill(pid, SIGQUIT);
  }
}

// Starts the scenario, sends SIGQUIT once it is ready, and returns how it ended.
goro_test::child_result quit_child(const std::string& scenario,
                                   const std::vector<std::string>& env) {
  child_process child(scenario, env);
  if (!child.wait_for_stdout("ready\n", 20s)) {
    ADD_FAILURE() << "child never became ready";
    return child.wait(5s);
  }
  send_sigquit(child.pid());
  // ThreadSanitizer sometimes drops an asynchronous signal taken by a thread that runs on a
  // goroutine stack (a TSan fiber): the handler never runs, about once in thirty runs here.
  // Send it again until the dump starts; a SIGQUIT that arrives during the dump is ignored.
  for (int resend = 0; rt::running_under_tsan() && resend < 5; ++resend) {
    if (child.wait_for_stderr("SIGQUIT: quit\n", 3s)) break;
    send_sigquit(child.pid());
  }
  return child.wait(20s);
}

// sigcode is SI_TKILL (-6) when sent with tgkill, m is nil on a thread that is not an M.
const std::regex kQuitHead("^SIGQUIT: quit\nPC=0x[0-9a-f]+ m=([0-9]+|nil) sigcode=(0|-6)\n");

TEST(DumpSigquit, PrintsEveryGoroutineAndExits2) {
  auto r = quit_child("parked_until_sigquit", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(std::regex_search(r.err, kQuitHead)) << r.err;
  // The first goroutine block follows a blank line.
  EXPECT_TRUE(std::regex_search(r.err, std::regex("sigcode=-?[0-9]+\n\ngoroutine [0-9]+ \\[")))
      << r.err;

  const std::string main_block = goroutine_block(r.err, 1);
  EXPECT_TRUE(main_block.starts_with("goroutine 1 [chan receive]:\n")) << r.err;
  EXPECT_TRUE(std::regex_search(main_block, frame_at("wait_in_chan_receive", kChanReceiveLine)))
      << main_block;
  EXPECT_TRUE(std::regex_search(r.err, frame_at("wait_in_sleep", kSleepLine))) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, frame_at("wait_in_mutex_lock", kMutexLine))) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex("\ngoroutine [0-9]+ \\[sleep\\]:\n"))) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex("\ngoroutine [0-9]+ \\[sync.Mutex.Lock\\]:\n")))
      << r.err;
  EXPECT_TRUE(std::regex_search(r.err, kCreatedByHelper)) << r.err;
}

TEST(DumpSigquit, SyscallGoroutineHasStack) {
  auto r = quit_child("syscall_until_sigquit", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(std::regex_search(r.err, kQuitHead)) << r.err;
  std::smatch id;
  ASSERT_TRUE(std::regex_search(r.out, id, std::regex("syscall ([0-9]+)\n"))) << r.out;
  expect_syscall_block(r.err, std::stoll(id[1].str()));
}

TEST(DumpSigquit, GoroutinesInCreationOrder) {
  auto r = quit_child("parked_until_sigquit", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  std::smatch created;
  ASSERT_TRUE(std::regex_search(r.out, created, std::regex("created ([0-9]+) ([0-9]+)\n")))
      << r.out;
  const std::vector<std::int64_t> expected{1, std::stoll(created[1].str()),
                                           std::stoll(created[2].str())};

  // Ids come from per-P batches, as in Go, so creation order need not be ascending. The
  // three parked goroutines follow the block of whatever took the signal, in creation order.
  std::vector<std::int64_t> parked;
  for (std::int64_t goid : header_ids(r.err)) {
    if (std::find(expected.begin(), expected.end(), goid) != expected.end()) {
      parked.push_back(goid);
    }
  }
  EXPECT_EQ(parked, expected) << r.err;
}

#if defined(__x86_64__)
TEST(DumpSigquit, RegisterDumpInGoOrder) {
  auto r = quit_child("parked_until_sigquit", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  std::string pattern = "\n\n";
  for (const char* name : {"rax    ", "rbx    ", "rcx    ", "rdx    ", "rdi    ", "rsi    ",
                           "rbp    ", "rsp    ", "r8     ", "r9     ", "r10    ", "r11    ",
                           "r12    ", "r13    ", "r14    ", "r15    ", "rip    ", "rflags ",
                           "cs     ", "fs     ", "gs     "}) {
    pattern += std::string(name) + "0x[0-9a-f]+\n";
  }
  EXPECT_TRUE(std::regex_search(r.err, std::regex(pattern + "$"))) << r.err;
}
#endif

TEST(DumpSigquit, TracebackNonePrintsSignalOnly) {
  auto r = quit_child("parked_until_sigquit", {"GOTRACEBACK=none"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(std::regex_match(r.err, std::regex("SIGQUIT: quit\nPC=0x[0-9a-f]+ m=([0-9]+|nil) "
                                                 "sigcode=(0|-6)\n")))
      << r.err;
}

TEST(DumpSigquit, TracebackSingleStillPrintsAll) {
  // As in Go, SIGQUIT prints every goroutine even at the default level.
  auto r = quit_child("parked_until_sigquit", {"GOTRACEBACK=single"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_NE(r.err.find("\ngoroutine 1 [chan receive]:\n"), std::string::npos) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex("\ngoroutine [0-9]+ \\[sleep\\]:\n"))) << r.err;
}

TEST(DumpSigquit, TracebackSystemAddsAddresses) {
  auto r = quit_child("parked_until_sigquit", {"GOTRACEBACK=system"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  expect_system_level(r.err);
  // Runtime frames are shown at this level.
  EXPECT_NE(r.err.find("goro::rt::park("), std::string::npos) << r.err;
}

TEST(DumpSigquit, TracebackCrashAborts) {
  auto r = quit_child("parked_until_sigquit", {"GOTRACEBACK=crash"});
  ASSERT_TRUE(r.signaled) << describe(r);
  EXPECT_EQ(r.term_signal, SIGABRT) << describe(r);
  EXPECT_NE(r.err.find("\ngoroutine 1 gp="), std::string::npos) << r.err;
}

// A single goroutine (so no sysmon) that computes without scheduling points when the
// signal arrives: the handler on m0 prints main's stack itself. A plain thread announces
// readiness, so the signal may also land there and be forwarded to m0.
std::atomic<bool> spinning{false};

// usleep is no goro scheduling point, so main stays running; it is there because TSan
// delivers signals to a thread only inside calls it intercepts.
constexpr int kSpinLine = __LINE__ + 3;
[[gnu::noinline]] void spin_without_scheduling_points() {
  spinning.store(true);
  for (;;) ::usleep(1000);
}

// Prints "ready" from a plain thread once `ready` returns true.
template <class Ready>
void announce_from_plain_thread(Ready ready) {
  std::thread announcer([ready] {
    while (!ready()) std::this_thread::yield();
    std::fputs("ready\n", stdout);
    std::fflush(stdout);
  });
  announcer.detach();
}

GORO_CHILD_SCENARIO(main_spins_until_sigquit) {
  return goro::run(0, nullptr, [] {
    announce_from_plain_thread([] { return spinning.load(); });
    spin_without_scheduling_points();
    return 0;
  });
}

TEST(DumpSigquit, RunningMainWithoutSysmon) {
  auto r = quit_child("main_spins_until_sigquit", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(std::regex_search(r.err, kQuitHead)) << r.err;
  const std::string block = goroutine_block(r.err, 1);
  EXPECT_TRUE(block.starts_with("goroutine 1 [running]:\n")) << r.err;
  // ThreadSanitizer builds cannot unwind in a signal handler.
  if (!rt::running_under_tsan()) {
    const std::regex spin_frame("\n(\\(anonymous namespace\\)::)?spin_without_scheduling_points"
                                "\\(\\)" + kCloneSuffix + "\n\t[^\n]*dump_test\\.cc:" +
                                std::to_string(kSpinLine) + " \\+0x[0-9a-f]+\n");
    EXPECT_TRUE(std::regex_search(block, spin_frame)) << block;
  }
}

// Main sleeps with no other goroutine, so there is no sysmon and m0 waits for the timer:
// the handler wakes m0, which prints the dump.
GORO_CHILD_SCENARIO(idle_main_until_sigquit) {
  start_signal_target();
  return goro::run(0, nullptr, [] {
    rt::G* main_g = rt::getg();
    rt::M* main_m = rt::m0;
    // Ready once m0 sleeps, so that the handler wakes it rather than forwarding the signal.
    announce_from_plain_thread([main_g, main_m] {
      return main_g->status.load(std::memory_order_acquire) == rt::gstatus::waiting &&
             main_m->blocked.load(std::memory_order_relaxed);
    });
    wait_in_sleep();
    return 0;
  });
}

TEST(DumpSigquit, IdleMainWithoutSysmon) {
  auto r = quit_child("idle_main_until_sigquit", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(std::regex_search(r.err, kQuitHead)) << r.err;
  const std::string block = goroutine_block(r.err, 1);
  EXPECT_TRUE(block.starts_with("goroutine 1 [sleep]:\n")) << r.err;
  EXPECT_TRUE(std::regex_search(block, frame_at("wait_in_sleep", kSleepLine))) << block;
}

// goro::signal::notify(SIGQUIT) takes the signal from the dump handler, and reset gives it
// back: the first SIGQUIT arrives on the channel, the second prints the dump.
GORO_CHILD_SCENARIO(sigquit_notify_then_reset) {
  start_signal_target();
  return goro::run(0, nullptr, [] {
    goro::chan<int> signals(1);
    goro::signal::notify(signals, {SIGQUIT});
    std::fputs("ready\n", stdout);
    std::fflush(stdout);
    const std::optional<int> sig = signals.recv();
    std::printf("received %d\n", sig.value_or(0));
    goro::signal::reset({SIGQUIT});
    goro::go([] {
      yield_until([] { return status_of(1) == rt::gstatus::waiting; });
      std::fputs("reset\n", stdout);
      std::fflush(stdout);
    });
    // A sleep, not a channel receive: with nothing else left to wake main, a receive would be
    // a deadlock.
    wait_in_sleep();
    return 0;
  });
}

TEST(DumpSigquit, NotifyThenResetRestoresDump) {
  child_process child("sigquit_notify_then_reset", {"GOTRACEBACK"});
  ASSERT_TRUE(child.wait_for_stdout("ready\n", 20s));
  send_sigquit(child.pid());
  ASSERT_TRUE(child.wait_for_stdout("reset\n", 20s));
  send_sigquit(child.pid());
  auto r = child.wait(20s);
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_NE(r.out.find("received " + std::to_string(SIGQUIT) + "\n"), std::string::npos)
      << r.out;
  EXPECT_TRUE(std::regex_search(r.err, kQuitHead)) << r.err;
  EXPECT_NE(r.err.find("\ngoroutine 1 [sleep]:\n"), std::string::npos) << r.err;
}

// --- Long-runner report ---------------------------------------------------------------------

// Spins until sysmon has reported it, then reaches a scheduling point (goro::yield), where a
// goroutine that sysmon could not capture prints its own stack.
constexpr int kLongRunLine = __LINE__ + 2;
[[gnu::noinline]] void run_until_reported() {
  while (rt::longrun_reports() == 0) asm volatile("" ::: "memory");
  goro::yield();
  keep_frame();
}

GORO_CHILD_SCENARIO(long_runner_reported) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> done;
    goro::go([done] {
      std::printf("runner %lld\n", static_cast<long long>(goro::goroutine_id()));
      std::fflush(stdout);
      run_until_reported();
      done.send(1);
    });
    (void)done.recv();
    return 0;
  });
}

TEST(DumpLongRunner, ReportsIdDurationAndStack) {
  auto r = run_child("long_runner_reported", {"GODEBUG=gorolongrun=20", "GOMAXPROCS=2",
                                              "GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  std::smatch id;
  ASSERT_TRUE(std::regex_search(r.out, id, std::regex("runner ([0-9]+)\n"))) << r.out;
  const std::string goid = id[1].str();
  const std::string frame = "\n(\\(anonymous namespace\\)::)?run_until_reported\\(\\)" +
                            kCloneSuffix + "\n\t[^\n]*dump_test\\.cc:" +
                            std::to_string(kLongRunLine) + " \\+0x[0-9a-f]+\n";

  EXPECT_TRUE(std::regex_search(
      r.err, std::regex("(^|\n)goro: goroutine " + goid + " has run [0-9.]+ms without a "
                        "scheduling point\n")))
      << r.err;
  // The stack comes right after that line when the signal handler captured it. It comes at
  // the goroutine's next scheduling point when the handler could not: always under
  // ThreadSanitizer, and when the thread did not take the signal within the wait.
  const std::string direct = "scheduling point\ngoroutine " + goid + " [running]:\n";
  const std::size_t at = r.err.find(direct);
  if (at != std::string::npos) {
    const std::string block =
        goroutine_block(r.err.substr(at + std::string("scheduling point\n").size()),
                        std::stoll(goid));
    EXPECT_TRUE(std::regex_search(block, std::regex(frame))) << block;
    EXPECT_TRUE(std::regex_search(block, std::regex("\ncreated by [^\n]* in goroutine 1\n")))
        << block;
  } else {
    EXPECT_TRUE(std::regex_search(
        r.err, std::regex("\ngoro: goroutine " + goid + " ran without a scheduling point; it "
                          "stopped at:\n")))
        << r.err;
    const std::string yield_frame = "\n(\\(anonymous namespace\\)::)?run_until_reported\\(\\)" +
                                    kCloneSuffix + "\n\t[^\n]*dump_test\\.cc:" +
                                    std::to_string(kLongRunLine + 1) + " \\+0x[0-9a-f]+\n";
    EXPECT_TRUE(std::regex_search(r.err, std::regex(yield_frame))) << r.err;
  }
  if (!rt::running_under_tsan()) {
    EXPECT_NE(at, std::string::npos) << "the signal handler captured no stack:\n" << r.err;
  }
}

// --- GOTRACEBACK on panics and deadlocks ----------------------------------------------------

constexpr int kThrowLine = __LINE__ + 1;
[[gnu::noinline]] void throw_from_worker() { throw std::runtime_error("boom"); }

// A worker panics while another goroutine is parked in chan receive.
GORO_CHILD_SCENARIO(panic_with_parked_goroutine) {
  disable_core_files();
  return goro::run(0, nullptr, [] {
    goro::chan<int> never;
    go_until_parked([never] { wait_in_chan_receive(never); });
    goro::go([] { throw_from_worker(); });
    (void)never.recv();
    return 0;
  });
}

// Returns how many goroutine headers `text` contains.
long count_headers(const std::string& text) {
  const std::regex header("(^|\n)goroutine [0-9]+ [^\n]*\\]:\n");
  return std::distance(std::sregex_iterator(text.begin(), text.end(), header),
                       std::sregex_iterator());
}

TEST(DumpTraceback, PanicSinglePrintsPanickingGoroutine) {
  auto r = run_child("panic_with_parked_goroutine", {"GOTRACEBACK=single"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with("panic: std::runtime_error: boom\n\ngoroutine ")) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, frame_at("throw_from_worker", kThrowLine))) << r.err;
  EXPECT_EQ(count_headers(r.err), 1) << r.err;
}

// Checks a GOTRACEBACK=all report of a *_with_parked_goroutine scenario: three goroutines,
// main and the helper parked in chan receive, the helper with its stack.
void expect_parked_goroutines_listed(const std::string& err) {
  EXPECT_EQ(count_headers(err), 3) << err;
  EXPECT_NE(err.find("\n\ngoroutine 1 [chan receive]:\n"), std::string::npos) << err;
  EXPECT_TRUE(std::regex_search(err, std::regex("\n\ngoroutine [0-9]+ \\[chan receive\\]:\n"
                                                "[^\n]*\n\t[^\n]*\n(\\(anonymous namespace\\)::)?"
                                                "wait_in_chan_receive")))
      << err;
}

TEST(DumpTraceback, PanicAllAddsParkedStacks) {
  auto r = run_child("panic_with_parked_goroutine", {"GOTRACEBACK=all"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  expect_parked_goroutines_listed(r.err);
  EXPECT_TRUE(std::regex_search(r.err, kCreatedByHelper)) << r.err;
}

TEST(DumpTraceback, PanicSystemAddsAddresses) {
  auto r = run_child("panic_with_parked_goroutine", {"GOTRACEBACK=system"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(std::regex_search(r.err, std::regex("\n\ngoroutine [0-9]+ gp=0x[0-9a-f]+ m=[0-9]+ "
                                                  "\\[running\\]:\n")))
      << r.err;
  expect_system_level(r.err);
}

TEST(DumpTraceback, PanicCrashAborts) {
  auto r = run_child("panic_with_parked_goroutine", {"GOTRACEBACK=crash"});
  ASSERT_TRUE(r.signaled) << describe(r);
  EXPECT_EQ(r.term_signal, SIGABRT) << describe(r);
  EXPECT_TRUE(r.err.starts_with("panic: std::runtime_error: boom\n")) << r.err;
  EXPECT_EQ(count_headers(r.err), 3) << r.err;
}

// A worker unlocks an unlocked mutex (a fatal error, not a panic) while another goroutine is
// parked in chan receive.
GORO_CHILD_SCENARIO(fatal_with_parked_goroutine) {
  disable_core_files();
  return goro::run(0, nullptr, [] {
    goro::chan<int> never;
    go_until_parked([never] { wait_in_chan_receive(never); });
    goro::go([] {
      goro::mutex m;
      m.unlock();
    });
    (void)never.recv();
    return 0;
  });
}

TEST(DumpTraceback, FatalSinglePrintsFailingGoroutine) {
  auto r = run_child("fatal_with_parked_goroutine", {"GOTRACEBACK=single"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with("fatal error: sync: unlock of unlocked mutex\n\ngoroutine "))
      << r.err;
  EXPECT_EQ(count_headers(r.err), 1) << r.err;
}

TEST(DumpTraceback, FatalAllAddsParkedStacks) {
  auto r = run_child("fatal_with_parked_goroutine", {"GOTRACEBACK=all"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  expect_parked_goroutines_listed(r.err);
}

// What else runs when raise_fatal_holding_sched_lock raises its error.
enum class fatal_company {
  none,
  // A goroutine stays in runtime mode with its P for good, so the world cannot freeze.
  runtime_spinner,
  // Pairs of goroutines pass a value back and forth, parking and waking all the time, so
  // Ms may block on sched.lock while they hold a P, some of them on a parking goroutine.
  ping_pong,
};

// Bounces a value on `in` back to `out` forever.
void bounce(goro::chan<int> in, goro::chan<int> out) {
  for (;;) out.send(in.recv().value_or(0));
}

// Parks goroutines in chan receive, sleep and goro::blocking and prints the blocked one's
// id. Then raises a real runtime fatal error while holding sched.lock: acquirep checks that
// the M holds no P, and the main goroutine calls it in runtime mode, where it holds one.
int raise_fatal_holding_sched_lock(fatal_company company) {
  disable_core_files();
  return goro::run(0, nullptr, [company] {
    static blocking_pipe pipe;
    goro::chan<int> never;
    go_until_parked([never] { wait_in_chan_receive(never); });
    go_until_parked([] { wait_in_sleep(); });
    const std::int64_t syscall_goid = go_until_in_syscall(pipe.read_fd);
    if (company == fatal_company::runtime_spinner) {
      static std::atomic<bool> in_runtime{false};
      goro::go([] {
        rt::runtime_mode mode;
        in_runtime.store(true);
        for (;;) ::usleep(1000);
      });
      // Wait inside goro::blocking, not with yield: a yielding main can end up queued behind
      // the spinner on the P that the spinner then keeps for good, with no idle M left to
      // steal it (seen under TSan). Blocking lets sysmon hand that P to another M instead.
      goro::blocking([] {
        while (!in_runtime.load()) std::this_thread::yield();
      });
    }
    if (company == fatal_company::ping_pong) {
      constexpr int kPairs = 4;
      for (int i = 0; i < kPairs; ++i) {
        goro::chan<int> ping;
        goro::chan<int> pong;
        goro::go(bounce, ping, pong);
        goro::go(bounce, pong, ping);
        ping.send(i);
      }
      // Let the pairs run for a while first.
      goro::sleep(20ms);
    }
    std::printf("syscall %lld\n", static_cast<long long>(syscall_goid));
    std::fflush(stdout);

    rt::runtime_mode mode;
    std::lock_guard<rt::runtime_lock> hold(rt::sched.lock);
    rt::acquirep(mode.m(), mode.p());
    return 0;
  });
}

GORO_CHILD_SCENARIO(fatal_holding_sched_lock) {
  return raise_fatal_holding_sched_lock(fatal_company::none);
}

GORO_CHILD_SCENARIO(fatal_holding_sched_lock_with_spinner) {
  return raise_fatal_holding_sched_lock(fatal_company::runtime_spinner);
}

GORO_CHILD_SCENARIO(fatal_holding_sched_lock_with_ping_pong) {
  return raise_fatal_holding_sched_lock(fatal_company::ping_pong);
}

// How long a child with a fatal error may take: far above the 100 ms freeze bound, and a
// hang in the report ends the test instead of the suite.
constexpr auto kFatalChildTimeout = 30s;

TEST(DumpTraceback, FatalHoldingSchedLockPrintsStacks) {
  auto r = run_child("fatal_holding_sched_lock", {"GOTRACEBACK=all"}, kFatalChildTimeout);
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with("fatal error: acquirep: already holding a P\n\n"
                                "goroutine 1 [running]:\n"))
      << r.err;
  // A broken runtime invariant prints its frames at GOTRACEBACK=system, as Go's throw does.
  EXPECT_NE(r.err.find("goro::rt::acquirep("), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("the world did not stop"), std::string::npos) << r.err;

  const std::vector<std::int64_t> ids = header_ids(r.err);
  ASSERT_GE(ids.size(), 4u) << r.err;
  EXPECT_EQ(ids[0], 1) << r.err;
  const std::int64_t receiver = ids[1];
  const std::int64_t sleeper = ids[2];
  const std::string receiver_block = goroutine_block(r.err, receiver);
  EXPECT_NE(receiver_block.find(" [chan receive]:\n"), std::string::npos) << receiver_block;
  EXPECT_TRUE(std::regex_search(receiver_block, frame_at("wait_in_chan_receive",
                                                         kChanReceiveLine)))
      << receiver_block;
  const std::string sleeper_block = goroutine_block(r.err, sleeper);
  EXPECT_NE(sleeper_block.find(" [sleep]:\n"), std::string::npos) << sleeper_block;
  EXPECT_TRUE(std::regex_search(sleeper_block, frame_at("wait_in_sleep", kSleepLine)))
      << sleeper_block;

  std::smatch id;
  ASSERT_TRUE(std::regex_search(r.out, id, std::regex("syscall ([0-9]+)\n"))) << r.out;
  const std::string syscall_block = goroutine_block(r.err, std::stoll(id[1].str()));
  EXPECT_NE(syscall_block.find(" [syscall]:\n"), std::string::npos) << syscall_block;
  EXPECT_TRUE(std::regex_search(syscall_block, frame_at("wait_in_blocking_read",
                                                        kBlockingReadLine)))
      << syscall_block;
}

TEST(DumpTraceback, FatalWithoutFreezePrintsHeaders) {
  auto r = run_child("fatal_holding_sched_lock_with_spinner", {"GOTRACEBACK=all",
                                                               "GOMAXPROCS=4"},
                     kFatalChildTimeout);
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with("fatal error: acquirep: already holding a P\n")) << r.err;
  EXPECT_NE(r.err.find("\nruntime: the world did not stop within 100 ms; stacks of parked "
                       "goroutines are left out\n"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex("\ngoroutine [0-9]+ \\[chan receive\\]:\n")))
      << r.err;
  EXPECT_FALSE(std::regex_search(r.err, frame_at("wait_in_chan_receive", kChanReceiveLine)))
      << r.err;
}

// Whether or not the world freezes among busy goroutines, the report ends the process with
// status 2, and a freeze prints the parked goroutine's stack.
TEST(DumpTraceback, FatalHoldingSchedLockAmongBusy) {
  constexpr int kRuns = 5;
  for (int run = 0; run < kRuns; ++run) {
    auto r = run_child("fatal_holding_sched_lock_with_ping_pong",
                       {"GOTRACEBACK=all", "GOMAXPROCS=4"}, kFatalChildTimeout);
    ASSERT_TRUE(r.exited) << "run " << run << ": " << describe(r);
    ASSERT_EQ(r.exit_status, 2) << "run " << run << ": " << describe(r);
    ASSERT_TRUE(r.err.starts_with("fatal error: acquirep: already holding a P\n")) << r.err;
    if (r.err.find("the world did not stop") != std::string::npos) continue;
    EXPECT_TRUE(std::regex_search(r.err, frame_at("wait_in_chan_receive", kChanReceiveLine)))
        << "run " << run << ":\n" << r.err;
    EXPECT_TRUE(std::regex_search(r.err, frame_at("wait_in_sleep", kSleepLine)))
        << "run " << run << ":\n" << r.err;
  }
}

// A worker sends on a closed unbuffered channel, a panic that the channel code raises in
// runtime mode, while another goroutine is parked in chan receive.
GORO_CHILD_SCENARIO(runtime_panic_with_parked_goroutine) {
  disable_core_files();
  return goro::run(0, nullptr, [] {
    goro::chan<int> never;
    go_until_parked([never] { wait_in_chan_receive(never); });
    goro::go([] {
      goro::chan<int> closed;
      closed.close();
      closed.send(1);
    });
    (void)never.recv();
    return 0;
  });
}

TEST(DumpTraceback, RuntimePanicAllAddsParkedStacks) {
  auto r = run_child("runtime_panic_with_parked_goroutine", {"GOTRACEBACK=all"},
                     kFatalChildTimeout);
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_TRUE(r.err.starts_with("panic: send on closed channel\n\ngoroutine ")) << r.err;
  EXPECT_EQ(r.err.find("the world did not stop"), std::string::npos) << r.err;
  EXPECT_EQ(count_headers(r.err), 3) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, frame_at("wait_in_chan_receive", kChanReceiveLine)))
      << r.err;
  EXPECT_TRUE(std::regex_search(r.err, kCreatedByHelper)) << r.err;
}

TEST(DumpTraceback, PanicNonePrintsPanicOnly) {
  auto r = run_child("panic_with_parked_goroutine", {"GOTRACEBACK=none"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_EQ(r.err, "panic: std::runtime_error: boom\n\n") << r.err;
}

GORO_CHILD_SCENARIO(deadlock_with_two_goroutines) {
  disable_core_files();
  return goro::run(0, nullptr, [] {
    goro::chan<int> never;
    goro::go([never] { wait_in_chan_send(never); });
    goro::chan<int> other;
    wait_in_chan_receive(other);
    return 0;
  });
}

TEST(DumpTraceback, DeadlockNonePrintsMessageOnly) {
  auto r = run_child("deadlock_with_two_goroutines", {"GOTRACEBACK=none"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  EXPECT_EQ(r.err, "fatal error: all goroutines are asleep - deadlock!\n") << r.err;
}

TEST(DumpTraceback, DeadlockSinglePrintsAllWithStacks) {
  auto r = run_child("deadlock_with_two_goroutines", {"GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  const std::string main_block = goroutine_block(r.err, 1);
  EXPECT_TRUE(main_block.starts_with("goroutine 1 [chan receive]:\n")) << r.err;
  EXPECT_TRUE(std::regex_search(main_block, frame_at("wait_in_chan_receive", kChanReceiveLine)))
      << main_block;
  EXPECT_TRUE(std::regex_search(r.err, frame_at("wait_in_chan_send", kChanSendLine))) << r.err;
}

TEST(DumpTraceback, DeadlockSystemAddsAddresses) {
  auto r = run_child("deadlock_with_two_goroutines", {"GOTRACEBACK=system"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);
  expect_system_level(r.err);
}

TEST(DumpTraceback, DeadlockCrashAborts) {
  auto r = run_child("deadlock_with_two_goroutines", {"GOTRACEBACK=crash"});
  ASSERT_TRUE(r.signaled) << describe(r);
  EXPECT_EQ(r.term_signal, SIGABRT) << describe(r);
  EXPECT_TRUE(r.err.starts_with("fatal error: all goroutines are asleep - deadlock!\n")) << r.err;
}

}  // namespace
