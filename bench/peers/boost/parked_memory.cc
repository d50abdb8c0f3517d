// parked_memory: start N fibers that each block popping from one unbuffered channel, and
// measure the growth of the resident set while they are all parked. The result's value is
// that growth divided by N, in bytes per fiber; the seconds are the time to start them.
// Check: all N fibers finish once the channel is closed.
#include <cstdint>

#include "bench_report.h"
#include "fiber_runtime.h"

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 1'000'000);
  return bench::fiber::run([n] {
    boost::fibers::unbuffered_channel<int> release;
    bench::fiber::wait_group started;
    bench::fiber::wait_group finished;
    started.add(n);
    finished.add(n);

    const std::int64_t before = bench::resident_bytes();
    bench::stopwatch clock;
    for (std::int64_t i = 0; i < n; ++i) {
      bench::fiber::spawn([&] {
        started.done();
        int unused = 0;
        release.pop(unused);
        finished.done();
      });
    }
    started.wait();
    const double seconds = clock.seconds();
    const std::int64_t after = bench::resident_bytes();

    release.close();
    finished.wait();
    return bench::measure("parked_memory", n, seconds,
                          static_cast<double>(after - before) / static_cast<double>(n));
  });
}
