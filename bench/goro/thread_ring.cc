// thread_ring: 503 goroutines in a ring, each receiving from its own unbuffered channel and
// sending to the next one's, pass a token that starts at N and is decremented at each pass.
// The goroutine that receives 0 reports its number (1-based).
// Check: that number is (N mod 503) + 1, 292 for N = 50 000 000.
#include <goro/chan.hpp>
#include <goro/goro.hpp>

#include <cstdint>
#include <vector>

#include "bench_report.h"

namespace {

constexpr std::int64_t ring_size = 503;

void member(std::int64_t id, goro::chan<std::int64_t> in, goro::chan<std::int64_t> next,
            goro::chan<std::int64_t> winner) {
  for (;;) {
    const std::int64_t token = in.recv().value();
    if (token == 0) {
      winner.send(id);
      return;
    }
    next.send(token - 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 5'000'000);
  return goro::run(argc, argv, [n] {
    bench::stopwatch clock;
    std::vector<goro::chan<std::int64_t>> ring(static_cast<std::size_t>(ring_size));
    goro::chan<std::int64_t> winner;
    for (std::size_t i = 0; i < ring.size(); ++i) {
      goro::go(member, static_cast<std::int64_t>(i + 1), ring[i], ring[(i + 1) % ring.size()],
               winner);
    }
    ring[0].send(n);
    const std::int64_t id = winner.recv().value();
    const double seconds = clock.seconds();

    // The other 502 goroutines stay blocked; goro::run abandons them at exit, as Go does.
    return bench::check("thread_ring", n, seconds, id, n % ring_size + 1);
  });
}
