// Channels: Go's `chan T` for C++.
//
//   goro::chan<int> results(16);               // buffered, 16 slots
//   goro::go([results] { results.send(42); });
//   std::optional<int> v = results.recv();     // 42; std::nullopt once closed and drained
//   results.close();
//   for (int x : results) { ... }              // receives until closed and drained
//
// A goro::chan<T> is a handle: copies refer to the same channel, as Go's channel values do,
// and the channel lives until the last handle goes away. chan<T>() and chan<T>(0) are
// unbuffered (a send waits for its receiver); chan<T>::nil() is Go's nil channel, on which
// send and receive block forever and close panics. All operations are const and safe from
// any number of goroutines and plain threads at once.
//
// Semantics are Go's (see docs and go-semantics.md §7): FIFO order, direct hand-off between
// a parked sender and receiver, close wakes every waiter, and a send happens-before the
// receive that gets its value. Misuse throws goro::panic_error with Go's text:
// "send on closed channel", "close of closed channel", "close of nil channel".
//
// T must be move-constructible. Its move constructor runs while the channel's lock is held,
// so it must not block or use goro primitives. A move constructor that throws there
// terminates the program.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "goro/export.hpp"
#include "goro/runtime.hpp"

namespace goro {

namespace detail {

// The non-template channel object (src/lib/chan_core.h). Opaque to users.
struct chan_core;

// Type-erased operations on one element type: size, alignment, move and destroy.
struct elem_ops {
  // Bytes of a buffer slot: sizeof(T), or 0 for an empty trivially copyable T, which needs
  // no storage, so that chan<empty>(1 << 40) allocates no buffer, as Go's chan struct{}.
  std::size_t size;
  std::size_t align;
  // Constructs an element at dst by moving from the element at src (src stays alive).
  void (*move_construct)(void* dst, void* src) noexcept;
  void (*destroy)(void* p) noexcept;
  bool trivially_copyable;
};

template <class T>
void elem_move_construct(void* dst, void* src) noexcept {
  ::new (dst) T(std::move(*static_cast<T*>(src)));
}

template <class T>
void elem_destroy(void* p) noexcept {
  static_cast<T*>(p)->~T();
}

template <class T>
inline constexpr elem_ops elem_ops_for{
    std::is_empty_v<T> && std::is_trivially_copyable_v<T> ? 0 : sizeof(T), alignof(T),
    &elem_move_construct<T>, &elem_destroy<T>, std::is_trivially_copyable_v<T>};

// Creates a channel holding one reference. Throws panic_error if the buffer is too large.
GORO_EXPORT chan_core* chan_make(const elem_ops* ops, std::size_t capacity);
GORO_EXPORT void chan_retain(chan_core* c) noexcept;
GORO_EXPORT void chan_release(chan_core* c) noexcept;
// Sends the element at elem (moved from once delivered). c may be nullptr (nil channel).
GORO_EXPORT void chan_send(chan_core* c, void* elem);
// Receives into the uninitialised storage at out; returns true if an element was
// constructed there, false if the channel is closed and drained.
GORO_EXPORT bool chan_recv(chan_core* c, void* out);
GORO_EXPORT void chan_close(chan_core* c);
GORO_EXPORT std::size_t chan_len(const chan_core* c) noexcept;
GORO_EXPORT std::size_t chan_cap(const chan_core* c) noexcept;

// Storage for one element, constructed only when a receive delivers a value.
template <class T>
struct elem_slot {
  alignas(T) unsigned char bytes[sizeof(T)];
  void* get() noexcept { return bytes; }
  // Moves the constructed element out into an optional and destroys the slot's copy.
  std::optional<T> take() noexcept(std::is_nothrow_move_constructible_v<T>) {
    T* p = std::launder(reinterpret_cast<T*>(bytes));
    std::optional<T> out(std::move(*p));
    p->~T();
    return out;
  }
};

}  // namespace detail

template <class T>
class chan {
  static_assert(std::is_move_constructible_v<T>, "goro::chan<T>: T must be move-constructible");
  static_assert(!std::is_reference_v<T> && std::is_object_v<T>,
                "goro::chan<T>: T must be an object type");

 public:
  using value_type = T;

  // An unbuffered channel.
  chan() : chan(std::size_t{0}) {}
  // A channel with `capacity` buffer slots; 0 is unbuffered.
  explicit chan(std::size_t capacity)
      : core_(detail::chan_make(&detail::elem_ops_for<T>, capacity)) {}

  // Go's nil channel: send and receive block forever, close throws.
  static chan nil() noexcept { return chan(nil_tag{}); }

  chan(const chan& other) noexcept : core_(other.core_) {
    if (core_ != nullptr) detail::chan_retain(core_);
  }
  chan(chan&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
  chan& operator=(const chan& other) noexcept {
    chan(other).swap(*this);
    return *this;
  }
  chan& operator=(chan&& other) noexcept {
    chan(std::move(other)).swap(*this);
    return *this;
  }
  ~chan() {
    if (core_ != nullptr) detail::chan_release(core_);
  }
  void swap(chan& other) noexcept { std::swap(core_, other.core_); }

  // Sends value, blocking until a receiver takes it or a buffer slot is free. Throws
  // panic_error("send on closed channel") if the channel is or becomes closed first.
  void send(T value) const { detail::chan_send(core_, std::addressof(value)); }

  // Receives the next value, blocking until one is available; std::nullopt once the
  // channel is closed and every buffered value has been received.
  std::optional<T> recv() const {
    detail::elem_slot<T> slot;
    if (!detail::chan_recv(core_, slot.get())) return std::nullopt;
    return slot.take();
  }

  // Closes the channel: parked receivers get std::nullopt, parked senders throw. Throws
  // panic_error("close of closed channel") or ("close of nil channel").
  void close() const { detail::chan_close(core_); }

  // Go's len: values buffered and not yet received (0 for a nil channel).
  std::size_t size() const noexcept { return detail::chan_len(core_); }
  // Go's cap: the buffer size (0 for unbuffered and nil channels).
  std::size_t capacity() const noexcept { return detail::chan_cap(core_); }

  // Two handles are equal when they refer to the same channel (all nil handles are equal).
  friend bool operator==(const chan& a, const chan& b) noexcept { return a.core_ == b.core_; }

  // Range-for support: each step receives; iteration ends once closed and drained.
  class iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    explicit iterator(const chan* ch) : ch_(ch) { ++*this; }
    T& operator*() const { return *value_; }
    // Constructs the value in place rather than assigning it, so that element types that
    // are move-constructible but not assignable (a struct with a const member) work too.
    iterator& operator++() {
      value_.reset();
      if (std::optional<T> next = ch_->recv()) value_.emplace(std::move(*next));
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return !it.value_.has_value();
    }

   private:
    const chan* ch_ = nullptr;
    mutable std::optional<T> value_;
  };
  iterator begin() const { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

  // For select (goro/select.hpp): the runtime object, nullptr for a nil channel.
  detail::chan_core* core() const noexcept { return core_; }

 private:
  struct nil_tag {};
  explicit chan(nil_tag) noexcept : core_(nullptr) {}
  detail::chan_core* core_;
};

}  // namespace goro
