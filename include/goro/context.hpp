// Cancellation contexts in the spirit of Go's context package.
//
//   auto [ctx, cancel] = goro::with_timeout(goro::background(), 100ms);
//   goro::select(goro::on_recv(results, [&](auto r) { ... }),
//                goro::on_recv(ctx.done(), [&](auto) { std::puts(ctx.err().message().c_str()); }));
//   cancel();  // always call it: it stops the timer and detaches ctx from its parent
//
// A goro::context is a cheap shared handle to an immutable position in a tree. Cancelling a
// context (by its cancel function, its deadline, or its parent's cancellation) closes its
// done() channel, sets err(), and cancels every context derived from it. The first cause
// wins: later cancellations change nothing. Calling the cancel function also stops the
// deadline timer and removes the context from its parent, releasing what it holds.
//
// Names follow Go's: background(), with_cancel, with_deadline, with_timeout, done(), err(),
// deadline(). err() is a std::error_code in goro::context_category() whose message() is Go's
// text, "context canceled" or "context deadline exceeded".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>
#include <variant>

#include "goro/chan.hpp"
#include "goro/export.hpp"

namespace goro {

// Why a context ended; the error_code values of context::err().
enum class context_errc {
  canceled = 1,           // "context canceled" (Go's context.Canceled)
  deadline_exceeded = 2,  // "context deadline exceeded" (Go's context.DeadlineExceeded)
};

GORO_EXPORT const std::error_category& context_category() noexcept;

inline std::error_code make_error_code(context_errc e) noexcept {
  return {static_cast<int>(e), context_category()};
}

}  // namespace goro

template <>
struct std::is_error_code_enum<goro::context_errc> : std::true_type {};

namespace goro {

namespace detail {
struct context_node;  // src/lib/context.cc
}

// The element type of done() channels; they only ever close.
using done_signal = std::monostate;

class GORO_EXPORT context {
 public:
  // The background context: never cancelled, no deadline, done() is a nil channel.
  context() noexcept = default;

  // A channel that is closed when this context is cancelled; a receive on it then returns
  // std::nullopt at once. For background() it is the nil channel, which never becomes ready.
  chan<done_signal> done() const;

  // Empty until the context is cancelled; then context_errc::canceled or
  // context_errc::deadline_exceeded.
  std::error_code err() const;

  // The time at which the context is cancelled by itself, if any (the earliest of its own
  // and its ancestors' deadlines).
  std::optional<std::chrono::steady_clock::time_point> deadline() const;

 private:
  friend struct detail::context_node;
  explicit context(std::shared_ptr<detail::context_node> node) noexcept : node_(std::move(node)) {}
  std::shared_ptr<detail::context_node> node_;  // nullptr: background
};

// Go's context.CancelFunc: cancels its context with context_errc::canceled and releases its
// resources. Safe to call more than once, from any goroutine or thread.
using cancel_function = std::function<void()>;

// Go's context.Background.
inline context background() noexcept { return context(); }

// A child of parent with its own cancel function.
GORO_EXPORT std::pair<context, cancel_function> with_cancel(const context& parent);

// A child of parent that is also cancelled with context_errc::deadline_exceeded at `deadline`
// (at once if it has passed). If the parent's deadline is earlier, the child keeps that one.
GORO_EXPORT std::pair<context, cancel_function> with_deadline(
    const context& parent, std::chrono::steady_clock::time_point deadline);

// with_deadline(parent, now + timeout).
GORO_EXPORT std::pair<context, cancel_function> with_timeout(const context& parent,
                                                             std::chrono::nanoseconds timeout);

}  // namespace goro
