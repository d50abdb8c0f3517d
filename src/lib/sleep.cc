// goro::sleep: parks the goroutine on a timer in the current P's heap.
#include <cerrno>
#include <ctime>

#include "goro/time.hpp"
#include "runtime/os/futex.h"
#include "runtime/sched/sched.h"
#include "runtime/time/timer.h"
#include "runtime/time/timer.h"

namespace goro::detail {

namespace {

void wake_sleeper(rt::timer* t, void* arg, std::int64_t now) {
  (void)t;
  (void)now;
  rt::ready(static_cast<rt::G*>(arg));
}

// Runs after the sleeper's registers are saved, so the timer cannot ready it earlier.
bool arm_sleep_timer(rt::G* gp, void* arg) {
  (void)gp;
  rt::addtimer(static_cast<rt::timer*>(arg));
  return true;
}

}  // namespace

void sleep_ns(std::int64_t ns) {
  if (ns <= 0) return;
  rt::G* gp = rt::getg();
  if (gp == nullptr) {
    // A plain thread blocks itself; EINTR restarts with the remaining time, so the sleep
    // never returns early.
    timespec request{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, 0, &request, &request) == EINTR) {
    }
    return;
  }
  rt::timer t;
  t.when = rt::when_after(rt::os::nanotime(), ns);
  t.f = &wake_sleeper;
  t.arg = gp;
  rt::park(rt::waitreason::sleep, &arm_sleep_timer, &t);
}

}  // namespace goro::detail
