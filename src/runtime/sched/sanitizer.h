// Fiber annotations for AddressSanitizer and ThreadSanitizer; no-ops in plain builds.
//
// ASan: before a switch, __sanitizer_start_switch_fiber(&from->asan_fake_stack, to's stack);
// after it, __sanitizer_finish_switch_fiber(resumed G's asan_fake_stack). The fake-stack
// pointer is passed at every switch, never null, including a dying goroutine's last one:
// null would make ASan drop the thread's fake stack. Recycled stacks are unpoisoned before
// reuse, because frames that never returned leave their redzones poisoned.
//
// TSan: each G owns a TSan fiber (created with the G, destroyed with it); each M's g0 uses
// the thread's own. __tsan_switch_to_fiber is called from GORO_NO_TSAN functions only.
#pragma once

#include "runtime/sched/runtime2.h"

#if defined(__SANITIZE_THREAD__)
#define GORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORO_TSAN 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define GORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORO_ASAN 1
#endif
#endif

#if defined(GORO_TSAN)
#define GORO_NO_TSAN __attribute__((no_sanitize("thread")))
#else
#define GORO_NO_TSAN
#endif

namespace goro::rt {

#if defined(GORO_ASAN) || defined(GORO_TSAN)
void sanitizer_start_switch(G* from, G* to);
void sanitizer_finish_switch(G* resumed);
// First switch into a new G (its stack has no ASan fake stack yet).
void sanitizer_finish_switch_first(G* gp);
void sanitizer_new_g(G* gp);
void sanitizer_free_g(G* gp);
void sanitizer_init_g0(M* mp);
#else
// Plain builds: the hooks compile to nothing on the switch path.
inline void sanitizer_start_switch(G*, G*) {}
inline void sanitizer_finish_switch(G*) {}
inline void sanitizer_finish_switch_first(G*) {}
inline void sanitizer_new_g(G*) {}
inline void sanitizer_free_g(G*) {}
inline void sanitizer_init_g0(M*) {}
#endif
bool running_under_sanitizer();
bool running_under_asan();
bool running_under_tsan();

// Brackets diagnostic code that reads other threads' G and M fields without synchronisation
// (scheddetail, dumps), as Go's do: a snapshot that may be inconsistent, by design. Under
// TSan the reads are excluded from race detection; elsewhere these do nothing.
void sanitizer_ignore_reads_begin();
void sanitizer_ignore_reads_end();

}  // namespace goro::rt
