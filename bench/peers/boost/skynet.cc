// skynet: a tree of fibers with N leaves and 10 children per node. Leaf i pushes i to its
// parent; every inner node sums what its children push on its own unbuffered channel,
// joins them and pushes the sum up. N must be a power of 10.
// Check: the root's sum is N(N-1)/2, 499999500000 for N = 1 000 000.
#include <array>
#include <cstdint>

#include "bench_report.h"
#include "fiber_runtime.h"

namespace {

constexpr std::int64_t fanout = 10;

using channel = boost::fibers::unbuffered_channel<std::int64_t>;

void skynet(channel& parent, std::int64_t first, std::int64_t leaves) {
  if (leaves == 1) {
    parent.push(first);
    return;
  }
  channel children;
  const std::int64_t step = leaves / fanout;
  std::array<boost::fibers::fiber, fanout> child_fibers;
  for (std::int64_t i = 0; i < fanout; ++i) {
    child_fibers[i] = bench::fiber::start(
        [&children, first, i, step] { skynet(children, first + i * step, step); });
  }
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < fanout; ++i) {
    sum += children.value_pop();
  }
  for (boost::fibers::fiber& child : child_fibers) {
    child.join();
  }
  parent.push(sum);
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 1'000'000);
  if (!bench::is_power_of(n, fanout)) {
    return bench::fail("skynet", "invalid size %lld: want a power of %lld",
                       static_cast<long long>(n), static_cast<long long>(fanout));
  }
  return bench::fiber::run([n] {
    bench::stopwatch clock;
    channel root;
    boost::fibers::fiber tree = bench::fiber::start([&root, n] { skynet(root, 0, n); });
    const std::int64_t sum = root.value_pop();
    const double seconds = clock.seconds();
    tree.join();

    return bench::check("skynet", n, seconds, sum, n * (n - 1) / 2);
  });
}
