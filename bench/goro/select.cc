// select: two feeder goroutines send N/2 and N-N/2 values on two channels of capacity 100;
// the main goroutine loops over a two-case select until it has received N values.
// Check: N values received, and each channel delivered exactly what its feeder sent.
#include <goro/chan.hpp>
#include <goro/goro.hpp>
#include <goro/select.hpp>

#include <cstdint>
#include <optional>

#include "bench_report.h"

namespace {

constexpr std::size_t capacity = 100;

void feed(goro::chan<std::int64_t> out, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) {
    out.send(i);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 10'000'000);
  return goro::run(argc, argv, [n] {
    goro::chan<std::int64_t> left(capacity);
    goro::chan<std::int64_t> right(capacity);

    bench::stopwatch clock;
    goro::go(feed, left, n / 2);
    goro::go(feed, right, n - n / 2);
    std::int64_t from_left = 0;
    std::int64_t from_right = 0;
    while (from_left + from_right < n) {
      goro::select(goro::on_recv(left, [&](std::optional<std::int64_t>) { ++from_left; }),
                   goro::on_recv(right, [&](std::optional<std::int64_t>) { ++from_right; }));
    }
    const double seconds = clock.seconds();

    if (from_left != n / 2 || from_right != n - n / 2) {
      return bench::fail("select", "received %lld and %lld values, want %lld and %lld",
                         static_cast<long long>(from_left), static_cast<long long>(from_right),
                         static_cast<long long>(n / 2), static_cast<long long>(n - n / 2));
    }
    return bench::check("select", n, seconds, from_left + from_right, n);
  });
}
