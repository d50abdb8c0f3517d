// The current M, found through thread-local storage.
//
// A goroutine can resume on another thread after any scheduling point. If the compiler kept
// a thread-local variable's address, or a value read through it, in a register across such a
// point, the goroutine would go on using the old thread's copy. On x86-64 getm() is an inline
// volatile asm (sched.h). Elsewhere it is a call into this file, never inlined and compiled
// without LTO, so every call reads the TLS of the thread that makes it.
#include <cerrno>
#include <cxxabi.h>

#include "runtime/sched/sched.h"

// Written by the thread itself when it becomes an M or stops being one, and read only by it.
// initial-exec puts it in static TLS, so a read is one %fs-relative load without a
// __tls_get_addr call. It has a C name for getm's asm, and __thread needs no TLS wrapper.
extern "C" {
// `used`: only getm's asm text names it, so without this LTO would treat it as unreferenced
// and drop or localise the hidden symbol.
__attribute__((tls_model("initial-exec"), used)) __thread goro::rt::M* goro_rt_tls_m = nullptr;
}

namespace goro::rt {

#if defined(__clang__)
#define GORO_NO_IPA __attribute__((noinline))
#else
#define GORO_NO_IPA __attribute__((noinline, noipa))
#endif

#if !defined(__x86_64__)
GORO_NO_IPA M* getm() {
  // The empty asm keeps even a whole-program optimiser from treating this function as pure.
  asm volatile("" ::: "memory");
  return goro_rt_tls_m;
}
#endif

GORO_NO_IPA void setm(M* mp) {
  asm volatile("" ::: "memory");
  goro_rt_tls_m = mp;
  if (mp != nullptr) {
    mp->errno_location = &errno;
    mp->cxa_globals = abi::__cxa_get_globals();
  }
}

}  // namespace goro::rt
