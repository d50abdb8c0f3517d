// Tests for goro::pprof: the CPU profile (SIGPROF samples labelled with goroutine ids, also
// started by GOROCPUPROFILE), the goroutine profile, the block and mutex profiles, and misuse.
// Every profile is checked by the real reader, `go tool pprof`, which must be installed (CI
// installs golang-go).
//
// Contention cases wait until a goroutine snapshot shows the other goroutine parked before
// they release it, so the event being profiled always happens. Every in-process case also
// runs with GODEBUG=goromigrate=1.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <vector>

#include "child_process.h"
#include "goro_fixture.h"
#include "goro/chan.hpp"
#include "goro/pprof.hpp"
#include "goro/runtime.hpp"
#include "goro/sync.hpp"
#include "runtime/trace/snapshot.h"

// Named, non-inlined functions whose names the profiles must show. Extern linkage keeps the
// names plain, without "(anonymous namespace)".
[[gnu::noinline]] std::uint64_t pprof_test_burn_cpu(std::int64_t cpu_ns);
[[gnu::noinline]] void pprof_test_receive_blocked(goro::chan<int>& ch);
[[gnu::noinline]] void pprof_test_unlock_contended(goro::mutex& mu);
[[gnu::noinline]] void pprof_test_wait_for_close(goro::chan<int>& ch);

namespace {

using goro_test::describe;
using goro_test::run_child;

// CPU time of the calling thread, in ns.
std::int64_t thread_cpu_ns() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

}  // namespace

// Spins until the calling thread has used cpu_ns of CPU time. A goroutine does not move to
// another thread without a scheduling point, and this loop has none. The empty asm makes x
// a value the compiler must compute. Under Clang ThinLTO it saw that no caller reads the
// result and dropped the arithmetic; this function was then no longer the profile's top.
std::uint64_t pprof_test_burn_cpu(std::int64_t cpu_ns) {
  const std::int64_t end = thread_cpu_ns() + cpu_ns;
  std::uint64_t x = 1;
  while (thread_cpu_ns() < end) {
    for (int i = 0; i < 10000; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      asm volatile("" : "+r"(x));
    }
  }
  return x;
}

// The empty asm after each call keeps these frames on the stack during the call: at -O2 a
// call in tail position becomes a jump, and the profile would show the caller instead.
void pprof_test_receive_blocked(goro::chan<int>& ch) {
  (void)ch.recv();
  asm volatile("" ::: "memory");
}

void pprof_test_unlock_contended(goro::mutex& mu) {
  mu.unlock();
  asm volatile("" ::: "memory");
}

void pprof_test_wait_for_close(goro::chan<int>& ch) {
  (void)ch.recv();
  asm volatile("" ::: "memory");
}

namespace {

struct command_result {
  int status = -1;  // exit status, or -1 if the command did not exit normally
  std::string output;  // stdout and stderr
};

command_result run_command(const std::string& command) {
  command_result result;
  std::FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char chunk[4096];
  std::size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) result.output.append(chunk, n);
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) result.status = WEXITSTATUS(status);
  return result;
}

// True if `go` runs; otherwise the test fails with what to install.
bool have_go() {
  const command_result version = run_command("go version");
  if (version.status == 0) return true;
  ADD_FAILURE() << "`go version` failed (status " << version.status << "): " << version.output
                << "\nThese tests read profiles with `go tool pprof`: install Go (Debian: "
                   "apt-get install golang-go; .ci/run installs it).";
  return false;
}

// Runs `go tool pprof <flags> <file>` and returns its output; fails the test on an error.
std::string go_tool_pprof(const std::string& flags, const std::string& file) {
  // pprof keeps state under $HOME; a temporary HOME keeps the test away from the user's.
  const std::string command = "HOME=" + ::testing::TempDir() + " go tool pprof " + flags +
                              " '" + file + "'";
  const command_result result = run_command(command);
  EXPECT_EQ(result.status, 0) << command << "\n" << result.output;
  return result.output;
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "goro_pprof_" + std::to_string(::getpid()) + "_" + name;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// A stream buffer that rejects every byte, as a full disk would.
class failing_buffer : public std::streambuf {
 protected:
  int_type overflow(int_type) override { return traits_type::eof(); }
  std::streamsize xsputn(const char*, std::streamsize) override { return 0; }
};

// The samples of `go tool pprof -traces` output, one string each: the value line, any label
// lines, then the stack. The header before the first separator is left out.
std::vector<std::string> trace_samples(const std::string& traces) {
  const std::string separator = "-----------+";
  std::vector<std::string> samples;
  std::size_t begin = traces.find(separator);
  while (begin != std::string::npos) {
    const std::size_t line_end = traces.find('\n', begin);
    if (line_end == std::string::npos) break;
    const std::size_t next = traces.find(separator, line_end);
    const std::size_t end = next == std::string::npos ? traces.size() : next;
    samples.push_back(traces.substr(line_end + 1, end - line_end - 1));
    begin = next;
  }
  return samples;
}

// Returns `text` with every run of whitespace turned into one space, since pprof aligns its
// columns with spaces.
std::string collapse_spaces(const std::string& text) {
  std::string collapsed;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) == 0) {
      collapsed.push_back(c);
    } else if (collapsed.empty() || collapsed.back() != ' ') {
      collapsed.push_back(' ');
    }
  }
  return collapsed;
}

// True if one sample of `go tool pprof -traces` output contains both `label` and `function`.
bool has_trace_with(const std::string& traces, const std::string& label,
                    const std::string& function) {
  for (const std::string& sample : trace_samples(traces)) {
    const std::string collapsed = collapse_spaces(sample);
    if (collapsed.find(label) != std::string::npos &&
        collapsed.find(function) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// The value (the first number) of every sample in `go tool pprof -traces` output whose
// stack contains `function`.
std::vector<std::int64_t> trace_values_with(const std::string& traces,
                                            const std::string& function) {
  std::vector<std::int64_t> values;
  for (const std::string& sample : trace_samples(traces)) {
    if (sample.find(function) == std::string::npos) continue;
    values.push_back(std::strtoll(sample.c_str(), nullptr, 10));
  }
  return values;
}

// Yields until goroutine `goid` (0 until the goroutine stores it) is parked for `reason`, as a
// goroutine snapshot shows it. Returns false, and fails the test, after yield_until's limit.
bool yield_until_parked(const std::atomic<std::int64_t>& goid, goro::rt::waitreason reason) {
  return goro_test::yield_until([&] {
    const std::int64_t id = goid.load();
    if (id == 0) return false;
    for (const goro::rt::goroutine_snapshot& goroutine : goro::rt::snapshot_goroutines()) {
      if (goroutine.goid == id) {
        return goroutine.status == goro::rt::gstatus::waiting && goroutine.wait_reason == reason;
      }
    }
    return false;
  });
}

class Pprof : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(const char* gomaxprocs, F&& main) {
    return goro_test::run_with_godebug(GetParam(), gomaxprocs, std::forward<F>(main));
  }
};

INSTANTIATE_TEST_SUITE_P(Godebug, Pprof, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

// 0.5 s of CPU time at 100 Hz is about 50 samples: enough that pprof lists the function.
constexpr std::int64_t kBurnCpuNs = 500'000'000;

TEST_P(Pprof, CpuProfileNamesBurningFunction) {
  if (!have_go()) return;
  const std::string path = temp_path("cpu.pprof");
  std::int64_t burner_goid = 0;
  run("2", [&] {
    goro::pprof::start_cpu_profile(path);
    goro::chan<std::int64_t> done;
    goro::go([&] {
      const std::int64_t goid = goro::goroutine_id();
      pprof_test_burn_cpu(kBurnCpuNs);
      done.send(goid);
    });
    burner_goid = done.recv().value_or(0);
    goro::pprof::stop_cpu_profile();
  });
  ASSERT_NE(burner_goid, 0);

  const std::string top = go_tool_pprof("-top", path);
  EXPECT_NE(top.find("Type: cpu"), std::string::npos) << top;
  EXPECT_NE(top.find("pprof_test_burn_cpu"), std::string::npos) << top;

  // Numeric labels: `-tags` lists each value of the goroutine label with its share.
  const std::string tags = go_tool_pprof("-tags", path);
  EXPECT_NE(tags.find("goroutine"), std::string::npos) << tags;
  EXPECT_NE(tags.find(": " + std::to_string(burner_goid)), std::string::npos)
      << "goroutine " << burner_goid << " missing from the labels:\n" << tags;

  // -traces prints every sample with its labels, as " goroutine:  N", above its stack.
  const std::string traces = go_tool_pprof("-traces", path);
  EXPECT_TRUE(has_trace_with(traces, "goroutine: " + std::to_string(burner_goid) + " ",
                             "pprof_test_burn_cpu"))
      << traces;
  std::remove(path.c_str());
}

TEST_P(Pprof, CpuProfileToStream) {
  if (!have_go()) return;
  std::ostringstream out;
  run("1", [&] {
    goro::pprof::set_cpu_profile_rate(200);
    goro::pprof::start_cpu_profile(out);
    pprof_test_burn_cpu(kBurnCpuNs / 2);
    goro::pprof::stop_cpu_profile();
    goro::pprof::set_cpu_profile_rate(100);
  });
  ASSERT_FALSE(out.str().empty());
  const std::string path = temp_path("stream.pprof");
  write_file(path, out.str());
  const std::string top = go_tool_pprof("-top", path);
  EXPECT_NE(top.find("pprof_test_burn_cpu"), std::string::npos) << top;
  // 200 Hz is a 5 ms period; -raw prints it as "Period: 5000000".
  const std::string raw = go_tool_pprof("-raw", path);
  EXPECT_NE(raw.find("Period: 5000000"), std::string::npos) << raw;
  std::remove(path.c_str());
}

TEST(PprofMisuse, StartTwiceFails) {
  std::ostringstream first;
  std::ostringstream second;
  goro::pprof::start_cpu_profile(first);
  try {
    goro::pprof::start_cpu_profile(second);
    ADD_FAILURE() << "second start_cpu_profile did not throw";
  } catch (const goro::pprof::profile_error& error) {
    EXPECT_STREQ(error.what(), "cpu profiling already in use");
  }
  EXPECT_THROW(goro::pprof::start_cpu_profile(temp_path("second.pprof")),
               goro::pprof::profile_error);
  goro::pprof::stop_cpu_profile();
  EXPECT_FALSE(first.str().empty());
  EXPECT_TRUE(second.str().empty());
}

TEST(PprofMisuse, StopWithoutStartDoesNothing) {
  EXPECT_NO_THROW(goro::pprof::stop_cpu_profile());
  EXPECT_NO_THROW(goro::pprof::stop_cpu_profile());
  // A profile still starts and stops normally afterwards.
  std::ostringstream out;
  goro::pprof::start_cpu_profile(out);
  goro::pprof::stop_cpu_profile();
  EXPECT_FALSE(out.str().empty());
}

TEST(PprofMisuse, UncreatableFileFails) {
  const std::string path = "/nonexistent-goro-dir/cpu.pprof";
  try {
    goro::pprof::start_cpu_profile(path);
    ADD_FAILURE() << "start_cpu_profile(" << path << ") did not throw";
    goro::pprof::stop_cpu_profile();
  } catch (const goro::pprof::profile_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
  }
}

TEST(PprofMisuse, FailedStreamFailsAtStart) {
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  EXPECT_THROW(goro::pprof::start_cpu_profile(out), goro::pprof::profile_error);
  // Nothing was started.
  std::ostringstream good;
  EXPECT_NO_THROW(goro::pprof::start_cpu_profile(good));
  goro::pprof::stop_cpu_profile();
}

TEST(PprofMisuse, UnwritableStreamFailsAtStop) {
  failing_buffer buffer;
  std::ostream out(&buffer);
  goro::pprof::start_cpu_profile(out);
  EXPECT_THROW(goro::pprof::stop_cpu_profile(), goro::pprof::profile_error);
  // The profile stopped anyway: a new one can start.
  std::ostringstream good;
  EXPECT_NO_THROW(goro::pprof::start_cpu_profile(good));
  goro::pprof::stop_cpu_profile();

  std::ostream block_out(&buffer);
  EXPECT_THROW(goro::pprof::write_block_profile(block_out), goro::pprof::profile_error);
  std::ostream mutex_out(&buffer);
  EXPECT_THROW(goro::pprof::write_mutex_profile(mutex_out), goro::pprof::profile_error);
}

TEST(PprofMisuse, InvalidRateFails) {
  EXPECT_THROW(goro::pprof::set_cpu_profile_rate(0), goro::panic_error);
  EXPECT_THROW(goro::pprof::set_cpu_profile_rate(-5), goro::panic_error);
  EXPECT_THROW(goro::pprof::set_cpu_profile_rate(1'000'001), goro::panic_error);
  std::ostringstream out;
  goro::pprof::start_cpu_profile(out);
  try {
    goro::pprof::set_cpu_profile_rate(50);
    ADD_FAILURE() << "set_cpu_profile_rate during a profile did not throw";
  } catch (const goro::pprof::profile_error& error) {
    EXPECT_STREQ(error.what(), "cannot set cpu profile rate until previous profile has finished");
  }
  goro::pprof::stop_cpu_profile();
}

TEST_P(Pprof, GoroutineProfileGroupsStacks) {
  if (!have_go()) return;
  constexpr int kWaiters = 5;
  std::ostringstream out;
  run("2", [&] {
    goro::chan<int> ch;
    goro::wait_group done;
    done.add(kWaiters);
    std::atomic<int> started{0};
    for (int i = 0; i < kWaiters; ++i) {
      goro::go([&] {
        started.fetch_add(1);
        pprof_test_wait_for_close(ch);
        done.done();
      });
    }

    // Every waiter has started. The world stops for the snapshot, so a waiter that has not
    // parked in recv yet is recorded where it stopped.
    goro_test::yield_until([&] { return started.load() == kWaiters; });
    goro::pprof::write_goroutine_profile(out);
    ch.close();
    done.wait();
  });

  const std::string path = temp_path("goroutine.pprof");
  write_file(path, out.str());
  const std::string top = go_tool_pprof("-top", path);
  EXPECT_NE(top.find("Type: goroutine"), std::string::npos) << top;

  // -traces prints each grouped stack once, under its count. Waiters parked at the same
  // return addresses form one sample. One that was stopped on its way to the park has other
  // addresses and a sample of its own, so the counts of all the waiters' samples add up to
  // kWaiters and at least one sample groups several goroutines.
  const std::string traces = go_tool_pprof("-traces", path);
  const std::vector<std::int64_t> counts = trace_values_with(traces, "pprof_test_wait_for_close");
  std::int64_t total = 0;
  std::int64_t largest = 0;
  for (std::int64_t count : counts) {
    total += count;
    largest = std::max(largest, count);
  }
  EXPECT_EQ(total, kWaiters) << traces;
  EXPECT_GE(largest, 2) << traces;
  std::remove(path.c_str());
}

TEST(PprofMisuse, GoroutineProfileOutsideGoroutineFails) {
  std::ostringstream out;
  EXPECT_THROW(goro::pprof::write_goroutine_profile(out), goro::panic_error);
  EXPECT_TRUE(out.str().empty());
}

TEST(PprofMisuse, GoroutineProfileErrorNamesPublicCall) {
  std::ostringstream out;
  std::string message;
  try {
    goro::pprof::write_goroutine_profile(out);
  } catch (const goro::panic_error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("goro::pprof::write_goroutine_profile"), std::string::npos) << message;
  EXPECT_EQ(message.find("goro::rt::"), std::string::npos) << message;
}

TEST_P(Pprof, BlockProfileShowsChannelWait) {
  if (!have_go()) return;
  goro::pprof::set_block_profile_rate(1);
  run("2", [&] {
    goro::chan<int> ch;
    goro::wait_group done;
    std::atomic<std::int64_t> receiver{0};
    done.add(1);
    goro::go([&] {
      receiver.store(goro::goroutine_id());
      pprof_test_receive_blocked(ch);
      done.done();
    });
    ASSERT_TRUE(yield_until_parked(receiver, goro::rt::waitreason::chan_receive));
    ch.send(1);
    done.wait();
  });
  goro::pprof::set_block_profile_rate(0);

  std::ostringstream out;
  goro::pprof::write_block_profile(out);
  const std::string path = temp_path("block.pprof");
  write_file(path, out.str());
  const std::string top = go_tool_pprof("-top", path);
  EXPECT_NE(top.find("Type: delay"), std::string::npos) << top;
  EXPECT_NE(top.find("chan_recv"), std::string::npos) << top;
  const std::string traces = go_tool_pprof("-traces", path);
  EXPECT_NE(traces.find("pprof_test_receive_blocked"), std::string::npos) << traces;
  std::remove(path.c_str());
}

TEST_P(Pprof, MutexProfileShowsContention) {
  if (!have_go()) return;
  EXPECT_EQ(goro::pprof::set_mutex_profile_fraction(1), 0);
  run("2", [&] {
    goro::mutex mu;
    goro::wait_group done;
    std::atomic<std::int64_t> locker{0};
    mu.lock();
    done.add(1);
    goro::go([&] {
      locker.store(goro::goroutine_id());
      mu.lock();
      mu.unlock();
      done.done();
    });
    ASSERT_TRUE(yield_until_parked(locker, goro::rt::waitreason::sync_mutex_lock));
    pprof_test_unlock_contended(mu);
    done.wait();
  });
  EXPECT_EQ(goro::pprof::set_mutex_profile_fraction(-1), 1);

  std::ostringstream out;
  goro::pprof::write_mutex_profile(out);
  goro::pprof::set_mutex_profile_fraction(0);
  const std::string path = temp_path("mutex.pprof");
  write_file(path, out.str());
  const std::string top = go_tool_pprof("-top", path);
  EXPECT_NE(top.find("Type: delay"), std::string::npos) << top;
  EXPECT_NE(top.find("pprof_test_unlock_contended"), std::string::npos) << top;
  const std::string raw = go_tool_pprof("-raw", path);
  EXPECT_NE(raw.find("contentions/count delay/nanoseconds"), std::string::npos) << raw;
  std::remove(path.c_str());
}

// The "Samples:" section of `go tool pprof -raw` for the profile in `bytes`.
std::string raw_samples(const std::string& bytes) {
  const std::string path = temp_path("raw.pprof");
  write_file(path, bytes);
  const std::string raw = go_tool_pprof("-raw", path);
  std::remove(path.c_str());
  const std::size_t begin = raw.find("Samples:");
  const std::size_t end = raw.find("Locations");
  EXPECT_NE(begin, std::string::npos) << raw;
  EXPECT_NE(end, std::string::npos) << raw;
  if (begin == std::string::npos || end == std::string::npos || end < begin) return raw;
  return raw.substr(begin, end - begin);
}

TEST(PprofOff, RecordsNothingWhenOff) {
  if (!have_go()) return;
  // With the rate and fraction at 0 (the default), contention leaves both profiles as they
  // were, whatever earlier tests recorded.
  goro::pprof::set_block_profile_rate(0);
  goro::pprof::set_mutex_profile_fraction(0);
  std::ostringstream block_before;
  std::ostringstream mutex_before;
  goro::pprof::write_block_profile(block_before);
  goro::pprof::write_mutex_profile(mutex_before);
  goro_test::run_with_godebug("", "1", [] {
    goro::chan<int> ch;
    goro::mutex mu;
    mu.lock();
    goro::go([&] {
      mu.lock();
      mu.unlock();
      ch.send(1);
    });
    goro::yield();
    mu.unlock();
    (void)ch.recv();
  });
  std::ostringstream block_after;
  std::ostringstream mutex_after;
  goro::pprof::write_block_profile(block_after);
  goro::pprof::write_mutex_profile(mutex_after);
  EXPECT_EQ(raw_samples(block_before.str()), raw_samples(block_after.str()));
  EXPECT_EQ(raw_samples(mutex_before.str()), raw_samples(mutex_after.str()));
}

GORO_CHILD_SCENARIO(env_cpu_profile) {
  return goro::run(0, nullptr, [] { pprof_test_burn_cpu(kBurnCpuNs / 2); });
}

TEST(PprofEnv, GorocpuprofileWritesAtExit) {
  if (!have_go()) return;
  const std::string path = temp_path("env.pprof");
  std::remove(path.c_str());
  const auto result = run_child("env_cpu_profile", {"GOROCPUPROFILE=" + path});
  ASSERT_TRUE(result.exited) << describe(result);
  ASSERT_EQ(result.exit_status, 0) << describe(result);
  const std::string top = go_tool_pprof("-top", path);
  EXPECT_NE(top.find("pprof_test_burn_cpu"), std::string::npos) << top;
  std::remove(path.c_str());
}

GORO_CHILD_SCENARIO(exit_while_profiling) {
  static std::ostringstream out;
  goro::pprof::set_block_profile_rate(1);
  goro::pprof::set_mutex_profile_fraction(1);
  goro::pprof::start_cpu_profile(out);
  return goro::run(0, nullptr, [] { pprof_test_burn_cpu(kBurnCpuNs / 10); });
}

TEST(PprofEnv, ExitWhileProfilingIsClean) {
  // A CPU profile that is never stopped is dropped at exit, without a crash or a hang.
  const auto result = run_child("exit_while_profiling");
  ASSERT_TRUE(result.exited) << describe(result);
  EXPECT_EQ(result.exit_status, 0) << describe(result);
}

TEST(PprofEnv, UncreatableFileWarns) {
  const auto result =
      run_child("env_cpu_profile", {"GOROCPUPROFILE=/nonexistent-goro-dir/env.pprof"});
  ASSERT_TRUE(result.exited) << describe(result);
  EXPECT_EQ(result.exit_status, 0) << describe(result);
  EXPECT_NE(result.err.find("goro: GOROCPUPROFILE: pprof: cannot create the CPU profile file "
                            "/nonexistent-goro-dir/env.pprof"),
            std::string::npos)
      << result.err;
}

}  // namespace
