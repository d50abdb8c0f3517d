// Test helper: whether a page of the process is in memory.
#pragma once

#include <sys/mman.h>

#include <cstdint>

namespace goro_test {

// True if the page that contains `addr` is resident (mincore).
inline bool page_resident(std::uintptr_t addr) {
  unsigned char state = 0;
  const std::uintptr_t page = addr & ~std::uintptr_t{4095};
  if (::mincore(reinterpret_cast<void*>(page), 4096, &state) != 0) return false;
  return (state & 1) != 0;
}

}  // namespace goro_test
