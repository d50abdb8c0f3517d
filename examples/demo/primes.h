// Prime counting split into independent pieces, the parallel workload of goro-demo.
#pragma once

#include <cstdint>
#include <vector>

namespace demo {

// Returns the primes below `limit` with a plain sieve of Eratosthenes.
std::vector<std::uint32_t> primes_below(std::uint32_t limit);

// Counts the primes in [lo, hi) with a segmented sieve. `base_primes` must contain every
// prime up to sqrt(hi). Allocates hi - lo bytes on the heap, not on the goroutine's stack.
std::uint64_t count_primes_in(std::uint64_t lo, std::uint64_t hi,
                              const std::vector<std::uint32_t>& base_primes);

}  // namespace demo
