// Goroutine switches on one M, and the thread state that travels with a goroutine.
//
// switch_to(mp, from, to) runs on the thread of M `mp`:
//   1. Save `from`'s errno and C++ exception state (libstdc++'s __cxa_eh_globals: the caught
//      exception stack and the uncaught count), and install `to`'s. Both are per-thread in
//      the C library and the C++ runtime, but belong to the goroutine: a goroutine may park
//      inside a catch block and resume on another thread, where `throw;` and
//      std::current_exception() must still see its exception.
//   2. Tell the sanitizers which stack is about to run (ASan's fiber API with the fake stack
//      saved in the G, TSan's fiber API). This function and the TSan call are not
//      instrumented by TSan: an instrumented caller would return on a different fiber.
//   3. goro_rt_switch (arch/). When it returns, `from` runs again, possibly on another M.
//   4. finish_switch() on the incoming side: ASan's finish call, then the M's pending
//      after_switch work (runtime2.h), which must wait until `from`'s registers are saved.
//
// Invariant: between steps 1 and 3 nothing may touch errno or throw.
#include "runtime/arch/context.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/sanitizer.h"
#include "runtime/stack/overflow.h"
#include "runtime/trace/traceback.h"

namespace goro::rt {

namespace {

struct cxa_eh_globals_layout {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};

// Swaps the thread's errno and exception state from `from` to `to`, through the addresses
// that setm() cached in the M.
inline void swap_thread_state(M* mp, G* from, const G* to) {
  int* err = mp->errno_location;
  from->saved_errno = *err;
  auto* eh = static_cast<cxa_eh_globals_layout*>(mp->cxa_globals);
  from->eh.caught_exceptions = eh->caught_exceptions;
  from->eh.uncaught_exceptions = eh->uncaught_exceptions;
  eh->caught_exceptions = to->eh.caught_exceptions;
  eh->uncaught_exceptions = to->eh.uncaught_exceptions;
  *err = to->saved_errno;
}

}  // namespace

// The body of switch_context, inlined into switch_to so that a goroutine switch costs one
// frame less on its hot path. Outside the anonymous namespace so that tracebacks see its
// inlined frame as goro::rt::'s (see schedule_next_inline in proc.cc).
[[gnu::always_inline]] GORO_NO_TSAN inline void switch_context_inline(M* mp, G* from, G* to) {
  // Only a canary-only slot has a canary to check; g0 and guarded stacks skip the call.
  if (!from->stack.guarded && from != &mp->g0 && stack_canary_broken(from)) [[unlikely]] {
    report_canary_overflow(from);
  }

  swap_thread_state(mp, from, to);
  mp->curg.store(to == &mp->g0 ? nullptr : to, std::memory_order_relaxed);
  to->m = mp;

  sanitizer_start_switch(from, to);
  goro_rt_switch(&from->sched_sp, to->sched_sp, from);
  sanitizer_finish_switch(from);
}

GORO_NO_TSAN void switch_context(M* mp, G* from, G* to) { switch_context_inline(mp, from, to); }

GORO_NO_TSAN void switch_to(M* mp, G* from, G* to) {
  switch_context_inline(mp, from, to);

  // A dumper may switch here only to have this goroutine print its stack (traceback.cc).
  while (from->traceback_request) traceback_serve(from);
  finish_switch(getm());
}

void prepare_new_g(G* gp) { sanitizer_new_g(gp); }

void release_g_resources(G* gp) { sanitizer_free_g(gp); }

void init_g0(M* mp) {
  mp->g0.status.store(gstatus::running, std::memory_order_relaxed);
  mp->g0.is_system = true;
  sanitizer_init_g0(mp);
}

}  // namespace goro::rt
