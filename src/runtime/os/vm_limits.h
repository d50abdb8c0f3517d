// Kernel memory-management limits the stack and heap layers size themselves by.
//
// Model: each value is one number in a /proc or /sys file, read once at start-up (Go reads
// hpage_pmd_size in osinit). `root` is "/" in production and a fake tree in tests.
#pragma once

#include <cstddef>

namespace goro::rt::os {

// vm.max_map_count's kernel default (DEFAULT_MAX_MAP_COUNT), used when the file is unreadable.
inline constexpr long kDefaultMaxMapCount = 65530;

// Returns the transparent huge page size in bytes from
// <root>/sys/kernel/mm/transparent_hugepage/hpage_pmd_size, or 0 if the file is absent or
// malformed (THP compiled out, or an unusual kernel).
std::size_t huge_page_size(const char* root = "/");

// Returns the per-process limit on memory mappings from <root>/proc/sys/vm/max_map_count, or
// kDefaultMaxMapCount if the file is unreadable or malformed. Every guard page splits a
// mapping, so this bounds how many guarded stacks can exist.
long max_map_count(const char* root = "/");

}  // namespace goro::rt::os
