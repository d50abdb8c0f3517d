// The current M, found through thread-local storage.
//
// A goroutine can resume on another thread after any scheduling point. If the compiler kept
// the address of a thread_local (or the value read through it) in a register across such a
// point, the goroutine would go on using the old thread's copy. getm() is therefore a real
// call into this file, which is never inlined into its callers and is compiled without LTO,
// so every call reads the TLS of the thread that makes it.
#include <cerrno>
#include <cxxabi.h>

#include "runtime/sched/sched.h"

namespace goro::rt {

namespace {
// Owned by the thread itself: written once when the thread becomes an M (and cleared when it
// stops being one), read only by that thread. initial-exec: goro is linked into the program
// (or a library loaded at start-up), so the variable sits in static TLS and is read with one
// %fs-relative load instead of a __tls_get_addr call.
__attribute__((tls_model("initial-exec"))) thread_local M* tls_m = nullptr;
}  // namespace

#if defined(__clang__)
#define GORO_NO_IPA __attribute__((noinline))
#else
#define GORO_NO_IPA __attribute__((noinline, noipa))
#endif

GORO_NO_IPA M* getm() {
  // The empty asm keeps even a whole-program optimiser from treating this function as pure.
  asm volatile("" ::: "memory");
  return tls_m;
}

GORO_NO_IPA void setm(M* mp) {
  asm volatile("" ::: "memory");
  tls_m = mp;
  if (mp != nullptr) {
    mp->errno_location = &errno;
    mp->cxa_globals = abi::__cxa_get_globals();
  }
}

GORO_NO_IPA G* getg() {
  asm volatile("" ::: "memory");
  M* mp = tls_m;
  return mp != nullptr ? mp->curg.load(std::memory_order_relaxed) : nullptr;
}

}  // namespace goro::rt
