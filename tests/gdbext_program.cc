// The program that gdbext_test debugs with tools/goro-gdb.py. It starts one goroutine parked
// in each of a channel receive, a sleep and a mutex lock, one that spins in a loop without a
// scheduling point, and one blocked in read(2) on a pipe inside goro::blocking.
//
// Once all five are in place, the main goroutine prints their goroutine ids on one line of
// stdout and calls gdbext_ready(), where the test's gdb sets a breakpoint. It then blocks in
// read(2) on stdin inside goro::blocking, so a debugger that attaches finds it in a system
// call. The program exits when stdin reaches end of file.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "goro/goro.hpp"
#include "runtime/sched/sched.h"

namespace {

std::atomic<bool> stop_loop{false};
std::atomic<bool> loop_started{false};
std::atomic<goro::rt::G*> receiver_g{nullptr};
std::atomic<goro::rt::G*> sleeper_g{nullptr};
std::atomic<goro::rt::G*> locker_g{nullptr};
std::atomic<std::int64_t> loop_goid{0};
std::atomic<goro::rt::G*> reader_g{nullptr};

// The functions below are what `goroutine N bt` must show; noinline keeps each a frame of
// its own in every build type.
[[gnu::noinline]] void park_in_chan_receive(goro::chan<int> ch) {
  receiver_g.store(goro::rt::getg());
  ch.recv();
}

[[gnu::noinline]] void park_in_sleep() {
  sleeper_g.store(goro::rt::getg());
  goro::sleep(std::chrono::hours(1));
}

[[gnu::noinline]] void park_in_mutex_lock(goro::mutex* mu) {
  locker_g.store(goro::rt::getg());
  std::lock_guard<goro::mutex> guard(*mu);
}

[[gnu::noinline]] void spin_in_loop() {
  loop_goid.store(goro::goroutine_id());
  loop_started.store(true);
  volatile std::uint64_t iterations = 0;
  while (!stop_loop.load(std::memory_order_relaxed)) iterations = iterations + 1;
}

[[gnu::noinline]] void block_in_read(int fd) {
  reader_g.store(goro::rt::getg());
  char byte = 0;
  (void)goro::blocking([fd, &byte] { return ::read(fd, &byte, 1); });
  asm volatile("" ::: "memory");  // keeps this frame: no tail call into goro::blocking
}

bool in_syscall(const std::atomic<goro::rt::G*>& slot) {
  goro::rt::G* gp = slot.load();
  return gp != nullptr && gp->status.load() == goro::rt::gstatus::syscall;
}

bool parked_with(const std::atomic<goro::rt::G*>& slot, goro::rt::waitreason reason) {
  goro::rt::G* gp = slot.load();
  return gp != nullptr && gp->status.load() == goro::rt::gstatus::waiting &&
         gp->wait_reason.load() == reason;
}

}  // namespace

// The test's breakpoint: every goroutine is in place when the main goroutine calls it.
extern "C" [[gnu::noinline]] void gdbext_ready() { asm volatile("" ::: "memory"); }

int main(int argc, char** argv) {
  return goro::run(argc, argv, [] {
    goro::chan<int> never_sent;
    goro::mutex mu;
    mu.lock();

    goro::go(park_in_chan_receive, never_sent);
    goro::go(park_in_sleep);
    goro::go(park_in_mutex_lock, &mu);
    goro::go(spin_in_loop);
    int reader_pipe[2];
    if (::pipe(reader_pipe) != 0) {
      std::perror("gdbext_program: pipe");
      return 1;
    }
    goro::go(block_in_read, reader_pipe[0]);

    // Yield until each goroutine has parked with the reason the test expects.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!parked_with(receiver_g, goro::rt::waitreason::chan_receive) ||
           !parked_with(sleeper_g, goro::rt::waitreason::sleep) ||
           !parked_with(locker_g, goro::rt::waitreason::sync_mutex_lock) ||
           !loop_started.load() || !in_syscall(reader_g)) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::fputs("gdbext_program: timed out after 60 s waiting for the goroutines to park\n",
                   stderr);
        return 1;
      }
      goro::yield();
    }

    std::printf("ready main=%lld chan_receive=%lld sleep=%lld mutex_lock=%lld loop=%lld "
                "read=%lld\n",
                static_cast<long long>(goro::goroutine_id()),
                static_cast<long long>(receiver_g.load()->goid),
                static_cast<long long>(sleeper_g.load()->goid),
                static_cast<long long>(locker_g.load()->goid),
                static_cast<long long>(loop_goid.load()),
                static_cast<long long>(reader_g.load()->goid));
    std::fflush(stdout);
    gdbext_ready();

    char byte = 0;
    while (goro::blocking([&byte] { return ::read(0, &byte, 1); }) > 0) {
    }
    stop_loop.store(true);
    mu.unlock();
    (void)::write(reader_pipe[1], "x", 1);
    return 0;
  });
}
