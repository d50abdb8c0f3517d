// yield_pingpong: two fibers each call boost::this_fiber::yield N times. On one thread they
// alternate.
// Check: the total number of yields is 2N.
#include <array>
#include <cstdint>

#include "bench_report.h"
#include "fiber_runtime.h"

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 5'000'000);
  return bench::fiber::run([n] {
    std::array<std::int64_t, 2> yields{};

    bench::stopwatch clock;
    bench::fiber::wait_group wg;
    wg.add(yields.size());
    for (std::int64_t& slot : yields) {
      bench::fiber::spawn([n, &slot, &wg] {
        std::int64_t count = 0;
        for (; count < n; ++count) {
          boost::this_fiber::yield();
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
