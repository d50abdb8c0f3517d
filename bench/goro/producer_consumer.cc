// producer_consumer: a producer goroutine sends 1..N on a channel of capacity 100 and closes
// it; the main goroutine receives until the channel is closed and sums the values.
// Check: the sum is N(N+1)/2.
#include <goro/chan.hpp>
#include <goro/goro.hpp>

#include <cstdint>

#include "bench_report.h"

namespace {
constexpr std::size_t capacity = 100;
}

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 20'000'000);
  return goro::run(argc, argv, [n] {
    goro::chan<std::int64_t> values(capacity);

    bench::stopwatch clock;
    goro::go([n, values] {
      for (std::int64_t i = 1; i <= n; ++i) {
        values.send(i);
      }
      values.close();
    });
    std::int64_t sum = 0;
    for (std::int64_t v : values) {
      sum += v;
    }
    const double seconds = clock.seconds();

    return bench::check("producer_consumer", n, seconds, sum, n * (n + 1) / 2);
  });
}
