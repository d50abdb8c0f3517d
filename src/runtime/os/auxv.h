// The ELF auxiliary vector values the runtime needs at start-up (Go's sysargs/sysauxv).
//
// Model: the kernel passes the auxiliary vector above envp and glibc's getauxval reads it.
// So this is a handful of table look-ups with no system call and no allocation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goro::rt::os {

struct auxv_info {
  std::size_t page_size = 0;                 // AT_PAGESZ, in bytes (sysconf fallback)
  const unsigned char* random16 = nullptr;   // AT_RANDOM: 16 random bytes, or nullptr
  bool secure = false;                       // AT_SECURE: set-user-ID or set-group-ID start
  std::uintptr_t hwcap = 0;                  // AT_HWCAP: architecture feature bits
};

// Reads AT_PAGESZ, AT_RANDOM, AT_SECURE and AT_HWCAP. The AT_RANDOM bytes live in the
// process's initial stack area and stay valid for the life of the process.
auxv_info read_auxv();

}  // namespace goro::rt::os
