#include "primes.h"

#include <cmath>

namespace demo {

std::vector<std::uint32_t> primes_below(std::uint32_t limit) {
  std::vector<bool> composite(limit, false);
  std::vector<std::uint32_t> primes;
  for (std::uint64_t i = 2; i < limit; ++i) {
    if (composite[i]) continue;
    primes.push_back(static_cast<std::uint32_t>(i));
    for (std::uint64_t j = i * i; j < limit; j += i) composite[j] = true;
  }
  return primes;
}

std::uint64_t count_primes_in(std::uint64_t lo, std::uint64_t hi,
                              const std::vector<std::uint32_t>& base_primes) {
  if (lo < 2) lo = 2;
  if (hi <= lo) return 0;
  std::vector<char> composite(hi - lo, 0);
  for (std::uint64_t p : base_primes) {
    if (p * p >= hi) break;
    // Start at the first multiple of p that is >= lo and >= p*p: smaller multiples of p
    // have a smaller prime factor, which crossed them off already.
    std::uint64_t first = (lo + p - 1) / p * p;
    if (first < p * p) first = p * p;
    for (std::uint64_t m = first; m < hi; m += p) composite[m - lo] = 1;
  }
  std::uint64_t count = 0;
  for (char c : composite) count += c == 0 ? 1 : 0;
  return count;
}

}  // namespace demo
