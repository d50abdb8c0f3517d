#include "runtime/os/hash.h"

#include <atomic>
#include <cstring>
#include <ctime>
#include <sys/random.h>

#include "runtime/os/raw_syscall.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace goro::rt::os {
namespace {

__extension__ typedef unsigned __int128 uint128;

// Keys before alginit: arbitrary odd constants (digits of pi), so memhash works, without
// run-to-run variation, in code that runs before the bootstrap.
struct hash_state {
  std::uint64_t key[4] = {0x243f6a8885a308d3, 0x13198a2e03707345, 0xa4093822299f31d1,
                          0x082efa98ec4e6c89};
  bool use_aes = false;
  bool seeded = false;
};

// Written only by the first alginit, before other threads exist; read-only afterwards.
hash_state g_hash;

// Hands each thread's fastrand a distinct starting point; relaxed, since only uniqueness of
// the returned values matters.
std::atomic<std::uint64_t> g_fastrand_streams{0};

// The state of the calling thread's fastrand generator; 0 means not seeded yet.
thread_local std::uint64_t t_fastrand_state = 0;

// Increments of the Weyl sequence behind fastrand and the salt of its output mix: two odd
// 64-bit constants with well-spread bits, as in the wyrand generator.
constexpr std::uint64_t kWeylIncrement = 0xa0761d6478bd642f;
constexpr std::uint64_t kOutputSalt = 0xe7037ed1a0b428db;
// 2^64 / golden ratio, to spread consecutive stream numbers over the state space.
constexpr std::uint64_t kGoldenGamma = 0x9e3779b97f4a7c15;

// Multiplies to 128 bits and folds the halves: the mixing step of wyhash-style hashes.
inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) {
  uint128 product = static_cast<uint128>(a) * b;
  return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}

inline std::uint64_t load64(const unsigned char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline std::uint64_t load32(const unsigned char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// One step of the SplitMix64 generator (Steele, Lea and Flood, 2014, with its published
// multipliers): turns raw random bytes, or a clock, into well-mixed keys.
std::uint64_t splitmix(std::uint64_t* state) {
  std::uint64_t z = (*state += kGoldenGamma);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

}  // namespace

void alginit(const unsigned char* random16, bool use_aes) {
  if (g_hash.seeded) return;

  // Without AT_RANDOM, getrandom(2) is called directly: libc's wrapper alone would make every
  // goro executable require glibc 2.25's symbol version, which the loader checks at each start.
  unsigned char bytes[16];
  if (random16 != nullptr) {
    std::memcpy(bytes, random16, sizeof bytes);
  } else if (raw_syscall(SYS_getrandom, syscall_arg(bytes), sizeof bytes, GRND_NONBLOCK) !=
             static_cast<long>(sizeof bytes)) {
    // No AT_RANDOM and no entropy yet: the clocks still make runs differ.
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    std::uint64_t a = static_cast<std::uint64_t>(now.tv_sec) * 1000000000u +
                      static_cast<std::uint64_t>(now.tv_nsec);
    clock_gettime(CLOCK_MONOTONIC, &now);
    // The stack address adds ASLR's randomness.
    std::uint64_t b = static_cast<std::uint64_t>(now.tv_nsec) ^
                      static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&now));
    std::memcpy(bytes, &a, 8);
    std::memcpy(bytes + 8, &b, 8);
  }

  std::uint64_t state = load64(bytes) ^ fold_multiply(load64(bytes + 8), kOutputSalt);
  for (std::uint64_t& key : g_hash.key) key = splitmix(&state);
  g_hash.use_aes = use_aes;
  g_hash.seeded = true;
}

bool hash_uses_aes() { return g_hash.use_aes; }

std::uint64_t memhash_portable(const void* data, std::size_t size, std::uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  const std::uint64_t* key = g_hash.key;
  std::uint64_t h = fold_multiply(seed ^ key[0], static_cast<std::uint64_t>(size) ^ key[1]);

  // Inputs up to 16 bytes are read as two possibly overlapping words. Longer ones are folded
  // in 16-byte blocks, and the last 16 bytes (possibly overlapping the blocks) form the tail.
  // The size is already in h, so overlapping reads cannot make inputs of different sizes
  // collide.
  std::uint64_t a;
  std::uint64_t b;
  if (size <= 16) {
    if (size >= 8) {
      a = load64(p);
      b = load64(p + size - 8);
    } else if (size >= 4) {
      a = load32(p);
      b = load32(p + size - 4);
    } else if (size > 0) {
      a = (std::uint64_t{p[0]} << 16) | (std::uint64_t{p[size / 2]} << 8) | p[size - 1];
      b = 0;
    } else {
      a = 0;
      b = 0;
    }
  } else {
    std::size_t left = size;
    while (left > 16) {
      h = fold_multiply(load64(p) ^ key[2], load64(p + 8) ^ h);
      p += 16;
      left -= 16;
    }
    a = load64(p + left - 16);
    b = load64(p + left - 8);
  }
  h = fold_multiply(a ^ key[3], b ^ h);
  return fold_multiply(h ^ key[0], static_cast<std::uint64_t>(size) ^ key[2]);
}

#if defined(__x86_64__)

__attribute__((target("aes,sse4.1"))) std::uint64_t memhash_aes(const void* data,
                                                                 std::size_t size,
                                                                 std::uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  const __m128i key0 = _mm_set_epi64x(static_cast<long long>(g_hash.key[1]),
                                      static_cast<long long>(g_hash.key[0]));
  const __m128i key1 = _mm_set_epi64x(static_cast<long long>(g_hash.key[3]),
                                      static_cast<long long>(g_hash.key[2]));

  // The state starts from the seed and the size, so the overlapping tail read below cannot
  // make inputs of different sizes collide.
  __m128i state = _mm_set_epi64x(static_cast<long long>(size), static_cast<long long>(seed));
  state = _mm_aesenc_si128(_mm_xor_si128(state, key0), key1);

  // Two AES rounds per 16-byte block spread every input bit over the whole state before the
  // next block comes in. Three more rounds at the end finish the avalanche.
  __m128i last;
  if (size <= 16) {
    // Copy instead of loading 16 bytes, which could cross into an unmapped page.
    alignas(16) unsigned char buffer[16] = {};
    if (size > 0) std::memcpy(buffer, p, size);  // `data` may be null when size is 0
    last = _mm_load_si128(reinterpret_cast<const __m128i*>(buffer));
  } else {
    std::size_t left = size;
    while (left > 16) {
      __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      state = _mm_aesenc_si128(_mm_xor_si128(state, block), key0);
      state = _mm_aesenc_si128(state, key1);
      p += 16;
      left -= 16;
    }
    last = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + left - 16));
  }
  state = _mm_aesenc_si128(_mm_xor_si128(state, last), key0);
  state = _mm_aesenc_si128(state, key1);
  state = _mm_aesenc_si128(state, key0);
  return static_cast<std::uint64_t>(_mm_cvtsi128_si64(state)) ^
         static_cast<std::uint64_t>(_mm_extract_epi64(state, 1));
}

#else

std::uint64_t memhash_aes(const void* data, std::size_t size, std::uint64_t seed) {
  // No AES variant on this architecture; alginit never selects it (cpu_has_aes is false).
  return memhash_portable(data, size, seed);
}

#endif

std::uint64_t memhash(const void* data, std::size_t size, std::uint64_t seed) {
  return g_hash.use_aes ? memhash_aes(data, size, seed) : memhash_portable(data, size, seed);
}

// noinline keeps the thread_local's address from being computed in a caller (with LTO) and
// reused after that caller's goroutine has moved to another thread.
__attribute__((noinline)) std::uint64_t fastrand() {
  std::uint64_t state = t_fastrand_state;
  if (state == 0) {
    std::uint64_t stream = g_fastrand_streams.fetch_add(1, std::memory_order_relaxed) + 1;
    state = g_hash.key[1] ^ (stream * kGoldenGamma);
  }
  state += kWeylIncrement;
  t_fastrand_state = state;
  return fold_multiply(state, state ^ kOutputSalt);
}

std::uint32_t fastrandn(std::uint32_t n) {
  std::uint64_t bits = static_cast<std::uint32_t>(fastrand());
  return static_cast<std::uint32_t>((bits * n) >> 32);
}

}  // namespace goro::rt::os
