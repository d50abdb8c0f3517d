// CPU feature detection and the x86-64 micro-architecture level check (Go's GOAMD64 gate).
//
// Model: a binary compiled with -march=x86-64-v2/v3/v4 (or the equivalent -m flags) executes
// instructions that older CPUs lack, and would die with SIGILL somewhere unpredictable. Like Go's
// rt0_go, the bootstrap checks once, before anything else runs, that the CPU has every feature
// of the level the compiler targeted, and otherwise exits with status 1 and a message naming the
// level and the first missing feature.
//
//   * The level comes from the compiler's feature macros, because GCC 12 has no
//     __x86_64_v3__ macro. v2 needs __SSE3__ __SSSE3__ __SSE4_1__ __SSE4_2__ __POPCNT__
//     __LAHF_SAHF__ and 16-byte compare-and-swap. v3 adds __AVX__ __AVX2__ __BMI__ __BMI2__
//     __F16C__ __FMA__ __LZCNT__ __MOVBE__. v4 adds __AVX512F__ __AVX512BW__ __AVX512CD__
//     __AVX512DQ__ __AVX512VL__.
//   * The features come from CPUID leaves 1, 7 and 0x80000001. AVX and AVX-512 also need the OS
//     to save the wider registers on a context switch, which XGETBV(0) reports (XCR0 bits 1-2
//     for YMM, bits 5-7 for the opmask and ZMM state), and XGETBV exists only if OSXSAVE is set.
//   * On other architectures nothing is detected and nothing is required.
#pragma once

#include <cstdint>

namespace goro::rt::os {

// One bit per feature. The order inside each level is the order in which the check reports a
// missing feature.
enum class cpu_feature : std::uint32_t {
  // x86-64-v2
  cmpxchg16b,
  lahf_sahf,
  popcnt,
  sse3,
  sse41,
  sse42,
  ssse3,
  // x86-64-v3
  avx,
  avx2,
  bmi1,
  bmi2,
  f16c,
  fma,
  lzcnt,
  movbe,
  osxsave,
  os_ymm_state,  // XCR0 reports that the OS saves SSE and AVX (YMM) registers
  // x86-64-v4
  avx512f,
  avx512bw,
  avx512cd,
  avx512dq,
  avx512vl,
  os_zmm_state,  // XCR0 reports that the OS saves opmask and ZMM registers
  // Not part of a level.
  aes,
  count,
};

// A set of detected (or, in tests, invented) CPU features.
struct cpu_feature_set {
  std::uint32_t bits = 0;

  bool has(cpu_feature feature) const {
    return (bits >> static_cast<std::uint32_t>(feature)) & 1u;
  }
  cpu_feature_set& add(cpu_feature feature) {
    bits |= std::uint32_t{1} << static_cast<std::uint32_t>(feature);
    return *this;
  }
  cpu_feature_set& remove(cpu_feature feature) {
    bits &= ~(std::uint32_t{1} << static_cast<std::uint32_t>(feature));
    return *this;
  }
};

static_assert(static_cast<std::uint32_t>(cpu_feature::count) <= 32, "cpu_feature_set is 32 bits");

// Returns the x86-64 micro-architecture level (1 to 4) this file was compiled for, from the
// compiler's feature macros; 1 on other architectures.
int compiled_microarchitecture_level();

// Returns the features of the running CPU (empty on other architectures).
cpu_feature_set detect_cpu_features();

// Returns the features a binary of `level` (1 to 4) requires.
cpu_feature_set required_cpu_features(int level);

// Returns the name of the first feature that `level` requires and `have` lacks, or nullptr.
const char* missing_cpu_feature(int level, cpu_feature_set have);

// missing_cpu_feature for this binary's level and the running CPU.
const char* missing_cpu_feature();

// Writes "This program can only be run on AMD64 processors with v<level> microarchitecture
// support (missing <feature>)." to fd 2 and calls _exit(1) if `have` lacks a feature of
// `level`; otherwise returns.
void check_cpu_features_or_exit(int level, cpu_feature_set have);

// check_cpu_features_or_exit for this binary's level and the running CPU.
void check_cpu_or_exit();

// Returns true if the CPU has AES-NI (and SSE4.1, which the AES hash also uses).
bool cpu_has_aes();

// Returns a feature's name as printed in the level-check message, for example "SSE4.2".
const char* cpu_feature_name(cpu_feature feature);

}  // namespace goro::rt::os
