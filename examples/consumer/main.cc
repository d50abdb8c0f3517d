// Starts goroutines through an installed goro and checks that all of them ran. Exits 0 and
// prints "ok: ..." on success, so examples/consumer/check.sh can tell a working link from a
// broken one.
#include <atomic>
#include <chrono>
#include <cstdio>

#include <goro/goro.hpp>

int main(int argc, char** argv) {
  return goro::run(argc, argv, [] {
    constexpr int kGoroutines = 100;
    std::atomic<int> done{0};
    for (int i = 0; i < kGoroutines; ++i) {
      goro::go([&done] {
        goro::yield();
        done.fetch_add(1, std::memory_order_release);
      });
    }
    while (done.load(std::memory_order_acquire) < kGoroutines) {
      goro::sleep(std::chrono::milliseconds(1));
    }
    std::printf("ok: %d goroutines ran with GOMAXPROCS=%d\n", kGoroutines, goro::gomaxprocs(0));
    return 0;
  });
}
