// System calls made directly, without libc, for the runtime's own use during boot and exit.
//
// Why. In a dynamically linked program, the first call of each libc function goes through
// the PLT to the dynamic loader's lazy binding, which costs 650 to 800 instructions
// (callgrind 3.19, glibc 2.36, x86-64). An empty goro program made about 20 such first calls
// during boot and exit, so direct system calls for the simple cases (mmap, madvise,
// sigaltstack, fcntl, ...) are a measurable part of its start-up cost.
//
// Contract. raw_syscall returns what the kernel returns: a non-negative result, or -errno on
// failure. It never reads or writes errno, so callers report the negated result. Use it only
// for system calls whose libc wrapper adds nothing the runtime relies on: not for
// sigaction (the wrapper installs the signal-return trampoline), clone, exit, or calls
// that libc caches (getpid is not cached by glibc 2.25 and later). On architectures without
// an inline sequence here, and in sanitizer builds, it calls libc's syscall(2) instead.
// raw_mmap, raw_munmap and raw_madvise call the libc functions in sanitizer builds, because
// the sanitizer runtimes intercept those functions (not syscall(2)) to keep their shadow
// memory right.
#pragma once

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GORO_RAW_SYSCALL_VIA_LIBC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define GORO_RAW_SYSCALL_VIA_LIBC 1
#endif
#endif

namespace goro::rt::os {

#if defined(__x86_64__) && !defined(GORO_RAW_SYSCALL_VIA_LIBC)

// x86-64 Linux system call ABI: the number goes in rax and the arguments in rdi, rsi, rdx,
// r10, r8 and r9. The kernel returns in rax and clobbers rcx and r11.
inline long raw_syscall(long number, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0,
                        long a4 = 0, long a5 = 0) {
  register long r10 __asm__("r10") = a3;
  register long r8 __asm__("r8") = a4;
  register long r9 __asm__("r9") = a5;
  long result;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return result;
}

#elif defined(__aarch64__) && !defined(GORO_RAW_SYSCALL_VIA_LIBC)

// AArch64 Linux system call ABI: the number goes in x8 and the arguments in x0 to x5. The
// kernel returns in x0 and preserves every other register.
inline long raw_syscall(long number, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0,
                        long a4 = 0, long a5 = 0) {
  register long x8 __asm__("x8") = number;
  register long x0 __asm__("x0") = a0;
  register long x1 __asm__("x1") = a1;
  register long x2 __asm__("x2") = a2;
  register long x3 __asm__("x3") = a3;
  register long x4 __asm__("x4") = a4;
  register long x5 __asm__("x5") = a5;
  __asm__ volatile("svc #0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
}

#else

inline long raw_syscall(long number, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0,
                        long a4 = 0, long a5 = 0) {
  int saved_errno = errno;
  long result = ::syscall(number, a0, a1, a2, a3, a4, a5);
  if (result == -1) result = -errno;
  errno = saved_errno;
  return result;
}

#endif

// Converts a pointer argument for raw_syscall.
template <typename T>
inline long syscall_arg(T* pointer) {
  return reinterpret_cast<long>(pointer);
}

// mmap(2): the mapping's address, or -errno (the kernel never maps at the top 4 KiB of the
// address space, so an address cannot look negative).
inline long raw_mmap(void* address, std::size_t length, int protection, int flags, int fd,
                     off_t offset) {
#if defined(GORO_RAW_SYSCALL_VIA_LIBC)
  void* mapped = ::mmap(address, length, protection, flags, fd, offset);
  return mapped == MAP_FAILED ? -errno : syscall_arg(mapped);
#else
  return raw_syscall(SYS_mmap, syscall_arg(address), static_cast<long>(length), protection,
                     flags, fd, offset);
#endif
}

// munmap(2): 0 or -errno.
inline long raw_munmap(void* address, std::size_t length) {
#if defined(GORO_RAW_SYSCALL_VIA_LIBC)
  return ::munmap(address, length) == 0 ? 0 : -errno;
#else
  return raw_syscall(SYS_munmap, syscall_arg(address), static_cast<long>(length));
#endif
}

// madvise(2): 0 or -errno.
inline long raw_madvise(void* address, std::size_t length, int advice) {
#if defined(GORO_RAW_SYSCALL_VIA_LIBC)
  return ::madvise(address, length, advice) == 0 ? 0 : -errno;
#else
  return raw_syscall(SYS_madvise, syscall_arg(address), static_cast<long>(length), advice);
#endif
}

}  // namespace goro::rt::os
