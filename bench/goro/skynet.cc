// skynet: a tree of goroutines with N leaves and 10 children per node. Leaf i sends i to its
// parent; every inner node sums what its children send on its own unbuffered channel and
// sends the sum up. N must be a power of 10.
// Check: the root's sum is N(N-1)/2, 499999500000 for N = 1 000 000.
#include <goro/chan.hpp>
#include <goro/goro.hpp>

#include <cstdint>

#include "bench_report.h"

namespace {

constexpr std::int64_t fanout = 10;

void skynet(goro::chan<std::int64_t> parent, std::int64_t first, std::int64_t leaves) {
  if (leaves == 1) {
    parent.send(first);
    return;
  }
  goro::chan<std::int64_t> children;
  const std::int64_t step = leaves / fanout;
  for (std::int64_t i = 0; i < fanout; ++i) {
    goro::go(skynet, children, first + i * step, step);
  }
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < fanout; ++i) {
    sum += children.recv().value();
  }
  parent.send(sum);
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 1'000'000);
  if (!bench::is_power_of(n, fanout)) {
    return bench::fail("skynet", "invalid size %lld: want a power of %lld",
                       static_cast<long long>(n), static_cast<long long>(fanout));
  }
  return goro::run(argc, argv, [n] {
    bench::stopwatch clock;
    goro::chan<std::int64_t> root;
    goro::go(skynet, root, 0, n);
    const std::int64_t sum = root.recv().value();
    const double seconds = clock.seconds();

    return bench::check("skynet", n, seconds, sum, n * (n - 1) / 2);
  });
}
