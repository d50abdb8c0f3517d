// Sleeping on goro's timers. A sleeping goroutine parks (wait reason "sleep") and is woken by
// the per-P timer heap that the scheduler services; no timer thread exists.
#pragma once

#include <chrono>
#include <cstdint>

#include "goro/export.hpp"

namespace goro {

namespace detail {
GORO_EXPORT void sleep_ns(std::int64_t ns);
}

// Pauses the calling goroutine for at least d. A zero or negative d returns at once, as Go's
// time.Sleep does. On a plain thread (not a goroutine) it blocks the thread.
template <class Rep, class Period>
void sleep(std::chrono::duration<Rep, Period> d) {
  auto ns = std::chrono::ceil<std::chrono::nanoseconds>(d).count();
  detail::sleep_ns(static_cast<std::int64_t>(ns));
}

}  // namespace goro
