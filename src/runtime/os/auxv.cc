#include "runtime/os/auxv.h"

#include <sys/auxv.h>
#include <unistd.h>

namespace goro::rt::os {
namespace {

// The smallest page size on x86-64 and AArch64 Linux, for the case where both sources fail.
constexpr std::size_t kFallbackPageSize = 4096;

}  // namespace

auxv_info read_auxv() {
  auxv_info info;

  info.page_size = static_cast<std::size_t>(getauxval(AT_PAGESZ));
  if (info.page_size == 0) {
    // Only a kernel that omits AT_PAGESZ gets here. sysconf then reads glibc's own copy.
    long size = sysconf(_SC_PAGESIZE);
    info.page_size = size > 0 ? static_cast<std::size_t>(size) : kFallbackPageSize;
  }

  info.random16 = reinterpret_cast<const unsigned char*>(getauxval(AT_RANDOM));
  info.secure = getauxval(AT_SECURE) != 0;
  info.hwcap = static_cast<std::uintptr_t>(getauxval(AT_HWCAP));
  return info;
}

}  // namespace goro::rt::os
