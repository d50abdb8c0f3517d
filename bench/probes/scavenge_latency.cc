// scavenge_latency: how long starting goroutines stalls while sysmon scavenges a large stack
// pool. Not a scoreboard workload: it has no peer, and it measures a latency, not a rate.
//
// N goroutines each dirty 8 KiB of their stack and exit, which leaves N stacks with
// committed pages in the pool. For the next 3 s, the main goroutine repeatedly starts 64
// goroutines, waits for them and sleeps 200 us. One second in, sysmon starts scavenging
// the idle stacks. Prints the number of rounds and the median, 99th percentile and longest
// round in microseconds.
#include <goro/goro.hpp>
#include <goro/chan.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr int kPerRound = 64;
constexpr auto kDuration = std::chrono::seconds(3);
constexpr auto kPause = std::chrono::microseconds(200);

// Writes to 8 KiB of the calling goroutine's stack, so that its pages are committed.
[[gnu::noinline]] void dirty_stack() {
  volatile char area[8192];
  for (std::size_t i = 0; i < sizeof area; i += 1024) area[i] = 1;
}

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 100'000;
  if (n <= 0) {
    std::fprintf(stderr, "scavenge_latency: invalid goroutine count %s; give a positive N\n",
                 argv[1]);
    return 2;
  }
  return goro::run(argc, argv, [n] {
    {
      goro::wait_group exited;
      exited.add(static_cast<int>(n));
      goro::chan<int> release;
      for (long i = 0; i < n; ++i) {
        goro::go([&] {
          dirty_stack();
          release.recv();
          exited.done();
        });
      }
      release.close();
      exited.wait();
    }

    using clock = std::chrono::steady_clock;
    std::vector<double> rounds_us;
    const auto end = clock::now() + kDuration;
    while (clock::now() < end) {
      const auto start = clock::now();
      goro::wait_group done;
      done.add(kPerRound);
      for (int i = 0; i < kPerRound; ++i) goro::go([&] { done.done(); });
      done.wait();
      rounds_us.push_back(std::chrono::duration<double, std::micro>(clock::now() - start).count());
      goro::sleep(kPause);
    }

    std::sort(rounds_us.begin(), rounds_us.end());
    std::printf("scavenge_latency %ld rounds %zu median_us %.1f p99_us %.1f max_us %.1f\n", n,
                rounds_us.size(), rounds_us[rounds_us.size() / 2],
                rounds_us[rounds_us.size() * 99 / 100], rounds_us.back());
    return 0;
  });
}
