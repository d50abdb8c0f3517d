// Tests for the execution trace (goro::trace and GOROTRACE). Each case records a workload
// with goroutines, channels, sleeps, a blocking call, a contended mutex, a network poller
// wait and a plain thread, then parses the JSON with Python's json module and checks the
// event invariants:
//   * the file is valid JSON and the converter found no inconsistency;
//   * every B (a goroutine's run) has its E on the same track, one run per track at a time;
//   * a goroutine never runs on two Ps, or on a P and a thread, at the same time;
//   * a goroutine's first run comes after its GoCreate;
//   * every GoBlock carries a wait reason, and a blocked goroutine gets a GoUnblock before
//     it runs again.
// The checker prints one "key=value" line per measure, and each is asserted on its own.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "goro_fixture.h"
#include "goro/chan.hpp"
#include "goro/metrics.hpp"
#include "goro/runtime.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "goro/trace.hpp"
#include "runtime/netpoll/netpoll.h"
#include "runtime/sched/runtime2.h"
#include "runtime/trace/exectrace.h"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using goro_test::scoped_env;
using goro_test::yield_until;

// Reads a Chrome trace-event file and prints the measures the tests assert on.
constexpr const char* kChecker = R"PY(
import json, sys
from collections import defaultdict

with open(sys.argv[1]) as f:
    doc = json.load(f)
events = doc["traceEvents"]
other = doc["otherData"]
THREAD_TRACKS = 99998  # tids from here on are thread (M) and plain-thread tracks

def is_p(tid):
    return tid < THREAD_TRACKS

order = sorted(range(len(events)), key=lambda i: (events[i].get("ts", 0), i))
counts = defaultdict(int)
open_run = {}                 # tid -> (goroutine name, start ts)
runs = defaultdict(list)      # goroutine name -> [(start, end, tid)]
created = {}                  # goroutine id -> ts of GoCreate
first_start = {}              # goroutine id -> ts of its first B
blocked = {}                  # goroutine id -> True while blocked
reasons = set()
sched_reasons = set()         # "GoSched:yield", "GoPreempt:preempted", ...
gomaxprocs = []

for i in order:
    e = events[i]
    ph, name, tid, ts = e["ph"], e["name"], e.get("tid"), e.get("ts", 0)
    args = e.get("args", {})
    if ph == "B":
        counts["runs"] += 1
        if tid in open_run:
            counts["nested_runs"] += 1
        open_run[tid] = (name, ts)
        g = args["g"]
        if args.get("inferred"):
            counts["inferred_runs"] += 1
        first_start.setdefault(g, ts)
        if blocked.get(g):
            counts["run_while_blocked"] += 1
    elif ph == "E":
        if tid not in open_run or open_run[tid][0] != name:
            counts["unmatched_ends"] += 1
            continue
        start = open_run.pop(tid)[1]
        runs[name].append((start, ts, tid))
    elif ph == "i":
        g = args.get("g")
        counts["instant_" + name] += 1
        if name == "GoCreate":
            created[g] = ts
        elif name == "GoBlock":
            if not args.get("reason"):
                counts["blocks_without_reason"] += 1
            reasons.add(args.get("reason", ""))
            blocked[g] = True
        elif name == "GoUnblock":
            if not blocked.get(g):
                counts["unblocks_without_block"] += 1
            blocked[g] = False
        elif name == "GoEnd":
            blocked.pop(g, None)
        elif name in ("GoSched", "GoPreempt"):
            sched_reasons.add(name + ":" + args.get("reason", ""))
    elif ph == "C" and name == "GOMAXPROCS":
        gomaxprocs.append(args["GOMAXPROCS"])

counts["unclosed_runs"] = len(open_run)
for name, intervals in runs.items():
    intervals.sort()
    for (s1, e1, t1), (s2, e2, t2) in zip(intervals, intervals[1:]):
        if s2 < e1:
            counts["overlapping_runs"] += 1
            if is_p(t1) and is_p(t2) and t1 != t2:
                counts["runs_on_two_ps"] += 1
for g, ts in created.items():
    if g in first_start and first_start[g] < ts:
        counts["starts_before_create"] += 1
counts["created"] = len(created)
counts["created_and_run"] = sum(1 for g in created if g in first_start)

for key in ["runs", "nested_runs", "inferred_runs", "run_while_blocked", "unmatched_ends",
            "blocks_without_reason", "unblocks_without_block", "unclosed_runs",
            "overlapping_runs", "runs_on_two_ps", "starts_before_create", "created",
            "created_and_run", "instant_GoSysCall", "instant_GoSysExit", "instant_GoEnd",
            "instant_ThreadStart", "instant_ProcStart"]:
    print("%s=%d" % (key, counts[key]))
print("inconsistencies=%d" % other["inconsistencies"])
print("dropped_events=%d" % other["dropped_events"])
print("events=%d" % other["events"])
print("buffer_limit_reached=%d" % other["buffer_limit_reached"])
print("buffer_limit_bytes=%d" % other["buffer_limit_bytes"])
print("events_after_limit=%d" % sum(1 for e in events
      if "buffer_limit_ts" in other and e.get("ts", 0) > other["buffer_limit_ts"]))
print("reasons=" + "|".join(sorted(reasons)))
print("sched_reasons=" + "|".join(sorted(sched_reasons)))
print("gomaxprocs=" + ",".join(str(n) for n in gomaxprocs))
print("main_created_by=%s" % (",".join(str(e["args"].get("parent")) for e in events
      if e["ph"] == "i" and e["name"] == "GoCreate" and e["args"].get("g") == 1)))
)PY";

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "goro_exectrace_" + name + "_" + std::to_string(::getpid()) +
         ".json";
}

// Runs the checker on a trace file with python3 and returns its "key=value" lines. Uses
// posix_spawnp, which does not copy the test process's mappings as fork does: a fork can
// fail with ENOMEM once a sanitized process has reserved many goroutine stacks.
std::map<std::string, std::string> check_trace(const std::string& path) {
  std::string script = temp_path("checker") + ".py";
  {
    std::ofstream out(script);
    out << kChecker;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2 failed";
    return {};
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  std::string python = "python3";
  char* argv[] = {python.data(), script.data(), const_cast<char*>(path.c_str()), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, "python3", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  std::string output;
  if (rc == 0) {
    char buf[4096];
    ssize_t got;
    while ((got = ::read(pipe_fds[0], buf, sizeof buf)) > 0) output.append(buf, static_cast<size_t>(got));
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status)) << "the checker did not exit; output:\n" << output;
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "the checker failed on " << path << " (is it valid JSON?); output:\n" << output;
  } else {
    ADD_FAILURE() << "cannot start python3: " << std::strerror(rc);
  }
  ::close(pipe_fds[0]);
  std::remove(script.c_str());

  std::map<std::string, std::string> values;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

long long number(const std::map<std::string, std::string>& values, const std::string& key) {
  auto it = values.find(key);
  if (it == values.end()) {
    ADD_FAILURE() << "the checker printed no value for " << key;
    return -1;
  }
  return std::stoll(it->second);
}

// Asserts the invariants every trace must satisfy, including one cut at the buffer limit.
void expect_consistent(const std::map<std::string, std::string>& v) {
  EXPECT_EQ(number(v, "inconsistencies"), 0);
  EXPECT_EQ(number(v, "nested_runs"), 0);
  EXPECT_EQ(number(v, "unmatched_ends"), 0);
  EXPECT_EQ(number(v, "unclosed_runs"), 0);
  EXPECT_EQ(number(v, "overlapping_runs"), 0);
  EXPECT_EQ(number(v, "runs_on_two_ps"), 0);
  EXPECT_EQ(number(v, "starts_before_create"), 0);
  EXPECT_EQ(number(v, "blocks_without_reason"), 0);
  EXPECT_EQ(number(v, "unblocks_without_block"), 0);
  EXPECT_EQ(number(v, "run_while_blocked"), 0);
  EXPECT_GT(number(v, "runs"), 0);
}

// expect_consistent for a complete trace: nothing dropped, the buffer limit not reached.
void expect_invariants(const std::map<std::string, std::string>& v) {
  expect_consistent(v);
  EXPECT_EQ(number(v, "dropped_events"), 0);
  EXPECT_EQ(number(v, "buffer_limit_reached"), 0);
}

// Goroutines that workload() creates.
constexpr int kWorkloadGoroutines = 9;

// Blocks the calling goroutine in the network poller until fd is readable, then reads one
// byte. Returns the byte, or -1 if the poller or the read failed.
int poll_read_byte(int fd) {
  namespace rt = goro::rt;
  rt::poll_desc* pd = rt::poll_open(fd);
  if (pd == nullptr) return -1;
  int result = -1;
  for (;;) {
    if (rt::poll_reset(pd, rt::poll_mode::read) != rt::poll_status::ok) break;
    char byte = 0;
    ssize_t got = ::read(fd, &byte, 1);
    if (got == 1) {
      result = byte;
      break;
    }
    if (got == 0 || errno != EAGAIN) break;
    if (rt::poll_wait(pd, rt::poll_mode::read) != rt::poll_status::ok) break;
  }
  rt::poll_close(pd);
  return result;
}

// Goroutines, channels, sleeps, a blocking call that outlasts sysmon's retake threshold, a
// contended mutex, a wait in the network poller and a plain thread that readies a
// goroutine. Runs on the main goroutine.
void workload() {
  constexpr int kPingPongs = 200;
  constexpr int kSleepers = 4;

  // A contended mutex: the second goroutine parks on it while main holds it.
  goro::mutex mu;
  goro::wait_group done;
  mu.lock();
  done.add(1);
  goro::go([&] {
    mu.lock();
    mu.unlock();
    done.done();
  });
  yield_until([] { return goro::metrics::read().goroutines_waiting >= 1; });
  mu.unlock();
  done.wait();

  // Channel ping-pong.
  goro::chan<int> ping;
  goro::chan<int> pong;
  goro::go([ping, pong] {
    for (int v : ping) pong.send(v + 1);
  });
  for (int i = 0; i < kPingPongs; ++i) {
    ping.send(i);
    EXPECT_EQ(pong.recv().value(), i + 1);
  }
  ping.close();

  // Sleepers and a blocking call long enough for sysmon to take the P (10 ms).
  done.add(kSleepers + 1);
  for (int i = 0; i < kSleepers; ++i) {
    goro::go([&done] {
      for (int round = 0; round < 3; ++round) goro::sleep(1ms);
      done.done();
    });
  }
  goro::go([&done] {
    goro::blocking([] { std::this_thread::sleep_for(15ms); });
    done.done();
  });
  done.wait();

  // A goroutine waits in the network poller until main writes to its socket.
  int sockets[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sockets), 0);
  done.add(1);
  goro::go([&] {
    EXPECT_EQ(poll_read_byte(sockets[0]), 'x');
    done.done();
  });
  yield_until([] {
    goro::metrics::sample s = goro::metrics::read();
    return s.netpoll_waiters == 1 && s.goroutines_waiting == 1;
  });
  ASSERT_EQ(::write(sockets[1], "x", 1), 1);
  done.wait();
  ::close(sockets[0]);
  ::close(sockets[1]);

  // A plain thread sends to a goroutine parked in a receive. Main waits by yielding, not by
  // parking: checkdead counts a plain thread as a possible waker only once it has blocked in
  // a goro primitive, so with main parked it would report a deadlock before the send.
  goro::chan<int> from_thread;
  std::atomic<bool> received{false};
  goro::go([&] {
    EXPECT_EQ(from_thread.recv().value(), 7);
    received.store(true);
  });
  std::thread plain([from_thread] { from_thread.send(7); });
  yield_until([&] { return received.load(); });
  plain.join();
}

class Exectrace : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(F&& main, const char* gomaxprocs = "2") {
    return goro_test::run_with_godebug(GetParam(), gomaxprocs, std::forward<F>(main));
  }
};

INSTANTIATE_TEST_SUITE_P(Godebug, Exectrace, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

TEST_P(Exectrace, WorkloadKeepsInvariants) {
  std::string path = temp_path("workload");
  run([&] {
    goro::trace::start(path);
    EXPECT_TRUE(goro::trace::enabled());
    workload();
    goro::trace::stop();
    EXPECT_FALSE(goro::trace::enabled());
  });
  auto v = check_trace(path);
  expect_invariants(v);
  EXPECT_EQ(number(v, "created"), kWorkloadGoroutines);
  EXPECT_EQ(number(v, "created_and_run"), kWorkloadGoroutines);
  EXPECT_EQ(number(v, "inferred_runs"), 0);
  EXPECT_EQ(number(v, "buffer_limit_bytes"), 64 << 20) << "the default GODEBUG=gorotracebuf";
  EXPECT_GE(number(v, "instant_GoSysCall"), 1);
  EXPECT_GE(number(v, "instant_GoSysExit"), 1);
  // The last goroutine may still be on its way out when the trace stops.
  EXPECT_GE(number(v, "instant_GoEnd"), kWorkloadGoroutines - 1);
  const std::string reasons = v["reasons"];
  // Which side of the ping-pong parks depends on timing; one of them does.
  EXPECT_TRUE(reasons.find("chan receive") != std::string::npos ||
              reasons.find("chan send") != std::string::npos)
      << reasons;
  EXPECT_NE(reasons.find("sleep"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("sync.Mutex.Lock"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("sync.WaitGroup.Wait"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("IO wait"), std::string::npos) << reasons;
  std::remove(path.c_str());
}

// A spawn loop's turns, in which it lets the goroutines it queued run, are GoSched with
// reason "spawn loop", not sysmon's GoPreempt.
TEST_P(Exectrace, SpawnLoopTurnIsGoSched) {
  std::string path = temp_path("spawn_loop");
  run([&] {
    goro::gomaxprocs(1);
    goro::trace::start(path);
    goro::wait_group wg;
    constexpr int kGoroutines = 4 * static_cast<int>(goro::rt::kRunqSize);
    wg.add(kGoroutines);
    for (int i = 0; i < kGoroutines; ++i) goro::go([&wg] { wg.done(); });
    wg.wait();
    goro::trace::stop();
  });
  auto v = check_trace(path);
  expect_invariants(v);
  const std::string reasons = v["sched_reasons"];
  EXPECT_NE(reasons.find("GoSched:spawn loop"), std::string::npos) << reasons;
  EXPECT_EQ(reasons.find("GoPreempt:spawn loop"), std::string::npos) << reasons;
  std::remove(path.c_str());
}

TEST_P(Exectrace, GomaxprocsChangesWhileTracing) {
  std::string path = temp_path("gomaxprocs");
  run([&] {
    goro::trace::start(path);
    workload();
    goro::gomaxprocs(3);
    workload();
    goro::gomaxprocs(1);
    workload();
    goro::trace::stop();
  });
  auto v = check_trace(path);
  expect_invariants(v);
  EXPECT_EQ(v["gomaxprocs"], "2,3,1");
  std::remove(path.c_str());
}

TEST_P(Exectrace, WritesToStream) {
  std::string path = temp_path("stream");
  run([&] {
    std::ofstream out(path);
    goro::trace::start(out);
    workload();
    goro::trace::stop();
  });
  expect_invariants(check_trace(path));
  std::remove(path.c_str());
}

TEST_P(Exectrace, UnstoppedTraceWrittenAtRunEnd) {
  std::string path = temp_path("unstopped");
  run([&] {
    goro::trace::start(path);
    workload();
  });
  auto v = check_trace(path);
  expect_invariants(v);
  EXPECT_GE(number(v, "instant_GoEnd"), kWorkloadGoroutines - 1);
  std::remove(path.c_str());
}

TEST_P(Exectrace, StartTwiceAndStopTwiceFail) {
  std::string path = temp_path("twice");
  run([&] {
    std::ostringstream first;
    goro::trace::start(first);
    try {
      goro::trace::start(path);
      ADD_FAILURE() << "a second start did not throw";
    } catch (const goro::trace::trace_error& e) {
      EXPECT_NE(std::string(e.what()).find("tracing is already enabled"), std::string::npos)
          << e.what();
    }
    goro::trace::stop();
    EXPECT_NE(first.str().find("\"traceEvents\""), std::string::npos);
    try {
      goro::trace::stop();
      ADD_FAILURE() << "a stop without start did not throw";
    } catch (const goro::trace::trace_error& e) {
      EXPECT_NE(std::string(e.what()).find("tracing is not enabled"), std::string::npos)
          << e.what();
    }
  });
}

TEST_P(Exectrace, UnopenablePathFailsAndLeavesTracingOff) {
  run([] {
    try {
      goro::trace::start("/nonexistent-goro-directory/trace.json");
      ADD_FAILURE() << "start on an unopenable path did not throw";
    } catch (const goro::trace::trace_error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot open /nonexistent-goro-directory/trace.json"),
                std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(goro::trace::enabled());
    std::ostringstream out;
    goro::trace::start(out);
    goro::trace::stop();
    EXPECT_NE(out.str().find("\"traceEvents\""), std::string::npos);
  });
}

TEST_P(Exectrace, FailedStreamIsRejectedAtStart) {
  run([] {
    std::ostringstream out;
    out.setstate(std::ios::badbit);
    try {
      goro::trace::start(out);
      ADD_FAILURE() << "start on a failed stream did not throw";
    } catch (const goro::trace::trace_error& e) {
      EXPECT_NE(std::string(e.what()).find("already in a failed state"), std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(goro::trace::enabled());
  });
}

// A stream buffer that rejects every write.
class rejecting_buf : public std::streambuf {
 protected:
  int_type overflow(int_type) override { return traits_type::eof(); }
  std::streamsize xsputn(const char*, std::streamsize) override { return 0; }
};

TEST_P(Exectrace, FailedStreamIsReportedByStop) {
  run([] {
    rejecting_buf buf;
    std::ostream out(&buf);
    goro::trace::start(out);
    try {
      goro::trace::stop();
      ADD_FAILURE() << "stop on a failed stream did not throw";
    } catch (const goro::trace::trace_error& e) {
      EXPECT_NE(std::string(e.what()).find("writing the trace to the stream failed"),
                std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(goro::trace::enabled());
    // The failure left tracing usable.
    std::ostringstream again;
    goro::trace::start(again);
    goro::trace::stop();
    EXPECT_NE(again.str().find("\"traceEvents\""), std::string::npos);
  });
}

TEST(ExectraceApi, StartOutsideRunFails) {
  std::ostringstream out;
  EXPECT_THROW(goro::trace::start(out), goro::trace::trace_error);
  EXPECT_FALSE(goro::trace::enabled());
}

GORO_CHILD_SCENARIO(gorotrace_whole_run) {
  return goro::run(0, nullptr, [] { workload(); });
}

GORO_CHILD_SCENARIO(gorotrace_unopenable) {
  return goro::run(0, nullptr, [] { return goro::trace::enabled() ? 1 : 0; });
}

TEST(ExectraceEnv, GorotraceTracesWholeRun) {
  std::string path = temp_path("gorotrace");
  auto result = goro_test::run_child("gorotrace_whole_run", {"GOROTRACE=" + path, "GOMAXPROCS=2"});
  ASSERT_TRUE(result.exited) << goro_test::describe(result);
  ASSERT_EQ(result.exit_status, 0) << goro_test::describe(result);
  auto v = check_trace(path);
  expect_invariants(v);
  EXPECT_EQ(v["main_created_by"], "0");
  EXPECT_GE(number(v, "instant_ThreadStart"), 1);
  EXPECT_GE(number(v, "instant_ProcStart"), 1);
  EXPECT_EQ(number(v, "created_and_run"), number(v, "created"));
  std::remove(path.c_str());
}

// Two goroutines exchange `rounds` values over unbuffered channels: about six trace events
// a round.
void ping_pong(int rounds) {
  goro::chan<int> ping;
  goro::chan<int> pong;
  goro::wait_group done;
  done.add(1);
  goro::go([&] {
    for (int i = 0; i < rounds; ++i) pong.send(ping.recv().value());
    done.done();
  });
  for (int i = 0; i < rounds; ++i) {
    ping.send(i);
    if (pong.recv().value() != i) std::abort();
  }
  done.wait();
}

GORO_CHILD_SCENARIO(trace_past_buffer_limit) {
  return goro::run(0, nullptr, [] {
    goro::trace::start(std::getenv("TRACE_PATH"));
    // Two pairs, so that both Ps write events when the limit is reached.
    goro::wait_group pairs;
    pairs.add(1);
    goro::go([&] {
      ping_pong(10'000);
      pairs.done();
    });
    ping_pong(10'000);
    pairs.wait();
    goro::trace::stop();
    // Recording restarts with an empty budget: a short second trace is complete.
    goro::trace::start(std::string(std::getenv("TRACE_PATH")) + ".second");
    ping_pong(10);
    goro::trace::stop();
  });
}

TEST(ExectraceLimit, TraceEndsCleanlyAtBufferLimit) {
  std::string path = temp_path("limit");
  // 512 KiB has room for three 128 KiB buffers (each has a small header), 12 288 records.
  // The ping-pong makes about 120 000 events.
  auto result = goro_test::run_child(
      "trace_past_buffer_limit",
      {"TRACE_PATH=" + path, "GODEBUG=gorotracebuf=512K", "GOMAXPROCS=2"});
  ASSERT_TRUE(result.exited) << goro_test::describe(result);
  ASSERT_EQ(result.exit_status, 0) << goro_test::describe(result);
  EXPECT_NE(result.err.find("goro: execution trace " + path + ": recording stopped after "),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find(" ms at the buffer limit of 524288 bytes; "), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("Raise the limit with GODEBUG=gorotracebuf=N"), std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find(path + ".second"), std::string::npos)
      << "the second trace was within the limit\n" << result.err;

  auto v = check_trace(path);
  expect_consistent(v);
  EXPECT_EQ(number(v, "buffer_limit_reached"), 1);
  EXPECT_EQ(number(v, "buffer_limit_bytes"), 512 * 1024);
  EXPECT_EQ(number(v, "events_after_limit"), 0);
  EXPECT_LE(number(v, "events"), 3 * 4096);
  EXPECT_GT(number(v, "events"), 1000);
  EXPECT_GT(number(v, "dropped_events"), 50'000);
  // The count in the message is the one in the file.
  EXPECT_NE(result.err.find("; " + v["dropped_events"] + " later events are not in the trace"),
            std::string::npos)
      << result.err;

  auto second = check_trace(path + ".second");
  expect_invariants(second);
  EXPECT_EQ(number(second, "buffer_limit_bytes"), 512 * 1024);
  std::remove(path.c_str());
  std::remove((path + ".second").c_str());
}

// The JSON writer alone, on records of two writers, with the limit reached while the second
// writer still had room in its buffer.
TEST(ExectraceLimit, WriterCutsEveryWriterAtTheLimit) {
  namespace rt = goro::rt;
  auto first = std::make_unique<rt::trace_chunk>();   // value-initialised: all zero
  auto second = std::make_unique<rt::trace_chunk>();
  first->m_id = 0;
  first->order = 0;
  second->m_id = 1;
  second->order = 1;
  first->records[0] = {100, 2, 1, 0, rt::trace_kind::go_create, 0};
  first->records[1] = {300, 2, 0, 0, rt::trace_kind::go_start, 0};
  first->records[2] = {400, 2, 0, 0, rt::trace_kind::go_sched, 0};
  second->records[0] = {150, 0, 0, 1, rt::trace_kind::proc_start, 0};
  second->records[1] = {250, 3, 1, 1, rt::trace_kind::go_create, 0};
  second->records[2] = {350, 3, 0, 1, rt::trace_kind::go_start, 0};
  second->records[3] = {600, 3, 0, 1, rt::trace_kind::go_end, 0};  // after the limit
  second->records[4] = {700, 0, 0, 1, rt::trace_kind::proc_stop, 0};

  rt::trace_session_data data;
  data.chunks = {first.get(), second.get()};
  data.start_ts = 0;
  data.stop_ts = 900;
  data.dropped = 5;  // events the recorder turned away at the limit
  data.limit_ts = 500;
  data.limit_bytes = 128 * 1024;
  std::ostringstream out;
  rt::stream_sink sink(out);
  rt::trace_write_stats stats;
  ASSERT_TRUE(rt::write_trace_json(sink, data, &stats));
  const std::string json = out.str();

  EXPECT_EQ(stats.events, 6u);
  EXPECT_EQ(stats.dropped, 7u) << "the 5 turned away and the 2 cut";
  EXPECT_NE(json.find("\"events\":6,\"dropped_events\":7,\"buffer_limit_bytes\":131072,"
                      "\"buffer_limit_reached\":true,\"buffer_limit_ts\":0.500"),
            std::string::npos)
      << json;
  EXPECT_EQ(json.find("\"ts\":0.600"), std::string::npos) << "a record after the limit\n" << json;
  EXPECT_EQ(json.find("\"ts\":0.700"), std::string::npos) << "a record after the limit\n" << json;
  EXPECT_EQ(json.find("\"ts\":0.900"), std::string::npos) << "closed at stop, not at the limit\n"
                                                          << json;
  // G3's run, still open at the limit, ends there.
  EXPECT_NE(json.find("{\"name\":\"G3\",\"cat\":\"goroutine\",\"ph\":\"E\",\"pid\":1,\"tid\":1,"
                      "\"ts\":0.500,\"args\":{\"end\":\"trace buffer limit\"}}"),
            std::string::npos)
      << json;
}

TEST(ExectraceEnv, GorotraceUnopenablePathIsReported) {
  auto result = goro_test::run_child("gorotrace_unopenable",
                                     {"GOROTRACE=/nonexistent-goro-directory/trace.json"});
  ASSERT_TRUE(result.exited) << goro_test::describe(result);
  EXPECT_EQ(result.exit_status, 0) << goro_test::describe(result);
  EXPECT_NE(result.err.find("goro: GOROTRACE: cannot open /nonexistent-goro-directory/trace.json"),
            std::string::npos)
      << result.err;
}

}  // namespace
