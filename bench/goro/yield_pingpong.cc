// yield_pingpong: two goroutines each call goro::yield N times. On one P they alternate.
// Check: the total number of yields is 2N.
#include <goro/goro.hpp>
#include <goro/sync.hpp>

#include <array>
#include <cstdint>

#include "bench_report.h"

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 5'000'000);
  return goro::run(argc, argv, [n] {
    std::array<std::int64_t, 2> yields{};

    bench::stopwatch clock;
    goro::wait_group wg;
    wg.add(static_cast<int>(yields.size()));
    for (std::int64_t& slot : yields) {
      goro::go([n, &slot, &wg] {
        std::int64_t count = 0;
        for (; count < n; ++count) {
          goro::yield();
        }
        slot = count;
        wg.done();
      });
    }
    wg.wait();
    const double seconds = clock.seconds();

    return bench::check("yield_pingpong", n, seconds, yields[0] + yields[1], 2 * n);
  });
}
