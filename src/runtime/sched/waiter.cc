#include "runtime/sched/waiter.h"

#include "goro/runtime.hpp"

#include "runtime/os/futex.h"
#include "runtime/pprof/contention.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"

namespace goro::rt {

namespace {

// Takes one plain thread off sched.nplain_active. If it was the last that could wake a
// goroutine and every M is idle, no M runs checkdead again by itself: wake one so that a
// deadlock is still reported.
void plain_thread_uncount() {
  if (sched.nplain_active.fetch_sub(1, std::memory_order_acq_rel) == 1 && runtime_running()) {
    poke_idle_m();
  }
}

// Registered plain threads, per thread: whether this thread counts in sched.nplain_active.
struct plain_registration {
  bool registered = false;
  // Set by plain_thread_exclude: `registered` is true but the thread was never counted.
  bool excluded = false;
  ~plain_registration() {
    if (registered && !excluded) plain_thread_uncount();
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

bool on_goroutine_outside_blocking() {
  G* gp = getg();
  // Relaxed: only this goroutine changes its own status between running and syscall.
  return gp != nullptr && gp->status.load(std::memory_order_relaxed) == gstatus::running;
}

void plain_thread_register() {
  if (plain_thread.registered) return;
  plain_thread.registered = true;
  sched.nplain_active.fetch_add(1, std::memory_order_acq_rel);
}

void plain_thread_adopt() {
  if (plain_thread.registered) throw_bug("plain_thread_adopt: thread already registered");
  plain_thread.registered = true;
}

void plain_thread_exclude() {
  if (plain_thread.registered && !plain_thread.excluded) {
    throw_bug("plain_thread_exclude: thread already counted");
  }
  plain_thread.registered = true;
  plain_thread.excluded = true;
}

void waiter_init(waiter* w) { waiter_init_for(w, getg()); }

void waiter_init_for(waiter* w, G* gp) {
  w->g = gp;
  w->woken.store(0, std::memory_order_relaxed);
  w->next = w->prev = nullptr;
  w->success = false;
  w->select_case = nullptr;
}

namespace {

// A plain thread: stop counting as a possible waker while asleep, so that goroutines
// waiting only on each other and on blocked plain threads are still found deadlocked.
[[gnu::noinline]] void block_plain_thread(waiter* w, bool (*unlockf)(void* arg), void* arg) {
  plain_thread_register();
  if (plain_thread.excluded) throw_bug("waiter_block: excluded plain thread would block");
  if (unlockf != nullptr) unlockf(arg);
  plain_thread_uncount();
  while (w->woken.load(std::memory_order_acquire) == 0) {
    os::futex_wait(&w->woken, 0, -1);
  }
  // The waker already counted this thread as active again (see waiter_wake).
}

// block_plain_thread while the block profile is on: times the block and records it, with the
// stack starting at first_return.
[[gnu::noinline]] void block_plain_thread_profiled(waiter* w, bool (*unlockf)(void* arg),
                                                   void* arg, std::uintptr_t first_return) {
  const std::int64_t start = os::nanotime();
  block_plain_thread(w, unlockf, arg);
  pprof::block_event(os::nanotime() - start, first_return);
}

}  // namespace

// noinline so that its return address is a point in the blocking primitive, where the block
// profile's stack starts. A goroutine's block is timed and recorded by schedule_next's slow
// path, which sched_hooks sends it to while the profile is on (waiter_block_park), so this
// path tests nothing for the profile. A plain thread's block is timed here.
[[gnu::noinline]] void waiter_block(waiter* w, waitreason reason, bool (*unlockf)(void* arg),
                                    void* arg) {
  if (w->g != nullptr) {
    unlock_bridge bridge{unlockf, arg};
    park(reason, &run_unlock, &bridge);
    return;
  }
  if (!pprof::block_profile_on()) {
    block_plain_thread(w, unlockf, arg);
    return;
  }
  block_plain_thread_profiled(w, unlockf, arg,
                              reinterpret_cast<std::uintptr_t>(
                                  __builtin_extract_return_addr(__builtin_return_address(0))));
}

bool waiter_block_park(M* mp, std::uintptr_t* first_return) {
  *first_return = 0;
  if (mp->pending != after_switch::park || mp->pending_unlock != &run_unlock) return false;

#if defined(__x86_64__)
  // The bridge is a local of waiter_block, and x86-64 frames keep their locals below their
  // frame record, so waiter_block's record is the first one, walking outwards from this
  // frame, that lies above the bridge. Every frame in between is goro's own code, built with
  // frame pointers, and a record is [caller's record, return address]. The walk stays inside
  // the parking G's stack, and a bridge that is not there (ASan's fake stacks) leaves
  // *first_return at 0, so the profile keeps the whole stack.
  const auto bridge = reinterpret_cast<std::uintptr_t>(mp->pending_arg);
  const G* gp = mp->pending_g;
  auto* frame = static_cast<std::uintptr_t*>(__builtin_frame_address(0));
  constexpr int kMaxFrames = 16;  // waiter_block is a handful of frames above this one
  for (int i = 0; i < kMaxFrames; ++i) {
    const auto at = reinterpret_cast<std::uintptr_t>(frame);
    if (at < gp->stack.lo || at + 2 * sizeof(std::uintptr_t) > gp->stack.hi) break;
    if (at > bridge) {
      *first_return = reinterpret_cast<std::uintptr_t>(
          __builtin_extract_return_addr(reinterpret_cast<void*>(frame[1])));
      break;
    }
    auto* caller = reinterpret_cast<std::uintptr_t*>(frame[0]);
    if (caller <= frame) break;
    frame = caller;
  }
#else
  // NOTE: AArch64 frames keep their record below their locals, so the walk above would stop
  // one frame too far out. Until AArch64 has its own walk, its profile keeps the whole stack.
#endif
  return true;
}

void waiter_wake(waiter* w) {
  if (G* gp = w->g) {
    M* mp = getm();
    if (mp != nullptr && mp->p != nullptr) {
      ready_unique(gp, mp);  // the waker unlinked w, so no one else can ready gp
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

void waiter_wake_list(waiter* head) {
  auto wake_all = [head] {
    for (waiter* w = head; w != nullptr;) {
      waiter* next = w->next;  // read before the wake: the waiter may vanish after it
      waiter_wake(w);
      w = next;
    }
  };
  if (!on_goroutine_outside_blocking()) {
    wake_all();
    return;
  }
  runtime_mode section;
  wake_all();
}

}  // namespace goro::rt

namespace goro {

namespace detail {

void plain_thread_reserve() noexcept {
  rt::sched.nplain_active.fetch_add(1, std::memory_order_acq_rel);
}

void plain_thread_unreserve() noexcept { rt::plain_thread_uncount(); }

void plain_thread_adopt() noexcept { rt::plain_thread_adopt(); }

}  // namespace detail

void register_plain_thread() {
  if (rt::getm() != nullptr) {
    throw panic_error("goro::register_plain_thread: called from a goroutine or a runtime "
                      "thread; only plain threads need registering");
  }
  rt::plain_thread_register();
}

}  // namespace goro
