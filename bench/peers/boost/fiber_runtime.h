// Boost.Fiber set up the way the scoreboard runs it, shared by the Boost peer programs:
//
// - Scheduler: boost::fibers::algo::work_stealing on thread_count() threads, the main
//   thread included, with suspend = true, so an idle thread sleeps on a condition variable
//   instead of spinning. A sleeping thread wakes only when one of its own fibers becomes
//   ready (work_stealing::notify), so it does not steal new work while asleep. With one
//   thread, the default round_robin scheduler runs instead (see run()).
// - Stacks: boost::fibers::pooled_fixedsize_stack of Boost.Context's default size (128 KiB
//   in Boost 1.74), behind a mutex (see pooled_stack below).
// - Lifetimes: a Boost.Fiber channel or mutex must outlive every fiber that may still be
//   inside one of its calls. push() and close() can still hold the channel's internal
//   spinlock after the fiber they woke is running on another thread, so a program joins
//   the fibers that used a channel before the channel is destroyed.
#pragma once

#include <boost/fiber/all.hpp>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace bench::fiber {

// Returns the number of scheduler threads: GOMAXPROCS when it is set to a positive integer
// (the scoreboard sets it to the same value for every peer), else the hardware's.
inline unsigned thread_count() {
  if (const char* value = std::getenv("GOMAXPROCS")) {
    unsigned n = 0;
    auto [end, error] = std::from_chars(value, value + std::strlen(value), n);
    if (error == std::errc{} && *end == '\0' && n > 0) {
      return n;
    }
  }
  unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? hardware : 1;
}

// A StackAllocator that hands out pooled_fixedsize_stack stacks from one process-wide pool.
// The pool (a boost::pool) is not thread-safe. Work stealing lets any thread run a fiber
// last and so return its stack, so a mutex guards the pool.
class pooled_stack {
 public:
  boost::context::stack_context allocate() {
    std::lock_guard lock(shared().mutex);
    return shared().stacks.allocate();
  }

  void deallocate(boost::context::stack_context& stack) noexcept {
    std::lock_guard lock(shared().mutex);
    shared().stacks.deallocate(stack);
  }

 private:
  // boost::pool doubles each new chunk of stacks. Capping a chunk at 1024 stacks (128 MiB)
  // keeps a million fibers from asking malloc for one 64 GiB chunk, which Linux's default
  // overcommit heuristic rejects.
  static constexpr std::size_t first_chunk_stacks = 32;
  static constexpr std::size_t max_chunk_stacks = 1024;

  struct pool {
    std::mutex mutex;  // guards stacks
    boost::fibers::pooled_fixedsize_stack stacks{
        boost::context::stack_traits::default_size(), first_chunk_stacks, max_chunk_stacks};
  };

  // Never destroyed: the main thread's scheduler returns the stacks of its last fibers
  // while thread-local objects are destroyed at exit, and this pool must still exist then.
  static pool& shared() {
    static pool* instance = new pool;
    return *instance;
  }
};

// Starts f on a new fiber and returns the fiber, to be joined.
template <class F>
boost::fibers::fiber start(F&& f) {
  return boost::fibers::fiber(std::allocator_arg, pooled_stack{}, std::forward<F>(f));
}

// Starts f on a new detached fiber.
template <class F>
void spawn(F&& f) {
  start(std::forward<F>(f)).detach();
}

// Go's sync.WaitGroup for one round: add() the number of tasks, each task calls done(),
// wait() returns once every task has called done(). Boost.Fiber has no such type.
// wait() returns only after the last done() has released the mutex, so the waiter may
// destroy the wait_group as soon as wait() returns.
class wait_group {
 public:
  void add(std::int64_t tasks) { pending_.fetch_add(tasks, std::memory_order_relaxed); }

  void done() {
    // acq_rel: the last task's decrement acquires every earlier task's writes, and the
    // mutex hands them on to the waiter.
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(mutex_);
      released_ = true;
      released_cv_.notify_all();
    }
  }

  void wait() {
    std::unique_lock lock(mutex_);
    released_cv_.wait(lock, [this] { return released_; });
  }

 private:
  std::atomic<std::int64_t> pending_{0};
  boost::fibers::mutex mutex_;  // guards released_
  boost::fibers::condition_variable released_cv_;
  bool released_ = false;
};

// Runs main() on the main thread's main fiber, with work stealing across thread_count()
// threads. Returns the exit status that main() returns, once the other threads have
// stopped.
template <class Main>
int run(Main&& main) {
  using algorithm = boost::fibers::algo::work_stealing;
  const unsigned threads = thread_count();
  if (threads == 1) {
    // work_stealing with a single thread never returns from pick_next() once its queue is
    // empty (Boost 1.74 draws a random victim other than itself until one exists), so one
    // thread runs Boost's default round_robin scheduler, which sleeps while idle.
    return main();
  }

  // The other threads run fibers until main() returns, then stop.
  boost::fibers::mutex stop_mutex;  // guards stopping
  boost::fibers::condition_variable stop_cv;
  bool stopping = false;
  std::vector<std::thread> workers;
  for (unsigned i = 1; i < threads; ++i) {
    workers.emplace_back([&] {
      boost::fibers::use_scheduling_algorithm<algorithm>(threads, true);
      std::unique_lock lock(stop_mutex);
      stop_cv.wait(lock, [&] { return stopping; });
    });
  }
  // work_stealing's constructor waits until all `threads` schedulers exist.
  boost::fibers::use_scheduling_algorithm<algorithm>(threads, true);

  int status = main();

  {
    std::lock_guard lock(stop_mutex);
    stopping = true;
  }
  stop_cv.notify_all();
  for (std::thread& worker : workers) {
    worker.join();
  }
  return status;
}

}  // namespace bench::fiber
