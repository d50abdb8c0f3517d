// spawn: start N goroutines that do nothing but mark themselves as run, and wait for all.
// Check: the number of goroutines that ran equals N.
#include <goro/goro.hpp>
#include <goro/sync.hpp>

#include <cstdint>
#include <vector>

#include "bench_report.h"

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 200'000);
  return goro::run(argc, argv, [n] {
    std::vector<char> ran(n);

    bench::stopwatch clock;
    goro::wait_group wg;
    wg.add(static_cast<int>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      goro::go([&ran, &wg, i] {
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
