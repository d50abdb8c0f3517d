// Tests for goroutine stacks: per-goroutine and default sizes (spawn_options, GODEBUG=
// gorostacksize, set_default_stack_size) and the stack overflow report under each guard
// policy (GODEBUG=gorostackguard=0, 1, 2).
//
// Overflow cases run in a child process (child_process.h) because the report ends the
// process with status 2. They are skipped under AddressSanitizer, which reports the overflow
// itself and owns the SIGSEGV handler.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "goro/chan.hpp"
#include "goro/runtime.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "runtime/os/futex.h"
#include "runtime/sched/sched.h"
#include "resident.h"
#include "runtime/stack/stack.h"

namespace {

using goro_test::page_resident;

using goro_test::describe;
using goro_test::run_child;
using goro_test::scoped_env;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

constexpr std::size_t kKiB = 1024;

// The calling goroutine's stack reservation in bytes.
std::size_t current_stack_size() { return goro::rt::getg()->stack.size(); }

// Touches `bytes` of the caller's stack, one write per page, in a single frame.
[[gnu::noinline]] std::size_t touch_stack(std::size_t bytes) {
  auto* area = static_cast<volatile char*>(__builtin_alloca(bytes));
  for (std::size_t i = 0; i < bytes; i += 4096) area[i] = 1;
  area[bytes - 1] = 1;
  return bytes;
}

// --- Pool -----------------------------------------------------------------------------------

// Threads that take slots from one pool at once get distinct, disjoint slots, across the new
// slabs they make the pool map, and the list of carved slots contains each slot once. The pool
// takes the slots back in batches and hands a batch out again.
TEST(StackPool, ConcurrentCarvingGivesDistinctSlots) {
  goro::run(0, nullptr, [] {
    namespace rt = goro::rt;
    // A size no goroutine uses, so that the pool starts empty and only this test carves.
    const std::size_t size = rt::round_stack_size(rt::default_stack_size() + 64 * kKiB);
    constexpr int kThreads = 4;
    constexpr int kPerThread = 300;
    constexpr int kTotal = kThreads * kPerThread;
    const rt::stack_stats before = rt::read_stack_stats();

    std::vector<std::vector<rt::G*>> taken(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&taken, t, size] {
        for (int i = 0; i < kPerThread; ++i) taken[t].push_back(rt::stack_new_g(size));
      });
    }
    for (std::thread& thread : threads) thread.join();

    std::vector<rt::G*> all;
    for (const auto& list : taken) all.insert(all.end(), list.begin(), list.end());
    std::sort(all.begin(), all.end(),
              [](const rt::G* a, const rt::G* b) { return a->stack.lo < b->stack.lo; });
    for (std::size_t i = 0; i < all.size(); ++i) {
      const rt::G* gp = all[i];
      ASSERT_EQ(gp->stack.size(), size);
      const auto record = reinterpret_cast<std::uintptr_t>(gp);
      ASSERT_GE(record, gp->stack.lo);
      ASSERT_LT(record, gp->stack.hi);
      if (i > 0) {
        ASSERT_LE(all[i - 1]->stack.hi, gp->stack.lo) << "two threads got overlapping slots";
      }
    }

    std::map<const rt::G*, int> listed;
    for (const rt::G* gp : all) listed[gp] = 0;
    rt::for_each_stack_slot(
        [](rt::G* gp, void* arg) {
          auto* counts = static_cast<std::map<const rt::G*, int>*>(arg);
          auto it = counts->find(gp);
          if (it != counts->end()) ++it->second;
        },
        &listed);
    for (const auto& [gp, count] : listed) ASSERT_EQ(count, 1) << "slot at " << gp->stack.lo;

    const rt::stack_stats carved = rt::read_stack_stats();
    EXPECT_EQ(carved.slots_carved - before.slots_carved, static_cast<std::size_t>(kTotal));
    EXPECT_GE(carved.slabs - before.slabs, static_cast<std::size_t>(kTotal) / 256);

    // Back to the pool in batches of 50, then one batch of 100 out and back again.
    constexpr int kBatch = 50;
    for (int first = 0; first < kTotal; first += kBatch) {
      for (int i = first; i + 1 < first + kBatch; ++i) all[i]->schedlink = all[i + 1];
      all[first + kBatch - 1]->schedlink = nullptr;
      rt::stack_free_gs(all[first], all[first + kBatch - 1]);
    }
    EXPECT_EQ(rt::read_stack_stats().pooled - before.pooled, static_cast<std::size_t>(kTotal));

    std::int32_t count = 0;
    rt::G* head = rt::stack_take_pooled(size, 100, &count);
    ASSERT_EQ(count, 100);
    rt::G* tail = head;
    int length = 1;
    for (; tail->schedlink != nullptr; tail = tail->schedlink) ++length;
    EXPECT_EQ(length, 100);
    EXPECT_EQ(rt::read_stack_stats().pooled - before.pooled, static_cast<std::size_t>(kTotal - 100));
    rt::stack_free_gs(head, tail);
  });
}

// Starts `count` goroutines with `size`-byte stacks and waits until they have finished.
void spawn_and_finish(std::size_t size, int count) {
  goro::wait_group done;
  done.add(count);
  for (int i = 0; i < count; ++i) {
    goro::go_with(goro::spawn_options{.stack_size = size}, [&done] { done.done(); });
  }
  done.wait();
}

// A P caches dead goroutines of the default stack size for reuse. When the default changes,
// the cache may hold both sizes at once, and each goroutine must still get the size it asked
// for: a spill of the cache to the global pools keeps the sizes apart, and a cached goroutine
// of the old default is not handed out for the new one.
TEST(StackPool, CachedSizesStayApartWhenDefaultChanges) {
  scoped_env procs("GOMAXPROCS", "1");
  constexpr std::size_t kSmall = 64 * kKiB;
  constexpr std::size_t kLarge = 256 * kKiB;
  constexpr int kMeasured = 32;
  std::vector<std::size_t> spill_sizes(kMeasured);
  std::vector<std::size_t> default_sizes(kMeasured);
  goro::run(0, nullptr, [&] {
    const std::size_t old_default = goro::set_default_stack_size(kSmall);
    spawn_and_finish(kSmall, 40);  // the cache now contains 40 Gs of kSmall

    // 24 goroutines of kLarge finish after the default became kLarge, so they enter the
    // cache on top of the kSmall ones, which fills it and makes it spill a mixed batch.
    goro::wait_group started;
    goro::wait_group exited;
    goro::chan<int> release;
    started.add(24);
    exited.add(24);
    for (int i = 0; i < 24; ++i) {
      goro::go_with(goro::spawn_options{.stack_size = kLarge}, [&] {
        started.done();
        release.recv();
        exited.done();
      });
    }
    started.wait();
    goro::set_default_stack_size(kLarge);
    release.close();
    exited.wait();

    // With another default, the cache is bypassed and the pool of kLarge serves these.
    goro::set_default_stack_size(128 * kKiB);
    goro::wait_group measured;
    measured.add(kMeasured);
    for (int i = 0; i < kMeasured; ++i) {
      goro::go_with(goro::spawn_options{.stack_size = kLarge}, [&, i] {
        spill_sizes[i] = current_stack_size();
        measured.done();
      });
    }
    measured.wait();

    // The cache still contains goroutines of kSmall, the default when they were cached. Plain
    // goro::go under the default kLarge must not get them.
    goro::set_default_stack_size(kLarge);
    measured.add(kMeasured);
    for (int i = 0; i < kMeasured; ++i) {
      goro::go([&, i] {
        default_sizes[i] = current_stack_size();
        measured.done();
      });
    }
    measured.wait();
    goro::set_default_stack_size(old_default);
  });
  for (int i = 0; i < kMeasured; ++i) {
    EXPECT_EQ(spill_sizes[i], kLarge) << "goroutine " << i << " asked for " << kLarge;
    EXPECT_EQ(default_sizes[i], kLarge) << "goroutine " << i << " started with the default";
  }
}

// Writes one byte to each of the four pages above the bottom page of gp's stack (clear of
// the canary zone) and returns their addresses.
std::vector<std::uintptr_t> dirty_stack_pages(const goro::rt::G* gp) {
  std::vector<std::uintptr_t> pages;
  for (std::uintptr_t addr = gp->stack.lo + 4096; addr < gp->stack.lo + 5 * 4096; addr += 4096) {
    *reinterpret_cast<volatile char*>(addr) = 7;
    pages.push_back(addr);
  }
  return pages;
}

TEST(StackPool, ScavengerReleasesIdleStacks) {
  goro::run(0, nullptr, [] {
    namespace rt = goro::rt;
    // A size no other test uses, so that this pool holds only the Gs below.
    const std::size_t size = rt::round_stack_size(rt::default_stack_size() + 128 * kKiB);
    constexpr int kCount = 3;
    std::vector<rt::G*> gs;
    std::vector<std::uintptr_t> pages;
    for (int i = 0; i < kCount; ++i) {
      rt::G* gp = rt::stack_new_g(size);
      gs.push_back(gp);
      for (std::uintptr_t page : dirty_stack_pages(gp)) pages.push_back(page);
    }
    for (std::uintptr_t page : pages) ASSERT_TRUE(page_resident(page));
    for (rt::G* gp : gs) rt::stack_free_g(gp);

    // Ten seconds from now every one of them has been idle for more than a second. The
    // scavenger leaves the newest, the last G a caller could take, and releases the others.
    const std::int64_t later = rt::os::nanotime() + 10'000'000'000;
    EXPECT_EQ(rt::stack_scavenge_size(size, later, 1'000'000'000, 100),
              static_cast<std::size_t>(kCount - 1));
    for (int i = 0; i < kCount; ++i) {
      const rt::G* gp = gs[static_cast<std::size_t>(i)];
      const bool released = i < kCount - 1;
      EXPECT_EQ(gp->stack.scavenged, released) << "G " << i;
      EXPECT_TRUE(page_resident(reinterpret_cast<std::uintptr_t>(gp)))
          << "the page of G " << i << "'s record must stay";
      for (int k = 0; k < 4; ++k) {
        EXPECT_EQ(page_resident(pages[static_cast<std::size_t>(i * 4 + k)]), !released)
            << "G " << i << ", page " << k;
      }
    }

    // The same Gs come back from the pool, the one that kept its memory first, and the
    // released pages read as zero and can be written again.
    std::int32_t count = 0;
    rt::G* head = rt::stack_take_pooled(size, kCount + 1, &count);
    ASSERT_EQ(count, kCount);
    std::vector<rt::G*> back;
    for (rt::G* gp = head; gp != nullptr; gp = gp->schedlink) back.push_back(gp);
    ASSERT_EQ(back.size(), gs.size());
    EXPECT_EQ(back.front(), gs.back());
    EXPECT_TRUE(std::is_permutation(back.begin(), back.end(), gs.begin()));
    for (std::size_t i = 0; i < 4 * (kCount - 1); ++i) {
      EXPECT_EQ(*reinterpret_cast<volatile char*>(pages[i]), 0) << "page " << i;
    }
    for (rt::G* gp : back) dirty_stack_pages(gp);
    for (rt::G* gp : back) gp->schedlink = nullptr;
    for (rt::G* gp : back) rt::stack_free_g(gp);
  });
}

TEST(StackPool, ScavengerTakesOnlyIdleStacks) {
  goro::run(0, nullptr, [] {
    namespace rt = goro::rt;
    const std::size_t size = rt::round_stack_size(rt::default_stack_size() + 192 * kKiB);
    rt::G* older = rt::stack_new_g(size);
    rt::G* newer = rt::stack_new_g(size);
    dirty_stack_pages(older);
    const std::vector<std::uintptr_t> newer_pages = dirty_stack_pages(newer);

    rt::stack_free_g(older);
    const std::int64_t older_freed = older->waitsince.load();
    // Free the second one at a later clock reading (a spin on the clock, not a sleep).
    while (rt::os::nanotime() <= older_freed + 1000) {
    }
    rt::stack_free_g(newer);
    const std::int64_t newer_freed = newer->waitsince.load();
    ASSERT_GT(newer_freed, older_freed);

    // At newer_freed, the older G has been idle long enough and the newer one has not.
    EXPECT_EQ(rt::stack_scavenge_size(size, newer_freed, newer_freed - older_freed, 100), 1u);
    EXPECT_TRUE(older->stack.scavenged);
    EXPECT_FALSE(newer->stack.scavenged);
    for (std::uintptr_t page : newer_pages) EXPECT_TRUE(page_resident(page)) << "page " << page;

    // A caller gets the G whose memory is still there first.
    std::int32_t count = 0;
    rt::G* first = rt::stack_take_pooled(size, 1, &count);
    ASSERT_EQ(count, 1);
    EXPECT_EQ(first, newer);
    rt::G* second = rt::stack_take_pooled(size, 1, &count);
    ASSERT_EQ(count, 1);
    EXPECT_EQ(second, older);
    rt::G* none = rt::stack_take_pooled(size, 1, &count);
    EXPECT_EQ(count, 0);
    EXPECT_EQ(none, nullptr);
    rt::stack_free_g(first);
    rt::stack_free_g(second);
  });
}

// A pass stops at its budget, in the middle of a batch, and the next pass goes on from there.
TEST(StackPool, ScavengerStopsAtItsBudget) {
  goro::run(0, nullptr, [] {
    namespace rt = goro::rt;
    const std::size_t size = rt::round_stack_size(rt::default_stack_size() + 256 * kKiB);
    constexpr int kCount = 150;  // more than two of the scavenger's batches of 64
    std::vector<rt::G*> gs;
    for (int i = 0; i < kCount; ++i) gs.push_back(rt::stack_new_g(size));
    for (rt::G* gp : gs) rt::stack_free_g(gp);

    const std::int64_t later = rt::os::nanotime() + 10'000'000'000;
    auto released = [&gs] {
      return std::count_if(gs.begin(), gs.end(), [](rt::G* gp) { return gp->stack.scavenged; });
    };
    EXPECT_EQ(rt::stack_scavenge_size(size, later, 1'000'000'000, 100), 100u);
    EXPECT_EQ(released(), 100);
    // The rest, the newest too: released Gs are there for the next caller now.
    EXPECT_EQ(rt::stack_scavenge_size(size, later, 1'000'000'000, 100), 50u);
    EXPECT_EQ(rt::stack_scavenge_size(size, later, 1'000'000'000, 100), 0u);
    EXPECT_EQ(released(), kCount);

    std::int32_t count = 0;
    rt::G* head = rt::stack_take_pooled(size, kCount + 1, &count);
    EXPECT_EQ(count, kCount);
    while (head != nullptr) {
      rt::G* next = head->schedlink;
      head->schedlink = nullptr;
      rt::stack_free_g(head);
      head = next;
    }
  });
}

// --- Sizes ----------------------------------------------------------------------------------

TEST(StackSize, DefaultIs256KiB) {
  scoped_env godebug("GODEBUG", nullptr);
  std::size_t main_size = 0;
  std::atomic<std::size_t> child_size{0};
  goro::run(0, nullptr, [&] {
    main_size = current_stack_size();
    goro::go([&] { child_size.store(current_stack_size()); });
    while (child_size.load() == 0) goro::yield();
  });
  EXPECT_EQ(main_size, goro::rt::kDefaultStackSize);
  EXPECT_EQ(child_size.load(), 256 * kKiB);
}

TEST(StackSize, SpawnOptionsAllowDeepUse) {
  std::atomic<std::size_t> used{0};
  std::atomic<std::size_t> size{0};
  goro::run(0, nullptr, [&] {
    goro::go_with(goro::spawn_options{.stack_size = 1 << 20}, [&] {
      size.store(current_stack_size());
      used.store(touch_stack(800 * kKiB));
    });
    while (used.load() == 0) goro::yield();
  });
  EXPECT_EQ(size.load(), std::size_t{1} << 20);
  EXPECT_EQ(used.load(), 800 * kKiB);
}

TEST(StackSize, SpawnOptionsRoundUpToPage) {
  std::atomic<std::size_t> size{0};
  std::atomic<std::size_t> tiny{0};
  goro::run(0, nullptr, [&] {
    goro::go_with(goro::spawn_options{.stack_size = 100 * kKiB + 1}, [&] {
      size.store(current_stack_size());
    });
    goro::go_with(goro::spawn_options{.stack_size = 1}, [&] { tiny.store(current_stack_size()); });
    while (size.load() == 0 || tiny.load() == 0) goro::yield();
  });
  std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(size.load(), (100 * kKiB + 1 + page - 1) / page * page);
  EXPECT_EQ(tiny.load(), goro::rt::kMinStackSize);
}

TEST(StackSize, GodebugSetsDefault) {
  std::size_t main_size = 0;
  std::atomic<std::size_t> child_size{0};
  std::size_t previous_default = 0;
  {
    scoped_env godebug("GODEBUG", "gorostacksize=65536");
    goro::run(0, nullptr, [&] {
      main_size = current_stack_size();
      goro::go([&] { child_size.store(current_stack_size()); });
      while (child_size.load() == 0) goro::yield();
      previous_default = goro::set_default_stack_size(64 * kKiB);
    });
  }
  EXPECT_EQ(main_size, 64 * kKiB);
  EXPECT_EQ(child_size.load(), 64 * kKiB);
  EXPECT_EQ(previous_default, 64 * kKiB);
}

// GODEBUG is read at every goro::run: a size set by one run's GODEBUG or by
// set_default_stack_size must not carry over into the next run.
TEST(StackSize, DefaultResetsBetweenRuns) {
  {
    scoped_env godebug("GODEBUG", "gorostacksize=64K");
    goro::run(0, nullptr, [] { goro::set_default_stack_size(32 * kKiB); });
  }
  scoped_env godebug("GODEBUG", nullptr);
  std::size_t main_size = 0;
  goro::run(0, nullptr, [&] { main_size = current_stack_size(); });
  EXPECT_EQ(main_size, 256 * kKiB);
}

TEST(StackSize, SetDefaultAppliesToNewGoroutines) {
  scoped_env godebug("GODEBUG", nullptr);
  std::size_t first_previous = 0;
  std::size_t second_previous = 0;
  std::atomic<std::size_t> child_size{0};
  goro::run(0, nullptr, [&] {
    first_previous = goro::set_default_stack_size(128 * kKiB);
    goro::go([&] { child_size.store(current_stack_size()); });
    while (child_size.load() == 0) goro::yield();
    // Below the minimum: rounded up to 16 KiB.
    goro::set_default_stack_size(1);
    second_previous = goro::set_default_stack_size(256 * kKiB);
  });
  EXPECT_EQ(first_previous, 256 * kKiB);
  EXPECT_EQ(child_size.load(), 128 * kKiB);
  EXPECT_EQ(second_previous, goro::rt::kMinStackSize);
}

TEST(StackSize, OversizedClosureThrows) {
  bool threw = false;
  goro::run(0, nullptr, [&] {
    struct big {
      char bytes[8 * kKiB];
    };
    big payload{};
    try {
      goro::go_with(goro::spawn_options{.stack_size = 16 * kKiB}, [payload] { (void)payload; });
    } catch (const goro::panic_error& e) {
      threw = std::string(e.what()).find("stack") != std::string::npos;
    }
    // The G taken for the failed spawn went back to the free list; spawning still works.
    std::atomic<bool> ran{false};
    goro::go([&] { ran.store(true); });
    while (!ran.load()) goro::yield();
  });
  EXPECT_TRUE(threw);
}

// --- Overflow -------------------------------------------------------------------------------

// Recurses with small frames until a frame's buffer reaches into the canary zone at the
// bottom of the stack, then returns. Writes below `lo` are skipped, so nothing beyond the
// goroutine's own slot is touched: in a canary-only slot the memory below `lo` is the top of
// another goroutine's slot.
[[gnu::noinline]] int write_into_canary_zone(std::uintptr_t lo, int depth) {
  volatile char frame[128];
  auto start = reinterpret_cast<std::uintptr_t>(&frame[0]);
  for (std::size_t i = 0; i < sizeof frame; ++i) {
    if (start + i >= lo) frame[i] = static_cast<char>(depth | 1);
  }
  if (start < lo + goro::rt::kCanaryZone) return depth;
  int deepest = write_into_canary_zone(lo, depth + 1);
  return deepest + (frame[0] & 0);  // uses the frame after the call: no tail call
}

// Recurses until the stack runs out (the depth limit is never reached).
[[gnu::noinline]] int recurse_forever(int depth) {
  if (depth == INT32_MAX) return 0;
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  int deeper = recurse_forever(depth + 1);
  return deeper + frame[0];
}

// A goroutine overflows its stack. First its frames reach the canary zone and it returns to
// a scheduling point, where a canary-only slot is checked. If that is not reported, it
// recurses without bound into the guard page, where a guarded slot faults.
GORO_CHILD_SCENARIO(stack_overflow) {
  return goro::run(0, nullptr, [] {
    goro::go([] {
      std::printf("worker %lld\n", static_cast<long long>(goro::goroutine_id()));
      std::fflush(stdout);
      write_into_canary_zone(goro::rt::getg()->stack.lo, 0);
      goro::yield();
      goro::sleep(std::chrono::milliseconds(1));
      std::puts("canary overflow not reported");
      std::fflush(stdout);
      recurse_forever(0);
    });
    while (true) goro::sleep(std::chrono::seconds(1));
    return 0;
  });
}

class StackOverflow : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(Guard, StackOverflow, ::testing::Values("0", "1", "2"),
                         [](const auto& param_info) {
                           return std::string("gorostackguard") + param_info.param;
                         });

TEST_P(StackOverflow, ReportsGoroutineAndSize) {
  if (kAsan) GTEST_SKIP() << "AddressSanitizer reports stack overflows itself";
  std::string guard = GetParam();
  auto r = run_child("stack_overflow", {"GODEBUG=gorostackguard=" + guard, "GOTRACEBACK"});
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_status, 2) << describe(r);

  auto worker_at = r.out.find("worker ");
  ASSERT_NE(worker_at, std::string::npos) << describe(r);
  long long worker = std::stoll(r.out.substr(worker_at + 7));
  std::string size = std::to_string(goro::rt::kDefaultStackSize);
  std::string limit = std::to_string(goro::rt::kDefaultStackSize - goro::rt::kCanaryZone);

  EXPECT_TRUE(r.err.starts_with("runtime: goroutine stack exceeds " + limit + "-byte limit\n"))
      << describe(r);
  EXPECT_NE(r.err.find("\nfatal error: stack overflow\n"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("goroutine " + std::to_string(worker) + " overflowed its " + size +
                       "-byte stack"),
            std::string::npos)
      << describe(r);
  EXPECT_NE(r.err.find("GODEBUG=gorostacksize="), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("spawn_options"), std::string::npos) << describe(r);
  if (guard == "0") {
    EXPECT_EQ(r.out.find("canary overflow not reported"), std::string::npos) << describe(r);
  }
}

}  // namespace
