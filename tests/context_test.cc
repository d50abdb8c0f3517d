// Tests for goro::context: cancellation closes done() and sets err() with Go's messages,
// propagates to descendants and not to ancestors, deadlines and timeouts fire on goro's
// timers, and cancel functions release what they hold (children lists, deadline timers).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "goro_fixture.h"
#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "runtime/sched/runtime2.h"

namespace {

using namespace std::chrono_literals;
using goro_test::scoped_env;
using steady = std::chrono::steady_clock;

class Context : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(F&& main) {
    scoped_env godebug("GODEBUG", GetParam());
    scoped_env procs("GOMAXPROCS", "4");
    return goro::run(0, nullptr, std::forward<F>(main));
  }
};

INSTANTIATE_TEST_SUITE_P(Godebug, Context, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

// True if done() is closed now (a non-blocking receive completes).
bool is_done(const goro::context& ctx) {
  bool done = false;
  goro::select(goro::on_recv(ctx.done(), [&](auto) { done = true; }), goro::on_default([] {}));
  return done;
}

TEST(ContextErrors, MessagesAreGos) {
  EXPECT_EQ(std::error_code(goro::context_errc::canceled).message(), "context canceled");
  EXPECT_EQ(std::error_code(goro::context_errc::deadline_exceeded).message(),
            "context deadline exceeded");
  EXPECT_STREQ(goro::context_category().name(), "goro.context");
  EXPECT_TRUE(std::error_code(goro::context_errc::canceled) == goro::context_errc::canceled);
}

// A chain of 100 000 contexts, each a child of the last, is cancelled from its root and then
// released, on a goroutine's 256 KiB stack. Cancelling and destroying once recursed a few
// frames per generation and overflowed the stack at about 2 000 generations.
TEST_P(Context, LongChainCancelsAndReleases) {
  constexpr int kGenerations = 100'000;
  run([] {
    auto [root, cancel_root] = goro::with_cancel(goro::background());
    std::vector<goro::cancel_function> cancels;
    cancels.reserve(kGenerations);
    goro::context leaf = root;
    for (int i = 0; i < kGenerations; ++i) {
      auto [child, cancel_child] = goro::with_cancel(leaf);
      leaf = child;
      cancels.push_back(cancel_child);
    }
    cancel_root();
    EXPECT_EQ(leaf.err(), goro::context_errc::canceled);
    EXPECT_FALSE(leaf.done().recv().has_value());
    cancels.clear();
    leaf = goro::background();
    root = goro::background();
  });
}

TEST_P(Context, BackgroundNeverDone) {
  run([] {
    goro::context bg = goro::background();
    EXPECT_FALSE(bg.err());
    EXPECT_FALSE(bg.deadline().has_value());
    EXPECT_TRUE(bg.done() == goro::chan<goro::done_signal>::nil());
    EXPECT_FALSE(is_done(bg));
  });
}

TEST_P(Context, CancelClosesDoneAndSetsErr) {
  run([] {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    EXPECT_FALSE(ctx.err());
    EXPECT_FALSE(is_done(ctx));
    EXPECT_FALSE(ctx.deadline().has_value());

    // A goroutine and a plain thread wait on done().
    std::atomic<int> woken{0};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&, c = ctx] {
      EXPECT_FALSE(c.done().recv().has_value());
      woken.fetch_add(1);
      wg.done();
    });
    std::thread plain([&, c = ctx] {
      EXPECT_FALSE(c.done().recv().has_value());
      woken.fetch_add(1);
    });
    cancel();
    wg.wait();
    goro::blocking([&] { plain.join(); });
    EXPECT_EQ(woken.load(), 2);
    EXPECT_TRUE(is_done(ctx));
    EXPECT_EQ(ctx.err(), goro::context_errc::canceled);
    EXPECT_EQ(ctx.err().message(), "context canceled");
    cancel();  // a second call changes nothing
    EXPECT_EQ(ctx.err(), goro::context_errc::canceled);
  });
}

TEST_P(Context, CancelPropagatesDownNotUp) {
  run([] {
    auto [parent, cancel_parent] = goro::with_cancel(goro::background());
    auto [child, cancel_child] = goro::with_cancel(parent);
    auto [grandchild, cancel_grandchild] = goro::with_cancel(child);
    auto [sibling, cancel_sibling] = goro::with_cancel(parent);

    cancel_child();
    EXPECT_EQ(child.err(), goro::context_errc::canceled);
    EXPECT_EQ(grandchild.err(), goro::context_errc::canceled);
    EXPECT_TRUE(is_done(grandchild));
    EXPECT_FALSE(parent.err()) << "cancelling a child cancelled its parent";
    EXPECT_FALSE(sibling.err());

    cancel_parent();
    EXPECT_EQ(sibling.err(), goro::context_errc::canceled);
    EXPECT_TRUE(is_done(sibling));

    // A child of a cancelled parent starts cancelled, with the parent's cause.
    auto [late, cancel_late] = goro::with_cancel(parent);
    EXPECT_EQ(late.err(), goro::context_errc::canceled);
    EXPECT_TRUE(is_done(late));
    cancel_grandchild();
    cancel_sibling();
    cancel_late();
  });
}

TEST_P(Context, TimeoutExpires) {
  run([] {
    auto start = steady::now();
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 20ms);
    ASSERT_TRUE(ctx.deadline().has_value());
    EXPECT_GE(*ctx.deadline() - start, 20ms);
    auto [child, cancel_child] = goro::with_cancel(ctx);
    EXPECT_EQ(child.deadline(), ctx.deadline());

    EXPECT_FALSE(child.done().recv().has_value());
    EXPECT_GE(steady::now() - start, 20ms);
    EXPECT_EQ(ctx.err(), goro::context_errc::deadline_exceeded);
    EXPECT_EQ(ctx.err().message(), "context deadline exceeded");
    EXPECT_EQ(child.err(), goro::context_errc::deadline_exceeded);
    cancel();  // after expiry: the cause stays
    EXPECT_EQ(ctx.err(), goro::context_errc::deadline_exceeded);
    cancel_child();
  });
}

TEST_P(Context, DeadlineInThePastIsDoneAtOnce) {
  run([] {
    auto [ctx, cancel] = goro::with_deadline(goro::background(), steady::now() - 1s);
    EXPECT_TRUE(is_done(ctx));
    EXPECT_EQ(ctx.err(), goro::context_errc::deadline_exceeded);
    cancel();
  });
}

TEST_P(Context, ChildKeepsEarlierParentDeadline) {
  run([] {
    auto [parent, cancel_parent] = goro::with_timeout(goro::background(), 15ms);
    auto [child, cancel_child] = goro::with_timeout(parent, 1h);
    EXPECT_EQ(child.deadline(), parent.deadline());
    EXPECT_FALSE(child.done().recv().has_value());
    EXPECT_EQ(child.err(), goro::context_errc::deadline_exceeded);

    // An earlier deadline of the child's own fires first and leaves the parent alone.
    auto [outer, cancel_outer] = goro::with_timeout(goro::background(), 1h);
    auto [inner, cancel_inner] = goro::with_timeout(outer, 10ms);
    EXPECT_LT(*inner.deadline(), *outer.deadline());
    EXPECT_FALSE(inner.done().recv().has_value());
    EXPECT_EQ(inner.err(), goro::context_errc::deadline_exceeded);
    EXPECT_FALSE(outer.err());
    cancel_parent();
    cancel_child();
    cancel_outer();
    cancel_inner();
  });
}

TEST_P(Context, CancelBeforeDeadlineWins) {
  run([] {
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 10ms);
    cancel();
    EXPECT_EQ(ctx.err(), goro::context_errc::canceled);
    goro::sleep(30ms);
    EXPECT_EQ(ctx.err(), goro::context_errc::canceled) << "the deadline overwrote the cause";
  });
}

// Cancel stops the deadline timer and detaches the child from its parent, so a long-lived
// parent does not accumulate finished children or pending timers.
TEST_P(Context, CancelReleasesResources) {
  std::int32_t timers_before = -1;
  std::int32_t timers_after = -1;
  run([&] {
    auto [parent, cancel_parent] = goro::with_cancel(goro::background());
    timers_before = goro::rt::sched.ntimers.load();
    for (int i = 0; i < 1000; ++i) {
      auto [ctx, cancel] = goro::with_timeout(parent, 1h);
      cancel();
    }
    timers_after = goro::rt::sched.ntimers.load();
    cancel_parent();
  });
  EXPECT_EQ(timers_after, timers_before);
}

TEST_P(Context, SelectOnDoneWithWork) {
  run([] {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::chan<int> work;
    goro::wait_group wg;
    wg.add(1);
    int processed = 0;
    goro::go([&, c = ctx] {
      for (bool running = true; running;) {
        goro::select(goro::on_recv(work, [&](std::optional<int>) { ++processed; }),
                     goro::on_recv(c.done(), [&](auto) { running = false; }));
      }
      wg.done();
    });
    for (int i = 0; i < 10; ++i) work.send(i);
    cancel();
    wg.wait();
    EXPECT_EQ(processed, 10);
  });
}

// Many goroutines derive, wait on and cancel contexts of one tree while its root times out.
TEST_P(Context, TreeStress) {
  constexpr int kGoroutines = 64;
  std::atomic<int> bad{0};
  run([&] {
    auto [root, cancel_root] = goro::with_timeout(goro::background(), 30ms);
    goro::wait_group wg;
    wg.add(kGoroutines);
    for (int g = 0; g < kGoroutines; ++g) {
      goro::go([&, g, r = root] {
        for (int i = 0; i < 50; ++i) {
          auto [ctx, cancel] = goro::with_cancel(r);
          if (g % 2 == 0) cancel();
          if (g % 2 == 0 && !ctx.err()) bad.fetch_add(1);
          goro::yield();
          cancel();
        }
        auto [last, cancel_last] = goro::with_cancel(r);
        if (last.done().recv().has_value()) bad.fetch_add(1);
        if (last.err() != goro::context_errc::deadline_exceeded) bad.fetch_add(1);
        cancel_last();
        wg.done();
      });
    }
    wg.wait();
    cancel_root();
  });
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
