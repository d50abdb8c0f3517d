// parked_memory: start N goroutines that each block receiving from one channel, and measure
// the growth of the resident set while they are all parked. The result's value is that
// growth divided by N, in bytes per goroutine; the seconds are the time to start them.
// Check: N goroutines are alive while parked, and all N finish once the channel is closed.
#include <goro/chan.hpp>
#include <goro/goro.hpp>
#include <goro/sync.hpp>

#include <cstdint>

#include "bench_report.h"

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 1'000'000);
  return goro::run(argc, argv, [n] {
    goro::chan<int> release;
    goro::wait_group started;
    goro::wait_group finished;
    started.add(static_cast<int>(n));
    finished.add(static_cast<int>(n));

    const std::int64_t before = bench::resident_bytes();
    bench::stopwatch clock;
    for (std::int64_t i = 0; i < n; ++i) {
      goro::go([release, &started, &finished] {
        started.done();
        // close() wakes every receiver; there is no value to look at.
        static_cast<void>(release.recv());
        finished.done();
      });
    }
    started.wait();
    const double seconds = clock.seconds();
    const std::int64_t after = bench::resident_bytes();

    if (const int alive = goro::num_goroutine(); alive != n + 1) {
      return bench::fail("parked_memory", "%d goroutines alive while parked, want %lld", alive,
                         static_cast<long long>(n + 1));
    }
    release.close();
    finished.wait();
    return bench::measure("parked_memory", n, seconds,
                          static_cast<double>(after - before) / static_cast<double>(n));
  });
}
