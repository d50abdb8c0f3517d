// The runtime's seeded hash and cheap per-thread random numbers (Go's alginit, memhash and
// cheaprand).
//
// Model: alginit runs once during the bootstrap, before a second thread exists. It draws four
// 64-bit keys from the kernel's AT_RANDOM bytes, so hash values differ between runs and an
// attacker cannot precompute colliding keys, and it picks the AES-NI hash when the CPU has
// AES-NI and SSE4.1. After that the keys and the choice are read-only, so memhash reads them
// without synchronisation (thread creation orders those writes before any other thread's
// reads).
//
//   * memhash is for hash tables, not cryptography. Equal inputs with equal seeds give equal
//     results within one process; results change from run to run.
//   * The AES variant is compiled with a target attribute, so the binary still runs on CPUs
//     without AES-NI; it is only called when alginit found the instructions.
//   * fastrand keeps its state per OS thread. The state is read and written only inside one
//     call, which cannot park the goroutine, so a goroutine that moves to another thread
//     between two calls just draws from the other thread's stream.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goro::rt::os {

// Seeds the hash keys from 16 random bytes (nullptr: from getrandom, else from clocks) and
// selects the AES-NI hash if `use_aes` (callers pass cpu_has_aes()). Only the first call in a
// process has an effect: tables built by an earlier goro::run keep their hash.
void alginit(const unsigned char* random16, bool use_aes);

// Hashes `size` bytes at `data` with `seed`, using the variant chosen by alginit (the portable
// one before alginit).
std::uint64_t memhash(const void* data, std::size_t size, std::uint64_t seed);

// The two variants, for tests and benchmarks. memhash_aes must only be called when
// cpu_has_aes() is true.
std::uint64_t memhash_portable(const void* data, std::size_t size, std::uint64_t seed);
std::uint64_t memhash_aes(const void* data, std::size_t size, std::uint64_t seed);

// Returns true if alginit chose the AES-NI variant.
bool hash_uses_aes();

// Returns 64 pseudo-random bits from the calling thread's generator, seeded from the hash keys
// on first use (steal order, select order). Not for cryptography.
std::uint64_t fastrand();

// Returns a pseudo-random number in [0, n) for n > 0, by multiply-shift (no division).
std::uint32_t fastrandn(std::uint32_t n);

}  // namespace goro::rt::os
