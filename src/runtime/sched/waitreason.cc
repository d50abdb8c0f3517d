#include "runtime/sched/waitreason.h"

namespace goro::rt {

namespace {
constexpr std::string_view kStrings[] = {
    "",
    "GC assist marking",
    "IO wait",
    "dumping heap",
    "garbage collection",
    "garbage collection scan",
    "panicwait",
    "GC assist wait",
    "GC sweep wait",
    "GC scavenge wait",
    "finalizer wait",
    "force gc (idle)",
    "GOMAXPROCS updater (idle)",
    "semacquire",
    "sleep",
    "chan receive (nil chan)",
    "chan send (nil chan)",
    "select (no cases)",
    "select",
    "chan receive",
    "chan send",
    "sync.Cond.Wait",
    "sync.Mutex.Lock",
    "sync.RWMutex.RLock",
    "sync.RWMutex.Lock",
    "sync.WaitGroup.Wait",
    "trace reader (blocked)",
    "wait for GC cycle",
    "GC worker (idle)",
    "GC worker (active)",
    "preempted",
    "debug call",
    "GC mark termination",
    "stopping the world",
    "flushing proc caches",
    "trace goroutine status",
    "trace proc status",
    "page trace flush",
    "coroutine",
    "GC weak to strong wait",
    "synctest.Run",
    "synctest.Wait",
    "chan receive (durable)",
    "chan send (durable)",
    "select (durable)",
    "sync.WaitGroup.Wait (durable)",
    "cleanup wait",
    "sync.Once.Do",
};
static_assert(sizeof(kStrings) / sizeof(kStrings[0]) == static_cast<int>(waitreason::count),
              "every waitreason needs a string");
}  // namespace

std::string_view waitreason_string(waitreason r) {
  auto i = static_cast<unsigned>(r);
  if (i >= static_cast<unsigned>(waitreason::count)) return "unknown wait reason";
  return kStrings[i];
}

}  // namespace goro::rt
