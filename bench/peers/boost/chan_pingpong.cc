// chan_pingpong: the main fiber pushes a value on one unbuffered channel and an echo fiber
// replies with the value plus one on another, N round trips.
// Check: the last value received is N.
#include <cstdint>

#include "bench_report.h"
#include "fiber_runtime.h"

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 2'000'000);
  return bench::fiber::run([n] {
    boost::fibers::unbuffered_channel<std::int64_t> ping;
    boost::fibers::unbuffered_channel<std::int64_t> pong;
    boost::fibers::fiber echo = bench::fiber::start([&ping, &pong] {
      std::int64_t v = 0;
      while (ping.pop(v) == boost::fibers::channel_op_status::success) {
        pong.push(v + 1);
      }
    });

    bench::stopwatch clock;
    std::int64_t v = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      ping.push(v);
      pong.pop(v);
    }
    const double seconds = clock.seconds();
    ping.close();
    echo.join();

    return bench::check("chan_pingpong", n, seconds, v, n);
  });
}
