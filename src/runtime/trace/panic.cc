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
// Fatal errors print the failing goroutine's stack and the other goroutines' headers only:
// fatal() may be called with sched.lock held, so it cannot stop the world.
#include <cstdlib>
#include <cxxabi.h>
#include <exception>
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

void print_other_goroutines(G* self) {
  if (!traceback_env.all && traceback_env.level < 2) return;
  M* mp = getm();
  if (mp == nullptr) return;
  dump_options options;
  options.level = traceback_env.level;
  // A goroutine that threw from its own code holds no runtime lock, so the world can stop
  // for the parked goroutines' stacks (the process exits afterwards). One that threw inside
  // the runtime may hold sched.lock, so the others get headers only.
  if (self->runtime_depth == 0) {
    stop_world_for_exit_dump(mp, kPanicStopTimeoutNs, traceback_env.level, 2, &options);
  }
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

// Type names from typeid are mangled without the _Z prefix that function names carry.
void print_type_name(line_buffer& line, const char* mangled) {
  int status = 0;
  std::size_t length = 256;
  // __cxa_demangle may realloc a buffer it did not allocate; give it one from malloc.
  char* heap = static_cast<char*>(std::malloc(length));
  char* name = heap != nullptr ? abi::__cxa_demangle(mangled, heap, &length, &status) : nullptr;
  if (name != nullptr && status == 0) {
    line.str(name);
  } else {
    line.str(mangled);
  }
  std::free(name != nullptr ? name : heap);
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

[[noreturn]] void fatal_with_level(std::string_view msg, int level) {
  sigquit_ignore();
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
    // error is not on a user goroutine. A goroutine outside runtime code holds no runtime
    // lock (the sync misuse errors), so the world can stop and parked goroutines print their
    // stacks, as after a panic. Inside runtime code only their headers are printed.
    if (mp != nullptr && (traceback_env.all || level >= 2 || gp == nullptr)) {
      dump_options options;
      options.level = level;
      if (gp != nullptr && gp->runtime_depth == 0) {
        stop_world_for_exit_dump(mp, kPanicStopTimeoutNs, level, 2, &options);
      }
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
