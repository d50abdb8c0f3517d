// Stress tests for the stack scavenger (stack_scavenge, stack.cc) running beside goroutine
// spawn and exit, and beside the end of a run (stack_release_all).
//
// A plain thread calls the scavenger in a loop with a clock reading far in the future, so every
// free stack counts as idle and is released as soon as it reaches a global pool. Goroutines of
// several stack sizes write a pattern over part of their stack, park, and check the pattern:
// a stack released while in use reads back as zeros.
#include <gtest/gtest.h>


#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "goro/chan.hpp"
#include "goro/runtime.hpp"
#include "goro/sync.hpp"
#include "runtime/os/futex.h"
#include "runtime/sched/sched.h"
#include "resident.h"
#include "runtime/stack/stack.h"

namespace {

using goro_test::page_resident;

namespace rt = goro::rt;

constexpr std::size_t kKiB = 1024;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kRounds = 40;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr int kRounds = 40;
#else
constexpr int kRounds = 200;
#endif
#else
constexpr int kRounds = 200;
#endif
constexpr int kPerRound = 48;

// Ten seconds from now: every free stack has been idle for longer than any idle_ns below.
std::int64_t far_future() { return rt::os::nanotime() + 10'000'000'000; }

// Fills `bytes` of the caller's stack with a pattern from `seed`, parks on `ping` and
// `pong` (partner goroutines receive and send), and returns how many bytes no longer match.
[[gnu::noinline]] std::size_t write_park_check(std::size_t bytes, std::uint8_t seed,
                                               goro::chan<int>& ping, goro::chan<int>& pong) {
  auto* area = static_cast<volatile std::uint8_t*>(__builtin_alloca(bytes));
  for (std::size_t i = 0; i < bytes; ++i) area[i] = static_cast<std::uint8_t>(seed + i * 7);
  ping.send(1);
  pong.recv();
  goro::yield();
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < bytes; ++i) {
    if (area[i] != static_cast<std::uint8_t>(seed + i * 7)) ++wrong;
  }
  return wrong;
}

struct scavenger_thread {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> passes{0};
  std::atomic<std::uint64_t> released{0};
  // Set when pooled ever exceeds slots_carved: a counter that went below zero and wrapped.
  std::atomic<bool> pooled_wrapped{false};
  std::vector<std::size_t> sizes;
  std::thread thread;

  void start() {
    thread = std::thread([this] {
      while (!stop.load(std::memory_order_acquire)) {
        const std::int64_t later = far_future();
        std::size_t n = rt::stack_scavenge(later, 1, 4096);
        for (std::size_t size : sizes) n += rt::stack_scavenge_size(size, later, 1, 100);
        released.fetch_add(n, std::memory_order_relaxed);
        passes.fetch_add(1, std::memory_order_relaxed);
        const rt::stack_stats s = rt::read_stack_stats();
        if (s.pooled > s.slots_carved) pooled_wrapped.store(true, std::memory_order_relaxed);
      }
    });
  }
  void join() {
    stop.store(true, std::memory_order_release);
    thread.join();
  }
};

// Spawns and exits goroutines of four stack sizes at GOMAXPROCS=procs while a plain thread
// scavenges, then checks the goroutines' results and that the pools add up to stats.pooled.
void spawn_exit_while_scavenging(int procs) {
  goro::run(0, nullptr, [procs] {
    goro::gomaxprocs(procs);
    const std::vector<std::size_t> sizes = {
        rt::round_stack_size(16 * kKiB), rt::round_stack_size(64 * kKiB),
        rt::default_stack_size(), rt::round_stack_size(1024 * kKiB)};

    scavenger_thread scavenger;
    scavenger.sizes = sizes;
    scavenger.start();

    std::atomic<std::uint64_t> wrong_bytes{0};
    std::atomic<int> finished{0};
    for (int round = 0; round < kRounds; ++round) {
      goro::wait_group wg;
      wg.add(kPerRound);
      for (int i = 0; i < kPerRound; ++i) {
        const std::size_t size = sizes[static_cast<std::size_t>(round + i) % sizes.size()];
        goro::chan<int> ping;
        goro::chan<int> pong;
        // Partners for the two parks: one receives from ping, one sends on pong.
        goro::go([ping]() mutable { ping.recv(); });
        goro::go([pong]() mutable { pong.send(2); });
        goro::go_with(goro::spawn_options{size},
                      [&wrong_bytes, &wg, &finished, ping, pong, size, round, i]() mutable {
                        // A quarter of the stack, clear of the G record and the closure.
                        const auto seed = static_cast<std::uint8_t>(round * 31 + i);
                        wrong_bytes.fetch_add(write_park_check(size / 4, seed, ping, pong));
                        finished.fetch_add(1);
                        wg.done();
                      });
      }
      wg.wait();
    }
    EXPECT_EQ(finished.load(), kRounds * kPerRound);
    EXPECT_EQ(wrong_bytes.load(), 0u) << "a stack lost its contents while in use";

    goro::blocking([&scavenger] { scavenger.join(); });
    EXPECT_GT(scavenger.released.load(), 0u) << "the scavenger never released a stack";
    EXPECT_FALSE(scavenger.pooled_wrapped.load()) << "stats.pooled went below zero";

    // The pools hold each G once, with its own size. Their total is not compared with
    // stats.pooled: partner goroutines may still be exiting (a P's cache spill adds to a
    // pool) and sysmon's own scavenger may hold a batch out of a pool at this moment.
    const rt::stack_stats before = rt::read_stack_stats();
    EXPECT_LE(before.pooled, before.slots_carved);
    std::set<rt::G*> seen;
    std::size_t total = 0;
    for (std::size_t size : sizes) {
      std::int32_t count = 0;
      rt::G* head = rt::stack_take_pooled(size, INT_MAX, &count);
      total += static_cast<std::size_t>(count);
      std::int32_t walked = 0;
      for (rt::G* gp = head; gp != nullptr;) {
        rt::G* next = gp->schedlink;
        ++walked;
        EXPECT_TRUE(seen.insert(gp).second) << "G " << gp << " is in a pool twice";
        EXPECT_EQ(gp->stack.size(), size);
        EXPECT_EQ(gp, rt::g_for_slot(gp->stack.hi));
        gp->schedlink = nullptr;
        rt::stack_free_g(gp);
        gp = next;
      }
      EXPECT_EQ(walked, count) << "size " << size;
    }
    EXPECT_LE(total, before.slots_carved);
    const rt::stack_stats after = rt::read_stack_stats();
    EXPECT_LE(after.pooled, after.slots_carved) << "stats.pooled went below zero";
  });
}

TEST(StackScavengeStress, SpawnExitAtTwoProcs) { spawn_exit_while_scavenging(2); }
TEST(StackScavengeStress, SpawnExitAtThreeProcs) { spawn_exit_while_scavenging(3); }
TEST(StackScavengeStress, SpawnExitAtFourProcs) { spawn_exit_while_scavenging(4); }

// Pops and pushes from several threads while one thread scavenges: afterwards the pool
// contains every carved slot of its size exactly once.
TEST(StackScavengeStress, PoolListsStayConsistent) {
  goro::run(0, nullptr, [] {
    const std::size_t size = rt::round_stack_size(rt::default_stack_size() + 320 * kKiB);
    scavenger_thread scavenger;
    scavenger.sizes = {size};
    scavenger.start();

    constexpr int kThreads = 3;
    constexpr int kOwned = 40;
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([size, t] {
        std::vector<rt::G*> owned;
        for (int round = 0; round < kRounds * 5; ++round) {
          // Alternate single pops, batch pops and frees of the newest and oldest Gs taken.
          for (int i = 0; i < kOwned; ++i) owned.push_back(rt::stack_new_g(size));
          std::int32_t count = 0;
          rt::G* head = rt::stack_take_pooled(size, 7, &count);
          for (rt::G* gp = head; gp != nullptr;) {
            rt::G* next = gp->schedlink;
            gp->schedlink = nullptr;
            owned.push_back(gp);
            gp = next;
          }
          for (rt::G* gp : owned) *reinterpret_cast<volatile char*>(gp->stack.lo + 4096) = 1;
          if ((round + t) % 2 == 0) std::reverse(owned.begin(), owned.end());
          // Free half one by one and the rest as one batch linked through schedlink.
          const std::size_t half = owned.size() / 2;
          for (std::size_t i = 0; i < half; ++i) rt::stack_free_g(owned[i]);
          for (std::size_t i = half; i + 1 < owned.size(); ++i) owned[i]->schedlink = owned[i + 1];
          if (half < owned.size()) rt::stack_free_gs(owned[half], owned.back());
          owned.clear();
        }
      });
    }
    goro::blocking([&workers] {
      for (std::thread& w : workers) w.join();
    });
    goro::blocking([&scavenger] { scavenger.join(); });
    EXPECT_FALSE(scavenger.pooled_wrapped.load());

    std::int32_t count = 0;
    rt::G* head = rt::stack_take_pooled(size, INT_MAX, &count);
    std::set<rt::G*> seen;
    for (rt::G* gp = head; gp != nullptr; gp = gp->schedlink) {
      EXPECT_TRUE(seen.insert(gp).second) << "G " << gp << " is in the pool twice";
    }
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(count));
    // Every slot of this size was carved by the workers, and all of them were freed.
    std::pair<std::size_t, std::size_t> size_and_carved{size, 0};
    rt::for_each_stack_slot(
        [](rt::G* gp, void* arg) {
          auto* ctx = static_cast<std::pair<std::size_t, std::size_t>*>(arg);
          if (gp->stack.size() == ctx->first) ++ctx->second;
        },
        &size_and_carved);
    EXPECT_EQ(static_cast<std::size_t>(count), size_and_carved.second);
    while (head != nullptr) {
      rt::G* next = head->schedlink;
      head->schedlink = nullptr;
      rt::stack_free_g(head);
      head = next;
    }
  });
}

// Tries per race test. A try counts only if the main thread acted while the scavenger was
// still inside its pass. On a loaded machine the scavenger can finish first every time, so
// the test is then skipped rather than passed or failed.
constexpr int kAttempts = 50;

// Allocates `n` Gs of `size` on the calling plain thread, dirties 64 pages of each, and frees
// them in order, so that gs[0] is the oldest and the scavenger's first pick.
std::vector<rt::G*> pool_dirty_gs(std::size_t size, int n) {
  std::vector<rt::G*> gs;
  for (int i = 0; i < n; ++i) gs.push_back(rt::stack_new_g(size));
  for (rt::G* gp : gs) {
    for (std::uintptr_t a = gp->stack.lo + 4096; a < gp->stack.lo + 65 * 4096; a += 4096) {
      *reinterpret_cast<volatile char*>(a) = 1;
    }
  }
  for (rt::G* gp : gs) rt::stack_free_g(gp);
  return gs;
}

// Runs one stack_scavenge_size call on its own thread and records when it has returned.
struct one_scavenge {
  std::atomic<bool> done{false};
  std::thread thread;
  explicit one_scavenge(std::size_t size) {
    thread = std::thread([this, size] {
      rt::stack_scavenge_size(size, far_future(), 1, 64);
      done.store(true, std::memory_order_release);
    });
  }
  ~one_scavenge() { thread.join(); }
};

// Waits (spinning on mincore, not sleeping) until the scavenger has released gp's first dirty
// page, that is, until it holds gp's batch outside stack_lock.
void wait_until_released(const rt::G* gp) {
  while (page_resident(gp->stack.lo + 4096)) {
  }
}

// A spawn while the scavenger has a batch of a size's free Gs out of the pool must not
// reserve a new slab: the scavenger leaves one G for it.
TEST(StackScavengeRace, SpawnDuringBatchMapsNoSlab) {
  const std::size_t size = rt::round_stack_size(1088 * kKiB);
  int hits = 0;
  for (int attempt = 0; attempt < kAttempts && hits == 0; ++attempt) {
    rt::stack_release_all(true);  // a fresh pool whose first slab of 16 slots is all carved
    const std::vector<rt::G*> gs = pool_dirty_gs(size, 16);
    const std::size_t slabs_before = rt::read_stack_stats().slabs;
    rt::G* spawned = nullptr;
    {
      one_scavenge scavenger(size);
      wait_until_released(gs[0]);
      spawned = rt::stack_new_g(size);
      if (scavenger.done.load(std::memory_order_acquire)) continue;  // window missed
      ++hits;
    }
    EXPECT_NE(std::find(gs.begin(), gs.end(), spawned), gs.end())
        << "stack_new_g carved a new slot while 16 free Gs of its size were being scavenged";
    EXPECT_EQ(rt::read_stack_stats().slabs, slabs_before);
    rt::stack_free_g(spawned);
  }
  rt::stack_release_all(true);
  if (hits == 0) GTEST_SKIP() << "the scavenger always finished first: window not reached";
}

// stack_release_all at the end of a run (the abandoned-threads path keeps slabs mapped) while
// the scavenger holds a batch: the batch must not go into the next run's pool of that size.
TEST(StackScavengeRace, ReleaseAllDuringBatch) {
  const std::size_t size = rt::round_stack_size(1152 * kKiB);
  int hits = 0;
  for (int attempt = 0; attempt < kAttempts && hits == 0; ++attempt) {
    rt::stack_release_all(true);
    const std::vector<rt::G*> gs = pool_dirty_gs(size, 64);
    {
      one_scavenge scavenger(size);
      wait_until_released(gs[0]);
      rt::stack_release_all(true);  // the run ends; its slabs stay mapped
      // The next run frees one G of the same size before the scavenger's pass ends.
      rt::stack_free_g(rt::stack_new_g(size));
      if (scavenger.done.load(std::memory_order_acquire)) continue;  // window missed
      ++hits;
    }
    const rt::stack_stats stats = rt::read_stack_stats();
    EXPECT_EQ(stats.pooled, 1u);
    std::int32_t count = 0;
    rt::stack_take_pooled(size, INT_MAX, &count);
    EXPECT_EQ(count, 1) << "Gs of the released run came back into the new run's pool";
    EXPECT_EQ(rt::read_stack_stats().pooled, 0u) << "stats.pooled wrapped below zero";
  }
  rt::stack_release_all(true);
  if (hits == 0) GTEST_SKIP() << "the scavenger always finished first: window not reached";
}

}  // namespace
