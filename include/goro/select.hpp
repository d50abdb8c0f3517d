// select: Go's select statement over goro channels.
//
//   std::size_t ran = goro::select(
//       goro::on_recv(jobs, [&](std::optional<job> j) { ... }),   // j is nullopt if closed
//       goro::on_send(out, value, [&] { ... }),
//       goro::on_default([&] { ... }));                          // optional; at most one
//
// Semantics are Go's. Every case's channel and send value are taken once, on entry. If
// several cases are ready, one is chosen uniformly at random. The default case runs only if
// no case is ready. Without a default the caller blocks until one case can proceed, and
// exactly one case completes. Nil channels are never chosen. A select with no channel case
// and no default blocks forever. A chosen send case on a closed channel throws
// panic_error("send on closed channel"). The chosen case's handler runs after every channel
// lock is released; select returns the position of that case in the argument list.
//
// Cases are meant to be built inside the select call: a case refers to its channel (it does
// not hold a handle), so the channel must outlive the select.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "goro/chan.hpp"
#include "goro/export.hpp"

namespace goro {

namespace detail {

enum class select_dir : std::uint8_t { recv, send };

// One channel case in the type-erased form select_run takes.
struct select_op {
  chan_core* core;  // nullptr: a nil channel, never chosen
  void* elem;       // send: the value (moved from if chosen); recv: storage for the value
  select_dir dir;
  bool received;  // recv, set by select_run: an element was constructed in elem
};

// Runs a select over ops[0..n). Returns the index of the chosen op, or n if none was ready
// and has_default. Throws panic_error for a chosen send on a closed channel.
GORO_EXPORT std::size_t select_run(select_op* ops, std::size_t n, bool has_default);

template <class T, class F>
struct recv_case {
  chan_core* core;
  F handler;
  elem_slot<T> slot{};
  static constexpr bool is_default = false;
  select_op op() { return {core, slot.get(), select_dir::recv, false}; }
  void run(const select_op& done) {
    if (done.received) {
      handler(slot.take());
    } else {
      handler(std::optional<T>());
    }
  }
};

template <class T, class F>
struct send_case {
  chan_core* core;
  T value;
  F handler;
  static constexpr bool is_default = false;
  select_op op() { return {core, std::addressof(value), select_dir::send, false}; }
  void run(const select_op&) { handler(); }
};

template <class F>
struct default_case {
  F handler;
  static constexpr bool is_default = true;
  void run() { handler(); }
};

template <class C>
inline constexpr bool is_default_case_v = std::remove_cvref_t<C>::is_default;

}  // namespace detail

// A case that receives from c; handler(std::optional<T>) gets nullopt if c is closed.
template <class T, class F>
detail::recv_case<T, std::decay_t<F>> on_recv(const chan<T>& c, F&& handler) {
  static_assert(std::is_invocable_v<std::decay_t<F>&, std::optional<T>>,
                "goro::on_recv: handler must accept std::optional<T>");
  return {c.core(), std::forward<F>(handler)};
}

// A case that sends value on c; handler() runs once the value is delivered.
template <class T, class F>
detail::send_case<T, std::decay_t<F>> on_send(const chan<T>& c, std::type_identity_t<T> value,
                                              F&& handler) {
  static_assert(std::is_invocable_v<std::decay_t<F>&>,
                "goro::on_send: handler must take no arguments");
  return {c.core(), std::move(value), std::forward<F>(handler)};
}

// The default case: runs if no other case is ready.
template <class F>
detail::default_case<std::decay_t<F>> on_default(F&& handler) {
  static_assert(std::is_invocable_v<std::decay_t<F>&>,
                "goro::on_default: handler must take no arguments");
  return {std::forward<F>(handler)};
}

// Waits until one case can proceed, runs it, and returns its position among the arguments.
template <class... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t n_default =
      (std::size_t{0} + ... + (detail::is_default_case_v<Cases> ? 1 : 0));
  static_assert(n_default <= 1, "goro::select: at most one on_default case");
  constexpr std::size_t n_ops = sizeof...(Cases) - n_default;

  auto refs = std::forward_as_tuple(cases...);
  // Argument position of each channel case, and of the default case.
  constexpr auto positions = [] {
    std::array<std::size_t, n_ops + 1> pos{};
    constexpr bool defaults[] = {detail::is_default_case_v<Cases>..., false};
    std::size_t k = 0;
    pos[n_ops] = sizeof...(Cases);
    for (std::size_t i = 0; i < sizeof...(Cases); ++i) {
      if (defaults[i]) {
        pos[n_ops] = i;
      } else {
        pos[k++] = i;
      }
    }
    return pos;
  }();

  std::array<detail::select_op, n_ops + 1> ops{};
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    std::size_t k = 0;
    (
        [&] {
          auto& c = std::get<I>(refs);
          if constexpr (!detail::is_default_case_v<decltype(c)>) ops[k++] = c.op();
        }(),
        ...);
    (void)k;
  }
  (std::index_sequence_for<Cases...>{});

  const std::size_t chosen = detail::select_run(ops.data(), n_ops, n_default != 0);
  const std::size_t position = positions[chosen];
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          if (I != position) return;
          auto& c = std::get<I>(refs);
          if constexpr (detail::is_default_case_v<decltype(c)>) {
            c.run();
          } else {
            c.run(ops[chosen]);
          }
        }(),
        ...);
  }
  (std::index_sequence_for<Cases...>{});
  return position;
}

}  // namespace goro
