// thread_ring: 503 fibers in a ring, each popping from its own unbuffered channel and
// pushing to the next one's, pass a token that starts at N and is decremented at each pass.
// The fiber that receives 0 reports its number (1-based). Then the ring's channels are
// closed so that the other fibers finish and can be joined.
// Check: that number is (N mod 503) + 1, 292 for N = 50 000 000.
#include <cstdint>
#include <vector>

#include "bench_report.h"
#include "fiber_runtime.h"

namespace {

constexpr std::int64_t ring_size = 503;

using channel = boost::fibers::unbuffered_channel<std::int64_t>;

void member(std::int64_t id, channel& in, channel& next, channel& winner) {
  std::int64_t token = 0;
  while (in.pop(token) == boost::fibers::channel_op_status::success) {
    if (token == 0) {
      winner.push(id);
      return;
    }
    next.push(token - 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 5'000'000);
  return bench::fiber::run([n] {
    bench::stopwatch clock;
    std::vector<channel> ring(static_cast<std::size_t>(ring_size));
    channel winner;
    std::vector<boost::fibers::fiber> members;
    members.reserve(ring_size);
    for (std::size_t i = 0; i < ring.size(); ++i) {
      members.push_back(bench::fiber::start([i, &ring, &winner] {
        member(static_cast<std::int64_t>(i + 1), ring[i], ring[(i + 1) % ring.size()], winner);
      }));
    }
    ring[0].push(n);
    const std::int64_t id = winner.value_pop();
    const double seconds = clock.seconds();

    for (channel& c : ring) {
      c.close();
    }
    for (boost::fibers::fiber& f : members) {
      f.join();
    }
    return bench::check("thread_ring", n, seconds, id, n % ring_size + 1);
  });
}
