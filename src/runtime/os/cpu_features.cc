#include "runtime/os/cpu_features.h"

#include <iterator>
#include <unistd.h>

#include "runtime/trace/print.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace goro::rt::os {
namespace {

constexpr int kMaxLevel = 4;

// Each level's own features, in reporting order.
constexpr cpu_feature kLevel2Features[] = {
    cpu_feature::cmpxchg16b, cpu_feature::lahf_sahf, cpu_feature::popcnt, cpu_feature::sse3,
    cpu_feature::sse41,      cpu_feature::sse42,     cpu_feature::ssse3,
};
constexpr cpu_feature kLevel3Features[] = {
    cpu_feature::avx,   cpu_feature::avx2,  cpu_feature::bmi1,    cpu_feature::bmi2,
    cpu_feature::f16c,  cpu_feature::fma,   cpu_feature::lzcnt,   cpu_feature::movbe,
    cpu_feature::osxsave, cpu_feature::os_ymm_state,
};
constexpr cpu_feature kLevel4Features[] = {
    cpu_feature::avx512f,  cpu_feature::avx512bw, cpu_feature::avx512cd,
    cpu_feature::avx512dq, cpu_feature::avx512vl, cpu_feature::os_zmm_state,
};

struct level_features {
  const cpu_feature* begin;
  const cpu_feature* end;
};

// Index 0 is level 2.
constexpr level_features kLevelFeatures[] = {
    {std::begin(kLevel2Features), std::end(kLevel2Features)},
    {std::begin(kLevel3Features), std::end(kLevel3Features)},
    {std::begin(kLevel4Features), std::end(kLevel4Features)},
};

#if defined(__x86_64__)

// CPUID leaf 1, ECX.
constexpr unsigned kLeaf1Sse3 = 1u << 0;
constexpr unsigned kLeaf1Ssse3 = 1u << 9;
constexpr unsigned kLeaf1Fma = 1u << 12;
constexpr unsigned kLeaf1Cmpxchg16b = 1u << 13;
constexpr unsigned kLeaf1Sse41 = 1u << 19;
constexpr unsigned kLeaf1Sse42 = 1u << 20;
constexpr unsigned kLeaf1Movbe = 1u << 22;
constexpr unsigned kLeaf1Popcnt = 1u << 23;
constexpr unsigned kLeaf1Aes = 1u << 25;
constexpr unsigned kLeaf1Osxsave = 1u << 27;
constexpr unsigned kLeaf1Avx = 1u << 28;
constexpr unsigned kLeaf1F16c = 1u << 29;
// CPUID leaf 7 subleaf 0, EBX.
constexpr unsigned kLeaf7Bmi1 = 1u << 3;
constexpr unsigned kLeaf7Avx2 = 1u << 5;
constexpr unsigned kLeaf7Bmi2 = 1u << 8;
constexpr unsigned kLeaf7Avx512f = 1u << 16;
constexpr unsigned kLeaf7Avx512dq = 1u << 17;
constexpr unsigned kLeaf7Avx512cd = 1u << 28;
constexpr unsigned kLeaf7Avx512bw = 1u << 30;
constexpr unsigned kLeaf7Avx512vl = 1u << 31;
// CPUID leaf 0x80000001, ECX.
constexpr unsigned kExtLahfSahf = 1u << 0;
constexpr unsigned kExtLzcnt = 1u << 5;  // "ABM" on AMD
// XCR0 state components.
constexpr std::uint64_t kXcr0YmmState = 0x6;   // SSE (bit 1) and AVX (bit 2)
constexpr std::uint64_t kXcr0ZmmState = 0xe0;  // opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7)

std::uint64_t read_xcr0() {
  std::uint32_t low;
  std::uint32_t high;
  // The xgetbv mnemonic needs no -mxsave; the caller has checked OSXSAVE.
  __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (std::uint64_t{high} << 32) | low;
}

#endif  // __x86_64__

}  // namespace

// Each level includes the ones below it, so the macro tests nest.
#if defined(__x86_64__) && defined(__SSE3__) && defined(__SSSE3__) && defined(__SSE4_1__) && \
    defined(__SSE4_2__) && defined(__POPCNT__) && defined(__LAHF_SAHF__) &&                 \
    defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_16)
#if defined(__AVX__) && defined(__AVX2__) && defined(__BMI__) && defined(__BMI2__) && \
    defined(__F16C__) && defined(__FMA__) && defined(__LZCNT__) && defined(__MOVBE__)
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512CD__) && \
    defined(__AVX512DQ__) && defined(__AVX512VL__)
constexpr int kCompiledLevel = 4;
#else
constexpr int kCompiledLevel = 3;
#endif
#else
constexpr int kCompiledLevel = 2;
#endif
#else
constexpr int kCompiledLevel = 1;
#endif

int compiled_microarchitecture_level() { return kCompiledLevel; }

cpu_feature_set detect_cpu_features() {
  cpu_feature_set have;
#if defined(__x86_64__)
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  // GCC's cpuid.h returns unsigned and Clang's int; the values are leaf numbers either way.
  auto max_leaf = static_cast<unsigned>(__get_cpuid_max(0, nullptr));
  auto max_extended_leaf = static_cast<unsigned>(__get_cpuid_max(0x80000000, nullptr));

  if (max_leaf >= 1) {
    __cpuid(1, eax, ebx, ecx, edx);
    struct {
      unsigned bit;
      cpu_feature feature;
    } constexpr kLeaf1[] = {
        {kLeaf1Sse3, cpu_feature::sse3},     {kLeaf1Ssse3, cpu_feature::ssse3},
        {kLeaf1Fma, cpu_feature::fma},       {kLeaf1Cmpxchg16b, cpu_feature::cmpxchg16b},
        {kLeaf1Sse41, cpu_feature::sse41},   {kLeaf1Sse42, cpu_feature::sse42},
        {kLeaf1Movbe, cpu_feature::movbe},   {kLeaf1Popcnt, cpu_feature::popcnt},
        {kLeaf1Aes, cpu_feature::aes},       {kLeaf1Osxsave, cpu_feature::osxsave},
        {kLeaf1Avx, cpu_feature::avx},       {kLeaf1F16c, cpu_feature::f16c},
    };
    for (const auto& entry : kLeaf1) {
      if (ecx & entry.bit) have.add(entry.feature);
    }
  }

  if (max_leaf >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    struct {
      unsigned bit;
      cpu_feature feature;
    } constexpr kLeaf7[] = {
        {kLeaf7Bmi1, cpu_feature::bmi1},         {kLeaf7Avx2, cpu_feature::avx2},
        {kLeaf7Bmi2, cpu_feature::bmi2},         {kLeaf7Avx512f, cpu_feature::avx512f},
        {kLeaf7Avx512dq, cpu_feature::avx512dq}, {kLeaf7Avx512cd, cpu_feature::avx512cd},
        {kLeaf7Avx512bw, cpu_feature::avx512bw}, {kLeaf7Avx512vl, cpu_feature::avx512vl},
    };
    for (const auto& entry : kLeaf7) {
      if (ebx & entry.bit) have.add(entry.feature);
    }
  }

  if (max_extended_leaf >= 0x80000001) {
    __cpuid(0x80000001, eax, ebx, ecx, edx);
    if (ecx & kExtLahfSahf) have.add(cpu_feature::lahf_sahf);
    if (ecx & kExtLzcnt) have.add(cpu_feature::lzcnt);
  }

  if (have.has(cpu_feature::osxsave)) {
    std::uint64_t xcr0 = read_xcr0();
    if ((xcr0 & kXcr0YmmState) == kXcr0YmmState) {
      have.add(cpu_feature::os_ymm_state);
      if ((xcr0 & kXcr0ZmmState) == kXcr0ZmmState) have.add(cpu_feature::os_zmm_state);
    }
  }
#endif
  return have;
}

cpu_feature_set required_cpu_features(int level) {
  cpu_feature_set required;
  for (int l = 2; l <= level && l <= kMaxLevel; ++l) {
    const level_features& features = kLevelFeatures[l - 2];
    for (const cpu_feature* f = features.begin; f != features.end; ++f) required.add(*f);
  }
  return required;
}

const char* missing_cpu_feature(int level, cpu_feature_set have) {
  for (int l = 2; l <= level && l <= kMaxLevel; ++l) {
    const level_features& features = kLevelFeatures[l - 2];
    for (const cpu_feature* f = features.begin; f != features.end; ++f) {
      if (!have.has(*f)) return cpu_feature_name(*f);
    }
  }
  return nullptr;
}

const char* missing_cpu_feature() {
  int level = compiled_microarchitecture_level();
  if (level <= 1) return nullptr;  // skip CPUID entirely: nothing is required
  return missing_cpu_feature(level, detect_cpu_features());
}

void check_cpu_features_or_exit(int level, cpu_feature_set have) {
  const char* missing = missing_cpu_feature(level, have);
  if (missing == nullptr) return;

  stack_line<192> message;
  message.str("This program can only be run on AMD64 processors with v")
      .dec(level)
      .str(" microarchitecture support (missing ")
      .str(missing)
      .str(").\n");
  message.flush(2);
  _exit(1);
}

void check_cpu_or_exit() {
  int level = compiled_microarchitecture_level();
  if (level <= 1) return;
  check_cpu_features_or_exit(level, detect_cpu_features());
}

bool cpu_has_aes() {
  cpu_feature_set have = detect_cpu_features();
  return have.has(cpu_feature::aes) && have.has(cpu_feature::sse41);
}

const char* cpu_feature_name(cpu_feature feature) {
  switch (feature) {
    case cpu_feature::cmpxchg16b: return "CMPXCHG16B";
    case cpu_feature::lahf_sahf: return "LAHF-SAHF";
    case cpu_feature::popcnt: return "POPCNT";
    case cpu_feature::sse3: return "SSE3";
    case cpu_feature::sse41: return "SSE4.1";
    case cpu_feature::sse42: return "SSE4.2";
    case cpu_feature::ssse3: return "SSSE3";
    case cpu_feature::avx: return "AVX";
    case cpu_feature::avx2: return "AVX2";
    case cpu_feature::bmi1: return "BMI1";
    case cpu_feature::bmi2: return "BMI2";
    case cpu_feature::f16c: return "F16C";
    case cpu_feature::fma: return "FMA";
    case cpu_feature::lzcnt: return "LZCNT";
    case cpu_feature::movbe: return "MOVBE";
    case cpu_feature::osxsave: return "OSXSAVE";
    case cpu_feature::os_ymm_state: return "OS support for AVX registers";
    case cpu_feature::avx512f: return "AVX512F";
    case cpu_feature::avx512bw: return "AVX512BW";
    case cpu_feature::avx512cd: return "AVX512CD";
    case cpu_feature::avx512dq: return "AVX512DQ";
    case cpu_feature::avx512vl: return "AVX512VL";
    case cpu_feature::os_zmm_state: return "OS support for AVX-512 registers";
    case cpu_feature::aes: return "AES";
    case cpu_feature::count: break;
  }
  return "unknown";
}

}  // namespace goro::rt::os
