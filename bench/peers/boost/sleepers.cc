// sleepers: N fibers each sleep 1 ms, 10 times in a loop, and count their wake-ups.
// Check: the wake-ups total 10N.
#include <chrono>
#include <cstdint>
#include <vector>

#include "bench_report.h"
#include "fiber_runtime.h"

namespace {
constexpr std::int64_t rounds = 10;
}

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 100'000);
  return bench::fiber::run([n] {
    std::vector<std::int64_t> wakeups(n);

    bench::stopwatch clock;
    bench::fiber::wait_group wg;
    wg.add(n);
    for (std::int64_t& count : wakeups) {
      bench::fiber::spawn([&count, &wg] {
        for (std::int64_t r = 0; r < rounds; ++r) {
          boost::this_fiber::sleep_for(std::chrono::milliseconds(1));
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
