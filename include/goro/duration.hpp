// goro::detail::to_ns: the conversion of a std::chrono duration to the runtime's int64
// nanoseconds, shared by the timer and sync headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <ratio>

namespace goro::detail {

// Returns d in nanoseconds, rounded up, and capped at the int64 range (about 292 years
// either way), so that a duration too long to represent waits forever instead of wrapping
// to the past.
template <class Rep, class Period>
std::int64_t to_ns(std::chrono::duration<Rep, Period> d) {
  // Compared as long double, whose range covers any Rep and Period. The cap is a little
  // inside the int64 range, so the conversion below cannot overflow either.
  const long double ns = std::chrono::duration<long double, std::nano>(d).count();
  if (ns >= 9.2e18L) return INT64_MAX;
  if (ns <= -9.2e18L) return INT64_MIN;
  return static_cast<std::int64_t>(std::chrono::ceil<std::chrono::nanoseconds>(d).count());
}

}  // namespace goro::detail
