// Fatal errors and panics: how a goro program dies.
//
// An exception that escapes a goroutine is a panic. goro does not catch it: the goroutine's
// first frame ends every unwind (its CFI marks the return address undefined), so the C++
// runtime's search phase finds no handler and calls std::terminate at the throw site, with
// the throwing frames still on the stack and no destructor run. goro's terminate handler
// then prints Go's report:
//
//     panic: std::runtime_error: boom
//
//     goroutine 7 [running]:
//     worker(int)
//     	/src/app.cc:12 +0x3c
//     created by main::{lambda()#1}::operator()() const in goroutine 1
//     	/src/app.cc:30 +0x88
//
// and exits with status 2. goro::panic_error, the runtime's own panics, print only what()
// (Go's text, for example "send on closed channel"). With GOTRACEBACK=all the other
// goroutines follow, each with its stack when the world can be stopped (dump_world.h), and
// with GOTRACEBACK=crash the process aborts instead, for a core dump.
//
// Fatal errors print the failing goroutine's stack, then, at GOTRACEBACK=all and above, the
// other goroutines. Outside runtime code (the sync misuse errors) the world stops as for a
// panic. Inside runtime code fatal() may be called with any runtime lock held, sched.lock
// included, so it freezes the world instead (freeze_the_world, sched.h). That is a lock-free,
// best-effort stop bounded by kFreezeTimeoutNs. After it, parked goroutines print their
// stacks and the others print Go's "stack unavailable" line. A panic thrown inside runtime
// code does the same. A fatal error raised while another one is printed ends the process at
// once, so a failure inside the dump cannot loop or hang, and one raised on another thread
// waits for the first report to end the process.
#include <atomic>
#include <cstdlib>
#include <cxxabi.h>
#include <exception>
#include <pthread.h>
#include <typeinfo>
#include <unistd.h>

#include "goro/runtime.hpp"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"
#include "runtime/trace/dump_world.h"
#include "runtime/trace/sigquit.h"
#include "runtime/trace/symbolize.h"
#include "runtime/trace/traceback.h"
#include "runtime/trace/unwind.h"

namespace goro::rt {

namespace {

std::terminate_handler previous_terminate = nullptr;

[[noreturn]] void die() {
  if (traceback_env.crash) ::abort();
  ::_exit(2);
}

// How long a panic waits for the world to stop before it prints the other goroutines without
// their stacks (the same bound as the SIGQUIT dump's).
constexpr std::int64_t kPanicStopTimeoutNs = 1'000'000'000;

// How long a freeze waits for Ms inside the runtime to give up their Ps. Such an M lets its
// P go within microseconds unless it waits for a lock that the failing code holds, and then
// it never does, so the bound is short.
constexpr std::int64_t kFreezeTimeoutNs = 100'000'000;

// Stops or freezes the world for an exit dump from goroutine gp (nullptr on g0) and fills
// *options. Code outside the runtime holds no runtime lock, so the world can stop there.
void stop_for_exit_dump(M* mp, G* gp, int level, dump_options* options) {
  if (gp != nullptr && gp->runtime_depth == 0) {
    stop_world_for_exit_dump(mp, kPanicStopTimeoutNs, level, 2, options);
    return;
  }
  if (!freeze_world_for_exit_dump(mp, kFreezeTimeoutNs, level, 2, options)) {
    write_all("\nruntime: the world did not stop within 100 ms; stacks of parked goroutines "
              "are left out\n");
  }
}

void print_other_goroutines(G* self) {
  if (!traceback_env.all && traceback_env.level < 2) return;
  M* mp = getm();
  if (mp == nullptr) return;
  dump_options options;
  stop_for_exit_dump(mp, self, traceback_env.level, &options);
  dump_other_goroutines(mp, self, options);
}

// Prints the current stack starting above the C++ runtime's throw machinery, so the first
// frame is the one that threw.
void print_throw_site_stack() {
  frame_record frames[128];
  int n = capture_stack_frames(frames, 128, 0);
  int start = 0;
  for (int i = 0; i < n; ++i) {
    symbol_info sym;
    if (!symbolize_pc(lookup_pc(frames[i]), &sym)) continue;
    std::string_view name(sym.function);
    if (name.starts_with("__cxa_throw") || name.starts_with("__cxa_rethrow") ||
        name.starts_with("std::rethrow_exception") || name.starts_with("_Unwind_Resume")) {
      start = i + 1;
      break;
    }
  }
  if (start == 0) start = 1;  // not a throw: skip this function
  stack_line<512> out;
  print_frames(out, 2, frames + start, n - start, traceback_env.level);
}

// Type names from typeid are mangled without the _Z prefix that function names carry. Cut
// to one line's worth; the type still shows which exception escaped.
void print_type_name(line_buffer& line, const char* mangled) {
  char name[symbol_info::kFunctionCapacity];
  line.str(demangle(mangled, name, sizeof name) ? name : mangled);
}

void on_terminate() {
  M* mp = getm();
  G* gp = mp != nullptr ? mp->curg.load(std::memory_order_relaxed) : nullptr;
  std::exception_ptr ep = std::current_exception();
  if (gp == nullptr || ep == nullptr) {
    // Not a goroutine's escaped exception: keep the C++ runtime's behaviour.
    if (previous_terminate != nullptr) previous_terminate();
    ::abort();
  }

  sigquit_ignore();
  auto line = print_line();
  line.str("panic: ");
  try {
    std::rethrow_exception(ep);
  } catch (const panic_error& e) {
    line.str(e.what());
  } catch (const std::exception& e) {
    print_type_name(line, typeid(e).name());
    line.str(": ").str(e.what());
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    line.str("exception of type ");
    print_type_name(line, t != nullptr ? t->name() : "unknown");
    line.str(" (not derived from std::exception)");
  }
  line.str("\n\n").flush();

  if (traceback_env.level > 0) {
    print_goroutine_header(gp, true);
    print_throw_site_stack();
    print_goroutine_creator(gp, traceback_env.level);
    print_other_goroutines(gp);
  }
  die();
}

// The thread printing a fatal error, or 0. Set by the first fatal error of the process.
std::atomic<unsigned long> fatal_thread{0};

[[noreturn]] void fatal_with_level(std::string_view msg, int level) {
  sigquit_ignore();
  const unsigned long self_thread = static_cast<unsigned long>(::pthread_self());
  unsigned long no_thread = 0;
  if (!fatal_thread.compare_exchange_strong(no_thread, self_thread, std::memory_order_acq_rel)) {
    // Another fatal error is being printed. On this thread it came from that report (a
    // failure while printing it): print its message and end now. On another thread, wait
    // silently for the first report to end the process.
    if (no_thread != self_thread) {
      for (;;) ::pause();
    }
    print_line().str("fatal error: ").str(msg).str(" (while printing a fatal error)\n").flush();
    die();
  }
  print_line().str("fatal error: ").str(msg).chr('\n').flush();
  if (level > 0) {
    M* mp = getm();
    G* gp = mp != nullptr ? mp->curg.load(std::memory_order_relaxed) : nullptr;
    if (gp != nullptr) {
      write_all("\n");
      print_goroutine_header(gp, true);
      print_current_stack(2, 2, level);
    } else if (level >= 2) {
      write_all("\nruntime stack:\n");
      print_current_stack(2, 2, level);
    }
    // The other goroutines, as Go prints them: with GOTRACEBACK=all or above, or when the
    // error is not on a user goroutine.
    if (mp != nullptr && (traceback_env.all || level >= 2 || gp == nullptr)) {
      dump_options options;
      stop_for_exit_dump(mp, gp, level, &options);
      dump_other_goroutines(mp, gp, options);
    }
  }
  die();
}

}  // namespace

void install_panic_handler() {
  std::terminate_handler old = std::set_terminate(&on_terminate);
  if (old != &on_terminate) previous_terminate = old;
}

void restore_panic_handler() {
  if (previous_terminate != nullptr) std::set_terminate(previous_terminate);
}

void fatal(std::string_view msg) { fatal_with_level(msg, traceback_env.level); }

void throw_bug(std::string_view msg) {
  fatal_with_level(msg, traceback_env.level > 0 ? 2 : 0);
}

}  // namespace goro::rt
