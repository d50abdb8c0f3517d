#include "runtime/os/vm_limits.h"

#include <cstdint>

#include "runtime/os/kernel_text.h"

namespace goro::rt::os {
namespace {

// Both files hold one decimal number and a newline.
constexpr std::size_t kNumberFileBytes = 32;

// Reads one decimal number from <root><path>; returns false if absent or malformed.
bool read_number_file(const char* root, std::string_view path, std::int64_t* value) {
  char buffer[kNumberFileBytes];
  long n = read_small_file(root, path, buffer, sizeof buffer);
  if (n < 0) return false;
  return parse_int64(trim_newline(std::string_view(buffer, static_cast<std::size_t>(n))), value);
}

}  // namespace

std::size_t huge_page_size(const char* root) {
  std::int64_t bytes;
  if (!read_number_file(root, "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", &bytes) ||
      bytes <= 0) {
    return 0;
  }
  return static_cast<std::size_t>(bytes);
}

long max_map_count(const char* root) {
  std::int64_t count;
  if (!read_number_file(root, "/proc/sys/vm/max_map_count", &count) || count <= 0) {
    return kDefaultMaxMapCount;
  }
  return static_cast<long>(count);
}

}  // namespace goro::rt::os
