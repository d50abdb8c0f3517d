// spawn: start N fibers that do nothing but mark themselves as run, and wait for all.
// Check: the number of fibers that ran equals N.
#include <cstdint>
#include <vector>

#include "bench_report.h"
#include "fiber_runtime.h"

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 200'000);
  return bench::fiber::run([n] {
    std::vector<char> ran(n);

    bench::stopwatch clock;
    bench::fiber::wait_group wg;
    wg.add(n);
    for (std::int64_t i = 0; i < n; ++i) {
      bench::fiber::spawn([&ran, &wg, i] {
        ran[i] = 1;
        wg.done();
      });
    }
    wg.wait();
    const double seconds = clock.seconds();

    std::int64_t count = 0;
    for (char r : ran) {
      count += r;
    }
    return bench::check("spawn", n, seconds, count, n);
  });
}
