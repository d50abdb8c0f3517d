#include "runtime/sched/sanitizer.h"

#include <cstddef>

#if defined(GORO_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(GORO_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace goro::rt {

#if defined(GORO_ASAN) || defined(GORO_TSAN)

GORO_NO_TSAN void sanitizer_start_switch(G* from, G* to) {
#if defined(GORO_ASAN)
  M* mp = to->m;
  const void* bottom =
      to->stack.lo != 0 ? reinterpret_cast<const void*>(to->stack.lo) : mp->g0_stack_lo;
  std::size_t size = to->stack.lo != 0 ? to->stack.size() : mp->g0_stack_size;
  __sanitizer_start_switch_fiber(&from->asan_fake_stack, bottom, size);
#endif
#if defined(GORO_TSAN)
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  (void)from;
  (void)to;
}

GORO_NO_TSAN void sanitizer_finish_switch(G* resumed) {
#if defined(GORO_ASAN)
  __sanitizer_finish_switch_fiber(resumed->asan_fake_stack, nullptr, nullptr);
#endif
  (void)resumed;
}

GORO_NO_TSAN void sanitizer_finish_switch_first(G* gp) {
#if defined(GORO_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  (void)gp;
}

GORO_NO_TSAN void sanitizer_new_g(G* gp) {
#if defined(GORO_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(reinterpret_cast<void*>(gp->stack.lo),
                              reinterpret_cast<std::uintptr_t>(gp) - gp->stack.lo);
  gp->asan_fake_stack = nullptr;
#endif
#if defined(GORO_TSAN)
  if (gp->tsan_fiber == nullptr) gp->tsan_fiber = __tsan_create_fiber(0);
#endif
  (void)gp;
}

GORO_NO_TSAN void sanitizer_free_g(G* gp) {
  // A TSan fiber is kept with its G for reuse; it is destroyed only when the run ends.
  (void)gp;
}

GORO_NO_TSAN void sanitizer_init_g0(M* mp) {
#if defined(GORO_TSAN)
  mp->g0.tsan_fiber = __tsan_get_current_fiber();
#endif
  (void)mp;
}

#endif  // GORO_ASAN || GORO_TSAN

#if defined(GORO_TSAN)
// TSan's dynamic-annotation entry points (part of its runtime).
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
void sanitizer_ignore_reads_begin() { AnnotateIgnoreReadsBegin(__FILE__, __LINE__); }
void sanitizer_ignore_reads_end() { AnnotateIgnoreReadsEnd(__FILE__, __LINE__); }
#else
void sanitizer_ignore_reads_begin() {}
void sanitizer_ignore_reads_end() {}
#endif

bool running_under_tsan() {
#if defined(GORO_TSAN)
  return true;
#else
  return false;
#endif
}

bool running_under_asan() {
#if defined(GORO_ASAN)
  return true;
#else
  return false;
#endif
}

bool running_under_sanitizer() {
#if defined(GORO_ASAN) || defined(GORO_TSAN)
  return true;
#else
  return false;
#endif
}

}  // namespace goro::rt
