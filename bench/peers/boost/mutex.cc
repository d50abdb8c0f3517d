// mutex: 100 fibers share N increments of one counter, each increment made while holding one
// boost::fibers::mutex.
// Check: the counter ends at N.
#include <cstdint>
#include <mutex>

#include "bench_report.h"
#include "fiber_runtime.h"

namespace {
constexpr std::int64_t workers = 100;
}

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 20'000'000);
  return bench::fiber::run([n] {
    boost::fibers::mutex mutex;
    std::int64_t counter = 0;

    bench::stopwatch clock;
    bench::fiber::wait_group wg;
    wg.add(workers);
    for (std::int64_t w = 0; w < workers; ++w) {
      // The first n % workers fibers take one increment more, so the shares add up to n.
      const std::int64_t share = n / workers + (w < n % workers ? 1 : 0);
      bench::fiber::spawn([share, &mutex, &counter, &wg] {
        for (std::int64_t i = 0; i < share; ++i) {
          std::lock_guard lock(mutex);
          ++counter;
        }
        wg.done();
      });
    }
    wg.wait();
    const double seconds = clock.seconds();

    return bench::check("mutex", n, seconds, counter, n);
  });
}
