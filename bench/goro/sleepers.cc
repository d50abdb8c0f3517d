// sleepers: N goroutines each sleep 1 ms, 10 times in a loop, and count their wake-ups.
// Check: the wake-ups total 10N.
#include <goro/goro.hpp>
#include <goro/sync.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

#include "bench_report.h"

namespace {
constexpr std::int64_t rounds = 10;
}

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 100'000);
  return goro::run(argc, argv, [n] {
    std::vector<std::int64_t> wakeups(n);

    bench::stopwatch clock;
    goro::wait_group wg;
    wg.add(static_cast<int>(n));
    for (std::int64_t& count : wakeups) {
      goro::go([&count, &wg] {
        for (std::int64_t r = 0; r < rounds; ++r) {
          goro::sleep(std::chrono::milliseconds(1));
          ++count;
        }
        wg.done();
      });
    }
    wg.wait();
    const double seconds = clock.seconds();

    std::int64_t total = 0;
    for (std::int64_t count : wakeups) {
      total += count;
    }
    return bench::check("sleepers", n, seconds, total, rounds * n);
  });
}
