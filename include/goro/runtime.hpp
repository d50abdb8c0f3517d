// goro's core API: starting the runtime, starting goroutines, and talking to the scheduler.
//
//   int main(int argc, char** argv) {
//     return goro::run(argc, argv, [] {
//       goro::go([] { std::puts("hello from a goroutine"); });
//       goro::yield();
//     });
//   }
//
// goro::run boots the runtime in Go's order (see docs/bootstrap.md), runs `main` as goroutine 1
// and returns its exit status once main returns. As in Go, goroutines still alive then are
// abandoned: they never run again. run() may be called again later in the same process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "goro/export.hpp"

namespace goro {

// Thrown where Go panics: send on a closed channel, close of a closed or nil channel, a
// negative wait-group counter, an invalid argument to a runtime call. what() is Go's text.
class GORO_EXPORT panic_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
  ~panic_error() override;
};

// Options for one goroutine, for goro::go_with.
struct spawn_options {
  // Stack reservation in bytes; 0 uses the default (GODEBUG=gorostacksize, else 256 KiB).
  // Only touched pages consume memory. Rounded up to the page size.
  std::size_t stack_size = 0;
};

namespace detail {

// A goroutine's entry: the closure lives at the top of the goroutine's own stack, so starting
// a goroutine allocates nothing on the heap.
using goroutine_entry = void (*)(void* closure);

struct GORO_EXPORT spawn_slot {
  void* goroutine;  // opaque runtime record
  void* closure;    // where the caller constructs its closure
};

GORO_EXPORT spawn_slot spawn_begin(std::size_t closure_size, std::size_t closure_align,
                                   const spawn_options& options);
GORO_EXPORT void spawn_commit(spawn_slot slot, goroutine_entry entry, void* return_address);
GORO_EXPORT void spawn_abort(spawn_slot slot) noexcept;

using main_entry = int (*)(void* main);
GORO_EXPORT int run_main(int argc, char** argv, main_entry entry, void* main);

GORO_EXPORT void enter_blocking() noexcept;
GORO_EXPORT void exit_blocking() noexcept;

// Starts a goroutine; `creator` is the return address into the code that called goro::go,
// printed as "created by" in tracebacks.
template <class F, class... Args>
void go_from(void* creator, const spawn_options& options, F&& f, Args&&... args);

// Calls the function in a closure tuple with the arguments after it. Not a generic lambda
// under std::apply: the mangled names of its frames, which tracebacks print, use a form that
// GCC 12's libstdc++ demangler rejects, so they printed mangled.
template <class Closure, std::size_t... I>
void invoke_closure_elements(Closure& closure, std::index_sequence<I...>) {
  std::invoke(std::move(std::get<I>(closure))...);
}

template <class Closure>
void invoke_closure(void* p) {
  auto* closure = static_cast<Closure*>(p);
  invoke_closure_elements(*closure, std::make_index_sequence<std::tuple_size_v<Closure>>{});
  closure->~Closure();
}

}  // namespace detail

// Runs `main` (int() or void()) as the main goroutine and returns its exit status (0 for a
// void main). Reads GOMAXPROCS, GODEBUG and GOTRACEBACK as Go does.
template <class F>
int run(int argc, char** argv, F&& main) {
  using Main = std::remove_reference_t<F>;
  static_assert(std::is_invocable_v<Main&>, "goro::run: main must be callable with no arguments");
  return detail::run_main(
      argc, argv,
      [](void* p) -> int {
        Main& f = *static_cast<Main*>(p);
        if constexpr (std::is_void_v<std::invoke_result_t<Main&>>) {
          f();
          return 0;
        } else {
          return static_cast<int>(f());
        }
      },
      static_cast<void*>(std::addressof(main)));
}

// Starts f(args...) in a new goroutine, copying or moving f and args as std::thread does.
// Throws panic_error if called outside goro::run. An exception that escapes f is a panic:
// the process prints Go's panic report with a traceback and exits with status 2.
template <class F, class... Args>
void detail::go_from(void* creator, const spawn_options& options, F&& f, Args&&... args) {
  using Closure = std::tuple<std::decay_t<F>, std::decay_t<Args>...>;
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                "goro::go: f must be callable with args");
  detail::spawn_slot slot = detail::spawn_begin(sizeof(Closure), alignof(Closure), options);
  try {
    ::new (slot.closure) Closure(std::forward<F>(f), std::forward<Args>(args)...);
  } catch (...) {
    detail::spawn_abort(slot);
    throw;
  }
  detail::spawn_commit(slot, &detail::invoke_closure<Closure>, creator);
}

// go and go_with are never inlined, so that their return address is a point in the caller,
// which tracebacks print as the goroutine's creation site.
template <class F, class... Args>
[[gnu::noinline]] void go_with(const spawn_options& options, F&& f, Args&&... args) {
  detail::go_from(__builtin_return_address(0), options, std::forward<F>(f),
                  std::forward<Args>(args)...);
}

template <class F, class... Args>
[[gnu::noinline]] void go(F&& f, Args&&... args) {
  detail::go_from(__builtin_return_address(0), spawn_options{}, std::forward<F>(f),
                  std::forward<Args>(args)...);
}

// Go's runtime.Gosched: lets other goroutines run; the caller stays runnable.
GORO_EXPORT void yield();

// Live user goroutines, the main one included (runtime goroutines are not counted).
GORO_EXPORT int num_goroutine();

// n > 0 sets the number of Ps and returns the previous value; n <= 0 only returns it.
GORO_EXPORT int gomaxprocs(int n);

// The calling goroutine's id; the main goroutine is 1. Ids are never reused within a run.
// Returns 0 on a thread that is not running a goroutine.
GORO_EXPORT std::int64_t goroutine_id();

// Go's runtime.Stack: the traceback of the calling goroutine, or with `all` of every
// goroutine (the caller first), in the format of a goroutine dump:
//
//   goroutine 7 [running]:
//   worker(int)
//   	/src/app.cc:12 +0x3c
//   created by main::{lambda()#1}::operator()() const in goroutine 1
//   	/src/app.cc:30 +0x88
//
//   goroutine 1 [chan receive]:
//   ...
//
// `all` stops the world while it runs: every goroutine pauses at its next scheduling point.
// A goroutine that reaches none within 10 ms prints as running on another thread, with no
// stack. GOTRACEBACK=system (level 2) adds runtime goroutines and frames. Throws panic_error
// when called from a thread that is not running a goroutine.
GORO_EXPORT std::string stack(bool all);

// Wires the calling goroutine to its current OS thread, as Go's runtime.LockOSThread. Calls
// nest; the goroutine is unwired after as many unlock_os_thread calls. A goroutine that exits
// while wired takes its thread with it.
GORO_EXPORT void lock_os_thread();
GORO_EXPORT void unlock_os_thread();

// Counts the calling plain thread (one that is not running a goroutine) as a thread that may
// still wake goroutines, from now until it exits. Deadlock detection ("all goroutines are
// asleep") otherwise learns of a plain thread only at its first channel, select or timer
// operation, or its first sync operation that has to wait (an uncontended lock does not
// count). A goroutine that blocks waiting for a thread that has not made one yet is
// therefore reported as deadlocked. goro::plain_thread (goro/thread.hpp) counts the threads it starts
// before they run. A thread started otherwise calls this first, and the goroutine that
// starts it waits until the call has returned (for example on a std::latch inside
// goro::blocking), because that goroutine usually blocks before the thread runs.
// While the thread sleeps inside a goro primitive it does not count, as before.
// Calling it again is harmless; throws panic_error when called from a goroutine.
GORO_EXPORT void register_plain_thread();

// Sets the default stack reservation for goroutines started from now on, in bytes (rounded up
// to the page size; at least 16 KiB). Returns the previous default.
GORO_EXPORT std::size_t set_default_stack_size(std::size_t bytes);

// Runs f() as a blocking call (Go's entersyscall/exitsyscall): if f blocks longer than
// sysmon's threshold (20 µs to 10 ms), the P moves to another thread so other goroutines keep
// running, and the calling goroutine continues on a P when f returns. Returns what f returns;
// an exception from f propagates after the goroutine is back on a P. f may use goro itself
// (channels, locks, goro::go, sleeps, a nested goro::blocking). For each such call the
// goroutine leaves the blocking state and claims a P, as it would on return, so a wait
// parks the goroutine rather than the thread. It is back in the blocking state when the
// call returns.
template <class F>
auto blocking(F&& f) -> decltype(std::forward<F>(f)()) {
  struct leave {
    ~leave() { detail::exit_blocking(); }
  };
  detail::enter_blocking();
  leave guard;
  return std::forward<F>(f)();
}

}  // namespace goro
