// chan_pingpong: the main goroutine sends a value on one unbuffered channel and an echo
// goroutine replies with the value plus one on another, N round trips.
// Check: the last value received is N.
#include <goro/chan.hpp>
#include <goro/goro.hpp>

#include <cstdint>

#include "bench_report.h"

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 2'000'000);
  return goro::run(argc, argv, [n] {
    goro::chan<std::int64_t> ping;
    goro::chan<std::int64_t> pong;
    goro::go([ping, pong] {
      for (std::int64_t v : ping) {
        pong.send(v + 1);
      }
    });

    bench::stopwatch clock;
    std::int64_t v = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      ping.send(v);
      v = pong.recv().value();
    }
    const double seconds = clock.seconds();
    ping.close();

    return bench::check("chan_pingpong", n, seconds, v, n);
  });
}
