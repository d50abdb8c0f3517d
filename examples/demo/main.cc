// goro-demo: a tour of goro's runtime on a real workload, printing what it does and why.
//
//   goro-demo                  the tour (a few seconds with a release build)
//   goro-demo --limit N        count primes below N instead of 500 000 000
//   goro-demo --traced-child   the short workload that the tour runs under GODEBUG
//
// Exits 0 when every section produced the expected result, 1 otherwise.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <goro/goro.hpp>

#include "primes.h"
#include "trace_child.h"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::uint64_t kDefaultLimit = 500'000'000;
constexpr int kWorkers = 10'000;
constexpr int kSleepers = 1'000;
constexpr auto kSleep = 50ms;
constexpr auto kBlockingCall = 200ms;
// GODEBUG for the traced child: schedtrace=200 prints a SCHED line every 200 ms, and the
// child runs for kChildRunTime, long enough for a few of them.
constexpr const char* kChildGodebug = "inittrace=1,schedtrace=200";
constexpr auto kChildRunTime = 700ms;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

void section(const char* title) { std::printf("\n== %s\n", title); }

// Polls until `remaining` reaches zero, sleeping between checks, and returns the largest
// num_goroutine() seen. goro has no wait group yet, so the main goroutine polls.
int wait_for_zero(const std::atomic<int>& remaining) {
  int peak = goro::num_goroutine();
  while (remaining.load(std::memory_order_acquire) > 0) {
    int n = goro::num_goroutine();
    if (n > peak) peak = n;
    goro::sleep(1ms);
  }
  return peak;
}

// A small lock-free set of thread ids: which OS threads ran goroutines. Ids beyond the
// 256th distinct one are not recorded.
class thread_set {
 public:
  void insert(long tid) {
    for (auto& slot : slots_) {
      long expected = 0;
      if (slot.load(std::memory_order_relaxed) == tid) return;
      if (slot.compare_exchange_strong(expected, tid, std::memory_order_relaxed)) return;
      if (expected == tid) return;
    }
  }
  int size() const {
    int n = 0;
    for (const auto& slot : slots_) n += slot.load(std::memory_order_relaxed) != 0 ? 1 : 0;
    return n;
  }

 private:
  std::atomic<long> slots_[256] = {};
};

long current_tid() { return ::syscall(SYS_gettid); }

bool show_runtime() {
  section("1. The runtime");
  std::printf("goro::run booted the runtime and runs this code as the main goroutine (id %lld).\n",
              static_cast<long long>(goro::goroutine_id()));
  std::printf("gomaxprocs:     %d (Ps: threads that may run goroutine code at once; "
              "set with GOMAXPROCS)\n", goro::gomaxprocs(0));
  std::printf("num_goroutine:  %d (live user goroutines, this one included)\n",
              goro::num_goroutine());
  return goro::goroutine_id() == 1 && goro::num_goroutine() == 1;
}

bool count_primes(std::uint64_t limit) {
  section("2. Parallel work: counting primes over 10 000 goroutines");
  std::printf("Counting primes below %llu twice: once in the main goroutine alone, then split\n"
              "into %d ranges, one goroutine each. Every worker yields halfway through, so\n"
              "the scheduler interleaves them. The speedup is at most gomaxprocs, and less\n"
              "when other programs keep the CPUs busy.\n",
              static_cast<unsigned long long>(limit), kWorkers);

  auto base_primes = demo::primes_below(static_cast<std::uint32_t>(std::sqrt(limit)) + 2);

  // Both runs sieve the same ranges, so the comparison measures parallelism and not cache
  // effects of one large sieve.
  std::uint64_t step = (limit + kWorkers - 1) / kWorkers;
  auto range_end = [&](std::uint64_t lo) { return lo + step < limit ? lo + step : limit; };

  auto start = clock_type::now();
  std::uint64_t serial = 0;
  for (std::uint64_t lo = 0; lo < limit; lo += step) {
    serial += demo::count_primes_in(lo, range_end(lo), base_primes);
  }
  double serial_ms = ms_since(start);

  std::atomic<std::uint64_t> parallel{0};
  std::atomic<int> remaining{kWorkers};
  thread_set threads;
  start = clock_type::now();
  for (int i = 0; i < kWorkers; ++i) {
    std::uint64_t lo = step * static_cast<std::uint64_t>(i);
    std::uint64_t hi = range_end(lo);
    goro::go([&, lo, hi] {
      std::uint64_t mid = lo + (hi - lo) / 2;
      std::uint64_t n = demo::count_primes_in(lo, mid, base_primes);
      goro::yield();
      n += demo::count_primes_in(mid, hi, base_primes);
      threads.insert(current_tid());
      parallel.fetch_add(n, std::memory_order_relaxed);
      remaining.fetch_sub(1, std::memory_order_release);
    });
  }
  int peak = wait_for_zero(remaining);
  double parallel_ms = ms_since(start);

  std::printf("1 goroutine:      %llu primes in %.0f ms\n",
              static_cast<unsigned long long>(serial), serial_ms);
  std::printf("%d goroutines: %llu primes in %.0f ms (%.1fx), on %d OS threads; "
              "num_goroutine peaked at %d\n",
              kWorkers, static_cast<unsigned long long>(parallel.load()), parallel_ms,
              serial_ms / parallel_ms, threads.size(), peak);
  if (parallel.load() != serial) {
    std::printf("FAILED: the goroutines counted %llu primes, the serial count is %llu\n",
                static_cast<unsigned long long>(parallel.load()),
                static_cast<unsigned long long>(serial));
    return false;
  }
  return true;
}

bool sleep_many() {
  section("3. Sleeping: 1 000 goroutines sleep 50 ms each, at the same time");
  std::printf("goro::sleep parks the goroutine on a timer, so its thread runs other goroutines\n"
              "meanwhile: the whole batch takes about 50 ms, not 1 000 x 50 ms.\n");
  std::atomic<int> remaining{kSleepers};
  auto start = clock_type::now();
  for (int i = 0; i < kSleepers; ++i) {
    goro::go([&] {
      goro::sleep(kSleep);
      remaining.fetch_sub(1, std::memory_order_release);
    });
  }
  int peak = wait_for_zero(remaining);
  double elapsed = ms_since(start);
  std::printf("all %d woke after %.0f ms; num_goroutine peaked at %d while they slept\n",
              kSleepers, elapsed, peak);
  return elapsed >= 50.0;
}

bool blocking_call() {
  section("4. A blocking call: goro::blocking hands the P to another thread");
  std::printf("With GOMAXPROCS=1, the main goroutine blocks its thread for 200 ms in\n"
              "std::this_thread::sleep_for, wrapped in goro::blocking. sysmon sees the P\n"
              "held by a blocking call and hands it to another thread, so a counter\n"
              "goroutine keeps running meanwhile.\n");
  int previous = goro::gomaxprocs(1);

  std::atomic<bool> stop{false};
  std::atomic<bool> stopped{false};
  std::atomic<std::uint64_t> ticks{0};
  goro::go([&] {
    while (!stop.load(std::memory_order_acquire)) {
      ticks.fetch_add(1, std::memory_order_relaxed);
      goro::yield();
    }
    stopped.store(true, std::memory_order_release);
  });
  goro::yield();  // let the counter start

  long tid_before = current_tid();
  std::uint64_t before = ticks.load();
  goro::blocking([] { std::this_thread::sleep_for(kBlockingCall); });
  std::uint64_t during = ticks.load() - before;
  long tid_after = current_tid();

  stop.store(true, std::memory_order_release);
  while (!stopped.load(std::memory_order_acquire)) goro::yield();
  goro::gomaxprocs(previous);

  std::printf("the counter goroutine ran %llu loop iterations during the 200 ms call\n",
              static_cast<unsigned long long>(during));
  std::printf("the main goroutine ran on thread %ld before the call and on %ld after it%s\n",
              tid_before, tid_after,
              tid_before == tid_after ? "" : " (a goroutine can move between threads)");
  std::printf("gomaxprocs is back to %d\n", goro::gomaxprocs(0));
  return during > 0;
}

bool show_traces() {
  section("5. GODEBUG traces: the same binary run again as a child process");
  std::printf("Child command: GODEBUG=%s %s --traced-child\n", kChildGodebug,
              "goro-demo");
  std::printf("inittrace=1 prints one 'init' line per bootstrap phase: when it started (@,\n"
              "since goro::run was entered), how long it took, and the heap it allocated.\n"
              "schedtrace=200 makes sysmon print a SCHED line every 200 ms: Ps, threads,\n"
              "idle threads, the global run queue and each P's local run queue.\n");
  int status = 0;
  std::string output = goro::blocking(
      [&] { return demo::run_self_with_godebug("--traced-child", kChildGodebug, &status); });

  std::printf("---- child output ----\n%s---- end of child output (exit status %d) ----\n",
              output.c_str(), status);
  bool saw_init = output.find("init runtime.osinit @") != std::string::npos;
  bool saw_sched = output.find("SCHED ") != std::string::npos;
  if (!saw_init || !saw_sched) {
    std::printf("FAILED: the child printed no %s line\n", saw_init ? "SCHED" : "init");
  }
  return status == 0 && saw_init && saw_sched;
}

// The workload of the traced child: goroutines that compute, yield and sleep for about
// kChildRunTime, so schedtrace has a few busy moments to show.
int traced_child() {
  constexpr int kGoroutines = 200;
  std::atomic<int> remaining{kGoroutines};
  auto deadline = clock_type::now() + kChildRunTime;
  for (int i = 0; i < kGoroutines; ++i) {
    goro::go([&, i] {
      std::vector<std::uint32_t> base = demo::primes_below(1000);
      std::uint64_t lo = 1'000'000ull * static_cast<std::uint64_t>(i);
      while (clock_type::now() < deadline) {
        (void)demo::count_primes_in(lo, lo + 20'000, base);
        goro::yield();
        goro::sleep(5ms);
      }
      remaining.fetch_sub(1, std::memory_order_release);
    });
  }
  wait_for_zero(remaining);
  std::printf("child: %d goroutines computed, yielded and slept for %lld ms\n", kGoroutines,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                  kChildRunTime).count()));
  return 0;
}

int usage(const char* message) {
  std::fprintf(stderr, "goro-demo: %s\nusage: goro-demo [--limit N] | --traced-child\n",
               message);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t limit = kDefaultLimit;
  bool child = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--traced-child") {
      child = true;
    } else if (arg == "--limit" && i + 1 < argc) {
      char* end = nullptr;
      limit = std::strtoull(argv[++i], &end, 10);
      if (*end != '\0' || limit < 100 || limit > 4'000'000'000ull) {
        return usage("--limit must be a whole number from 100 to 4000000000");
      }
    } else {
      return usage(("unknown argument '" + std::string(arg) + "'").c_str());
    }
  }

  return goro::run(argc, argv, [&]() -> int {
    if (child) return traced_child();

    auto start = clock_type::now();
    std::printf("goro-demo: goroutines on a G/M/P scheduler, in C++\n");
    bool ok = show_runtime();
    ok = count_primes(limit) && ok;
    ok = sleep_many() && ok;
    ok = blocking_call() && ok;
    ok = show_traces() && ok;

    section("Done");
    std::printf("total %.0f ms; %s\n", ms_since(start),
                ok ? "every section produced the expected result"
                   : "a section FAILED (see above)");
    std::fflush(stdout);
    return ok ? 0 : 1;
  });
}
