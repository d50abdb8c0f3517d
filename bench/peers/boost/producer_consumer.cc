// producer_consumer: a producer fiber pushes 1..N on a buffered channel and closes it; the
// main fiber pops until the channel is closed and sums the values. Boost's buffered_channel
// needs a power-of-two size and stores one value less, so 128 slots hold 127 values, the
// nearest to Go's capacity of 100.
// Check: the sum is N(N+1)/2.
#include <cstdint>

#include "bench_report.h"
#include "fiber_runtime.h"

namespace {
constexpr std::size_t channel_slots = 128;
}

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 20'000'000);
  return bench::fiber::run([n] {
    boost::fibers::buffered_channel<std::int64_t> values(channel_slots);

    bench::stopwatch clock;
    boost::fibers::fiber producer = bench::fiber::start([n, &values] {
      for (std::int64_t i = 1; i <= n; ++i) {
        values.push(i);
      }
      values.close();
    });
    std::int64_t sum = 0;
    std::int64_t v = 0;
    while (values.pop(v) == boost::fibers::channel_op_status::success) {
      sum += v;
    }
    const double seconds = clock.seconds();
    producer.join();

    return bench::check("producer_consumer", n, seconds, sum, n * (n + 1) / 2);
  });
}
