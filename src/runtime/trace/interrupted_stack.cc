// Capture of an interrupted stack from a signal handler. See interrupted_stack.h.
#include "runtime/trace/interrupted_stack.h"

#include <ucontext.h>

#include <cstdint>
#include <exception>

#include "runtime/sched/sanitizer.h"

namespace goro::rt {

[[gnu::noinline]] int capture_interrupted_stack(frame_record* out, int max) {
  if (out == nullptr || max <= 0) return 0;
  if (running_under_tsan() || std::uncaught_exceptions() != 0 || stack_capture_active()) {
    return 0;
  }

  // The walk starts in the handler and passes the kernel's signal-return trampoline. The
  // frame after it, which the unwinder marks as a signal frame, is the interrupted one.
  const int n = capture_stack_frames(out, max, 0);
  int first = 0;
  while (first < n && !out[first].signal_frame) ++first;
  if (first == n) return 0;
  for (int i = first; i < n; ++i) out[i - first] = out[i];
  return n - first;
}

namespace {

std::uintptr_t interrupted_sp(const void* context) {
  const auto* uc = static_cast<const ucontext_t*>(context);
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.sp);
#else
  (void)uc;
  return 0;
#endif
}

}  // namespace

bool interrupted_outside_switch(const M* mp, const void* context) {
  if (mp == nullptr || context == nullptr) return false;
  const G* gp = mp->curg.load(std::memory_order_relaxed);
  if (gp != nullptr) {
    // Goroutines switch only from runtime mode. The handler runs on the goroutine's own
    // thread, so it reads the depth the goroutine last stored. A goroutine in
    // goro::blocking() runs its own code too. The stack pointer check catches a switch
    // that has already named the next goroutine but still runs on the previous stack.
    const gstatus status = gp->status.load(std::memory_order_relaxed);
    const std::uintptr_t sp = interrupted_sp(context);
    return gp->runtime_depth == 0 &&
           (status == gstatus::running || status == gstatus::syscall) &&
           sp > gp->stack.lo && sp <= gp->stack.hi;
  }
  return mp->blocked.load(std::memory_order_relaxed);
}

}  // namespace goro::rt
