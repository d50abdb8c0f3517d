// Tests for the bootstrap and its diagnostics: GODEBUG=inittrace phase lines, schedtrace and
// scheddetail output, GOMAXPROCS from the environment, and starting with fd 1 closed.
//
// Output and descriptor cases run in a child process (child_process.h) so that they see the
// runtime's stderr and the process's own descriptor table.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <string>
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
#include "goro/runtime.hpp"
#include "goro/time.hpp"

namespace {

using namespace std::chrono_literals;
using goro_test::describe;
using goro_test::run_child;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

GORO_CHILD_SCENARIO(trivial_main) {
  return goro::run(0, nullptr, [] { return 0; });
}

// --- inittrace ------------------------------------------------------------------------------

// The phases boot.cc documents, in order. The last line names the user's main as Go's
// inittrace names a package ("init main"), not as a runtime phase.
const std::vector<std::string> kInitPhases = {
    "runtime.args",       "runtime.osinit",         "runtime.cpuinit",    "runtime.alginit",
    "runtime.stackinit",  "runtime.mallocinit",     "runtime.goargs",     "runtime.goenvs",
    "runtime.secure",     "runtime.checkfds",       "runtime.parsedebugvars",
    "runtime.gomaxprocs", "runtime.procresize",     "runtime.newproc",    "runtime.mstart",
    "runtime.main",       "main",
};

TEST(Inittrace, PhaseLinesInDocumentedOrder) {
  auto r = run_child("trivial_main", {"GODEBUG=inittrace=1"});
  ASSERT_TRUE(r.exited) << describe(r);
  ASSERT_EQ(r.exit_status, 0) << describe(r);

  const std::regex line_format(
      "^init (runtime\\.[a-z]+|main) @[0-9.]+ ms, [0-9.]+ ms clock, [0-9]+ bytes, [0-9]+ allocs$");
  std::vector<std::string> phases;
  for (const auto& line : split_lines(r.err)) {
    if (!line.starts_with("init ")) continue;
    std::smatch m;
    EXPECT_TRUE(std::regex_match(line, m, line_format)) << "bad inittrace line: " << line;
    if (m.size() > 1) phases.push_back(m[1]);
  }
  EXPECT_EQ(phases, kInitPhases) << describe(r);
}

// procresize creates the Ps on the heap, so its line must report those allocations.
TEST(Inittrace, ReportsHeapAllocations) {
  auto r = run_child("trivial_main", {"GODEBUG=inittrace=1", "GOMAXPROCS=2"});
  ASSERT_TRUE(r.exited) << describe(r);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.err, m, std::regex("init runtime\\.procresize @[0-9.]+ ms, [0-9.]+ ms clock, ([0-9]+) "
                           "bytes, ([0-9]+) allocs")))
      << describe(r);
  EXPECT_GT(std::stoll(m[1]), 0) << describe(r);
  EXPECT_GE(std::stoll(m[2]), 3) << "the allp array and two Ps\n" << describe(r);
}

TEST(Inittrace, OffByDefault) {
  auto r = run_child("trivial_main", {"GODEBUG"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  EXPECT_EQ(r.err.find("init runtime."), std::string::npos) << describe(r);
}

// --- schedtrace -----------------------------------------------------------------------------

// About 100 ms of work on several goroutines: sleeps and yields, so the Ps change state.
GORO_CHILD_SCENARIO(busy_100ms) {
  return goro::run(0, nullptr, [] {
    std::atomic<int> finished{0};
    constexpr int kWorkers = 4;
    for (int w = 0; w < kWorkers; ++w) {
      goro::go([&finished] {
        auto end = std::chrono::steady_clock::now() + 100ms;
        while (std::chrono::steady_clock::now() < end) {
          goro::sleep(2ms);
          goro::yield();
        }
        finished.fetch_add(1);
      });
    }
    while (finished.load() != kWorkers) goro::sleep(5ms);
    return 0;
  });
}

TEST(Schedtrace, SummaryLinesMatchGoFormat) {
  auto r = run_child("busy_100ms", {"GODEBUG=schedtrace=10", "GOMAXPROCS=2"});
  ASSERT_TRUE(r.exited) << describe(r);
  ASSERT_EQ(r.exit_status, 0) << describe(r);

  const std::regex format(
      "^SCHED [0-9]+ms: gomaxprocs=2 idleprocs=[0-9]+ threads=[0-9]+ spinningthreads=[0-9]+ "
      "needspinning=[01] idlethreads=[0-9]+ runqueue=[0-9]+ \\[ ([0-9]+ ){2}\\] "
      "schedticks=\\[ ([0-9]+ ){2}\\]$");
  int sched_lines = 0;
  for (const auto& line : split_lines(r.err)) {
    if (!line.starts_with("SCHED ")) continue;
    ++sched_lines;
    EXPECT_TRUE(std::regex_match(line, format)) << "bad schedtrace line: " << line;
  }
  // 100 ms at one line per 10 ms; sysmon's own back-off may lose a few.
  EXPECT_GE(sched_lines, 5) << describe(r);
}

TEST(Schedtrace, DetailPrintsPMGLines) {
  auto r = run_child("busy_100ms", {"GODEBUG=schedtrace=10,scheddetail=1", "GOMAXPROCS=2"});
  ASSERT_TRUE(r.exited) << describe(r);
  ASSERT_EQ(r.exit_status, 0) << describe(r);

  const std::regex summary(
      "^SCHED [0-9]+ms: gomaxprocs=2 idleprocs=[0-9]+ threads=[0-9]+ spinningthreads=[0-9]+ "
      "needspinning=[01] idlethreads=[0-9]+ runqueue=[0-9]+ gcwaiting=(true|false) "
      "nmidlelocked=[0-9]+ stopwait=[0-9]+ sysmonwait=(true|false)$");
  const std::regex p_line(
      "^  P[0-9]+: status=[0-9]+ schedtick=[0-9]+ syscalltick=[0-9]+ m=([0-9]+|nil) "
      "runqsize=[0-9]+ gfreecnt=[0-9]+ timerslen=[0-9]+$");
  const std::regex m_line(
      "^  M[0-9]+: p=([0-9]+|nil) curg=([0-9]+|nil) mallocing=0 throwing=0 preemptoff= locks=0 "
      "dying=0 spinning=(true|false) blocked=(true|false) lockedg=([0-9]+|nil)$");
  const std::regex g_line(
      "^  G[0-9]+: status=[0-9]+\\([a-z ()]*\\) m=([0-9]+|nil) lockedm=([0-9]+|nil)$");
  int summaries = 0;
  int ps = 0;
  int ms = 0;
  int gs = 0;
  for (const auto& line : split_lines(r.err)) {
    if (line.starts_with("SCHED ")) {
      ++summaries;
      EXPECT_TRUE(std::regex_match(line, summary)) << line;
    } else if (line.starts_with("  P")) {
      ++ps;
      EXPECT_TRUE(std::regex_match(line, p_line)) << line;
    } else if (line.starts_with("  M")) {
      ++ms;
      EXPECT_TRUE(std::regex_match(line, m_line)) << line;
    } else if (line.starts_with("  G")) {
      ++gs;
      EXPECT_TRUE(std::regex_match(line, g_line)) << line;
    }
  }
  EXPECT_GE(summaries, 5) << describe(r);
  EXPECT_EQ(ps, 2 * summaries) << "one P line per P per report";
  EXPECT_GE(ms, 2 * summaries) << "m0 and sysmon at least";
  EXPECT_GE(gs, summaries) << "the main goroutine at least";
}

// --- Environment ----------------------------------------------------------------------------

TEST(Boot, GomaxprocsFromEnvironment) {
  goro_test::scoped_env procs("GOMAXPROCS", "3");
  int seen = 0;
  goro::run(0, nullptr, [&] { seen = goro::gomaxprocs(0); });
  EXPECT_EQ(seen, 3);
}

// The number of CPUs in the calling thread's affinity mask.
int affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  return CPU_COUNT(&set);
}

TEST(Boot, GomaxprocsDefaultsToAffinity) {
  goro_test::scoped_env procs("GOMAXPROCS", nullptr);
  int seen = 0;
  goro::run(0, nullptr, [&] { seen = goro::gomaxprocs(0); });
  EXPECT_GE(seen, 1);
  // A cgroup CPU quota may lower the default below the affinity count, never raise it.
  EXPECT_LE(seen, affinity_cpus());
}

TEST(Boot, InvalidGomaxprocsIgnored) {
  int unset_value = 0;
  {
    goro_test::scoped_env procs("GOMAXPROCS", nullptr);
    goro::run(0, nullptr, [&] { unset_value = goro::gomaxprocs(0); });
  }
  for (const char* value : {"abc", "0", "-3", "2x"}) {
    goro_test::scoped_env procs("GOMAXPROCS", value);
    int seen = 0;
    goro::run(0, nullptr, [&] { seen = goro::gomaxprocs(0); });
    EXPECT_EQ(seen, unset_value) << "GOMAXPROCS=" << value;
  }
}

TEST(Boot, GomaxprocsCappedAtMaximum) {
  goro_test::scoped_env procs("GOMAXPROCS", "5000");
  int seen = 0;
  bool threw = false;
  goro::run(0, nullptr, [&] {
    seen = goro::gomaxprocs(0);
    try {
      goro::gomaxprocs(5000);
    } catch (const goro::panic_error&) {
      threw = true;
    }
  });
  EXPECT_EQ(seen, 1024);
  EXPECT_TRUE(threw) << "gomaxprocs above the maximum must throw";
}

// --- Standard descriptors -------------------------------------------------------------------

// Starts with fd 1 closed: checkfds must reopen it on /dev/null before main runs, so writes to
// stdout succeed instead of failing with EBADF (or landing in a file the program opens later).
GORO_CHILD_SCENARIO(stdout_closed) {
  ::close(1);
  return goro::run(0, nullptr, [] {
    char target[64] = {};
    ssize_t n = ::readlink("/proc/self/fd/1", target, sizeof target - 1);
    if (n < 0) {
      std::fprintf(stderr, "fd 1 is not open: %s\n", std::strerror(errno));
      return 3;
    }
    if (std::strcmp(target, "/dev/null") != 0) {
      std::fprintf(stderr, "fd 1 is %s, expected /dev/null\n", target);
      return 4;
    }
    const char text[] = "to stdout\n";
    if (::write(1, text, sizeof text - 1) != static_cast<ssize_t>(sizeof text - 1)) {
      std::fprintf(stderr, "write to fd 1 failed: %s\n", std::strerror(errno));
      return 5;
    }
    std::printf("printf to stdout\n");
    if (std::fflush(stdout) != 0) {
      std::fprintf(stderr, "fflush(stdout) failed: %s\n", std::strerror(errno));
      return 6;
    }
    std::fputs("stdout checks passed\n", stderr);
    return 0;
  });
}

TEST(Boot, ClosedStdoutReopenedOnDevNull) {
  auto r = run_child("stdout_closed");
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  EXPECT_NE(r.err.find("stdout checks passed"), std::string::npos) << describe(r);
}

}  // namespace
