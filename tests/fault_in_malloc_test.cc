// A fault inside malloc still gets its report.
//
// Heap corruption is a common way for a C++ program to crash, and the fault then often lands
// inside malloc or free while they hold the arena lock. A report that calls malloc itself,
// for example to demangle a function name, deadlocks there and the program hangs without a
// word. This binary replaces malloc, calloc, realloc and free (glibc lets an executable do
// that) with versions that forward to glibc's. Armed, malloc faults while it holds the
// "arena", as corrupted heap metadata would make it. From then on any call into them comes
// from the report, and it ends the child with a message instead of hanging.
//
// The sanitizers replace malloc themselves, so under them this binary keeps glibc's and
// skips its test.
#include <gtest/gtest.h>

#include <cstddef>
#include <string>

#include <unistd.h>

#include "child_process.h"
#include "goro/runtime.hpp"
#include "goro/sync.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GORO_TEST_OWN_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GORO_TEST_OWN_MALLOC 0
#endif
#endif
#ifndef GORO_TEST_OWN_MALLOC
#define GORO_TEST_OWN_MALLOC 1
#endif

namespace {

// Per thread, because other threads (an M starting, say) allocate meanwhile, and a real
// arena lock would not stop the report by blocking them.
//   fault_armed: set by the scenario's goroutine just before its last allocation, which
//     then faults as if a corrupted chunk header had been read, with the "arena" held. No
//     scheduling point lies between, so the goroutine is still on the thread.
//   arena_held: set by that faulting allocation; an allocator call on the thread after it
//     comes from the report.
thread_local bool fault_armed = false;

#if GORO_TEST_OWN_MALLOC
thread_local bool arena_held = false;

// Reports an allocator call from the fault report and ends the child with status 3, where
// a real arena lock would deadlock.
void allocator_called_by_report() {
  static constexpr char kMessage[] = "fault_in_malloc_test: the fault report called the "
                                     "allocator while the arena lock was held\n";
  ssize_t ignored = ::write(2, kMessage, sizeof kMessage - 1);
  (void)ignored;
  ::_exit(3);
}
#endif

}  // namespace

#if GORO_TEST_OWN_MALLOC
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void __libc_free(void* p);

void* malloc(std::size_t size) {
  if (arena_held) allocator_called_by_report();
  if (fault_armed) {
    arena_held = true;
    // The fault a corrupted chunk header causes: a load through a bad pointer.
    return *static_cast<void* volatile*>(nullptr);
  }
  return __libc_malloc(size);
}

void* calloc(std::size_t count, std::size_t size) {
  if (arena_held) allocator_called_by_report();
  return __libc_calloc(count, size);
}

void* realloc(void* p, std::size_t size) {
  if (arena_held) allocator_called_by_report();
  return __libc_realloc(p, size);
}

void free(void* p) {
  if (arena_held) allocator_called_by_report();
  __libc_free(p);
}
}  // extern "C"
#endif

namespace fault_in_malloc_test {

// The frame the report must name, demangled. Not inlined, so it has a frame of its own.
[[gnu::noinline]] void* allocate_after_arming(std::size_t size) {
  fault_armed = true;
  void* (*volatile allocate)(std::size_t) = &::malloc;
  return allocate(size);
}

}  // namespace fault_in_malloc_test

namespace {

GORO_CHILD_SCENARIO(fault_in_malloc) {
  return goro::run(0, nullptr, [] {
    goro::wait_group wg;
    wg.add(1);
    goro::go([&wg] {
      void* p = fault_in_malloc_test::allocate_after_arming(64);
      ::free(p);
      wg.done();
    });
    wg.wait();
    return 0;
  });
}

TEST(FaultInMalloc, ReportNeedsNoAllocator) {
  if (!GORO_TEST_OWN_MALLOC) GTEST_SKIP() << "the sanitizer owns malloc";
  if (!GORO_TEST_STATIC_LIBSTDCXX) {
    GTEST_SKIP() << "with the shared libstdc++, names are demangled with abi::__cxa_demangle, "
                    "which calls malloc (symbolize.h)";
  }
  const goro_test::child_result r = goro_test::run_child("fault_in_malloc");
  ASSERT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 2) << goro_test::describe(r);
  EXPECT_NE(r.err.find("panic: runtime error: invalid memory address or nil pointer "
                       "dereference\n[signal SIGSEGV: segmentation violation"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("[running]:\n"), std::string::npos) << r.err;
  // The frames inside malloc and the caller's, with its demangled name.
  EXPECT_NE(r.err.find("\nmalloc()\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\nfault_in_malloc_test::allocate_after_arming(unsigned long)\n"),
            std::string::npos)
      << r.err;
}

}  // namespace
