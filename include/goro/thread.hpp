// goro::plain_thread: a std::thread that deadlock detection counts from its start.
//
// A plain thread (one that is not running goroutines) counts as a thread that may still wake
// goroutines from its first channel, select or timer operation, or from a call to
// goro::register_plain_thread. Among sync operations only one that has to wait counts, not
// an uncontended lock or a wait_group::done. A goroutine that starts a std::thread and then blocks waiting
// for it usually blocks before the thread's first line, and is then reported as
// "all goroutines are asleep - deadlock!". plain_thread counts the thread before its
// constructor returns, with no wait: the constructor raises the count, and the new thread
// takes that count over as its own registration, which ends when the thread exits.
//
//   goro::chan<int> results;
//   goro::plain_thread worker([results] { results.send(compute()); });
//   auto value = results.recv();  // not reported as a deadlock
//
// Otherwise it behaves as std::jthread without a stop token: movable, not copyable, and
// joined by its destructor if still joinable. join() called from a goroutine waits inside
// goro::blocking, so the goroutine's P keeps running other goroutines meanwhile.
#pragma once

#include <functional>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "goro/export.hpp"
#include "goro/runtime.hpp"

namespace goro {

namespace detail {

// Counts a plain thread about to start (sched.nplain_active), before it runs.
GORO_EXPORT void plain_thread_reserve() noexcept;
// Gives back a count from plain_thread_reserve whose thread never started.
GORO_EXPORT void plain_thread_unreserve() noexcept;
// Called first on the new thread: makes the reserved count this thread's registration.
GORO_EXPORT void plain_thread_adopt() noexcept;

}  // namespace detail

class plain_thread {
 public:
  using id = std::thread::id;
  using native_handle_type = std::thread::native_handle_type;

  plain_thread() noexcept = default;

  // Starts a thread running std::invoke(f, args...) on decayed copies, as std::thread does.
  // Throws std::system_error if the thread cannot be started; the count is then given back.
  template <class F, class... Args,
            class = std::enable_if_t<!std::is_same_v<std::remove_cvref_t<F>, plain_thread>>>
  explicit plain_thread(F&& f, Args&&... args) {
    detail::plain_thread_reserve();
    try {
      thread_ = std::thread(
          [](std::decay_t<F> fn, std::decay_t<Args>... fn_args) {
            detail::plain_thread_adopt();
            std::invoke(std::move(fn), std::move(fn_args)...);
          },
          std::forward<F>(f), std::forward<Args>(args)...);
    } catch (...) {
      detail::plain_thread_unreserve();
      throw;
    }
  }

  plain_thread(plain_thread&&) noexcept = default;
  plain_thread& operator=(plain_thread&& other) noexcept {
    if (this != &other) {
      if (joinable()) join();
      thread_ = std::move(other.thread_);
    }
    return *this;
  }
  plain_thread(const plain_thread&) = delete;
  plain_thread& operator=(const plain_thread&) = delete;

  ~plain_thread() {
    if (joinable()) join();
  }

  bool joinable() const noexcept { return thread_.joinable(); }
  id get_id() const noexcept { return thread_.get_id(); }
  native_handle_type native_handle() { return thread_.native_handle(); }

  // Waits for the thread to finish, inside goro::blocking (which a plain thread's call
  // passes straight through). Throws std::system_error as std::thread::join does.
  void join() {
    blocking([this] { thread_.join(); });
  }

  void detach() { thread_.detach(); }
  void swap(plain_thread& other) noexcept { thread_.swap(other.thread_); }

 private:
  std::thread thread_;
};

}  // namespace goro
