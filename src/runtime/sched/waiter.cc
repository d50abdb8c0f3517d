#include "runtime/sched/waiter.h"

#include "goro/runtime.hpp"

#include "runtime/os/futex.h"
#include "runtime/pprof/contention.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"

namespace goro::rt {

namespace {

// Registered plain threads, per thread: whether this thread counts in sched.nplain_active.
struct plain_registration {
  bool registered = false;
  // Set by plain_thread_exclude: `registered` is true but the thread was never counted.
  bool excluded = false;
  ~plain_registration() {
    if (registered && !excluded) sched.nplain_active.fetch_sub(1, std::memory_order_acq_rel);
  }
};
thread_local plain_registration plain_thread;

struct unlock_bridge {
  bool (*unlockf)(void*);
  void* arg;
};

bool run_unlock(G* gp, void* arg) {
  (void)gp;
  auto* bridge = static_cast<unlock_bridge*>(arg);
  return bridge->unlockf == nullptr || bridge->unlockf(bridge->arg);
}

}  // namespace

bool on_goroutine() { return getg() != nullptr; }

void plain_thread_register() {
  if (plain_thread.registered) return;
  plain_thread.registered = true;
  sched.nplain_active.fetch_add(1, std::memory_order_acq_rel);
}

void plain_thread_exclude() {
  if (plain_thread.registered && !plain_thread.excluded) {
    throw_bug("plain_thread_exclude: thread already counted");
  }
  plain_thread.registered = true;
  plain_thread.excluded = true;
}

void waiter_init(waiter* w) {
  w->g = getg();
  w->woken.store(0, std::memory_order_relaxed);
  w->next = w->prev = nullptr;
  w->success = false;
  w->select_case = nullptr;
}

namespace {

void block_caller(waiter* w, waitreason reason, bool (*unlockf)(void* arg), void* arg) {
  if (w->g != nullptr) {
    unlock_bridge bridge{unlockf, arg};
    park(reason, &run_unlock, &bridge);
    return;
  }

  // A plain thread: stop counting as a possible waker while asleep, so that goroutines
  // waiting only on each other and on blocked plain threads are still found deadlocked.
  plain_thread_register();
  if (plain_thread.excluded) throw_bug("waiter_block: excluded plain thread would block");
  if (unlockf != nullptr) unlockf(arg);
  if (sched.nplain_active.fetch_sub(1, std::memory_order_acq_rel) == 1 && runtime_running()) {
    // This was the last plain thread that could wake a goroutine. If every M is idle, none
    // will run checkdead again by itself: wake one so it re-checks.
    poke_idle_m();
  }
  while (w->woken.load(std::memory_order_acquire) == 0) {
    os::futex_wait(&w->woken, 0, -1);
  }
  // The waker already counted this thread as active again (see waiter_wake).
}

}  // namespace

// noinline so that its return address is a point in the blocking primitive, where the block
// profile's stack starts.
[[gnu::noinline]] void waiter_block(waiter* w, waitreason reason, bool (*unlockf)(void* arg),
                                    void* arg) {
  if (!pprof::block_profile_on()) [[likely]] {
    block_caller(w, reason, unlockf, arg);
    return;
  }
  const std::int64_t start = os::nanotime();
  block_caller(w, reason, unlockf, arg);
  pprof::block_event(os::nanotime() - start,
                     reinterpret_cast<std::uintptr_t>(
                         __builtin_extract_return_addr(__builtin_return_address(0))));
}

void waiter_wake(waiter* w) {
  if (G* gp = w->g) {
    M* mp = getm();
    if (mp != nullptr && mp->p != nullptr) {
      ready(gp);
    } else {
      ready_global(gp);
    }
    return;
  }
  // Plain thread: count it as active again before it can run, on the waker's side. If the
  // sleeper did this itself after waking, a goroutine readied by the waker could park again
  // in the gap and checkdead would see no possible waker: a false deadlock report.
  sched.nplain_active.fetch_add(1, std::memory_order_acq_rel);
  // The futex word is on the sleeper's stack; wake it after publishing.
  // NOTE: futex_wake after the store may touch the word after the sleeper returned; the
  // kernel only compares the address, so a stale wake is harmless.
  w->woken.store(1, std::memory_order_release);
  os::futex_wake(&w->woken, 1);
}

}  // namespace goro::rt

namespace goro {

void register_plain_thread() {
  if (rt::getm() != nullptr) {
    throw panic_error("goro::register_plain_thread: called from a goroutine or a runtime "
                      "thread; only plain threads need registering");
  }
  rt::plain_thread_register();
}

}  // namespace goro
