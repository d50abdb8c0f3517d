// goro::mutex's slow paths: Go's sync.Mutex algorithm on goro's semaphore (lib/sema.h).
//
// Normal mode: waiters queue FIFO, but a woken waiter does not own the mutex; it competes
// with goroutines that just arrived (and are already running, so they usually win). A waiter
// that lost queues again at the head. Once a waiter has waited longer than kStarvationNs it
// sets the starving bit: unlock then hands the mutex directly to the head waiter (semrelease
// with hand-off), arriving callers neither spin nor take it but queue at the tail. The waiter
// that receives the mutex leaves starvation mode if it is the last waiter or waited less than
// kStarvationNs itself.
//
// state_ (see sync.hpp) changes only by atomic read-modify-write. The woken bit tells unlock
// that a waiter is already awake (spinning or just woken), so it need not wake another.
#include <thread>

#include "goro/sync.hpp"
#include "lib/sema.h"
#include "runtime/pprof/contention.h"
#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"

namespace goro {

namespace {

// A waiter blocked longer than this switches the mutex to starvation mode (Go's value).
constexpr std::int64_t kStarvationNs = 1'000'000;
// Spin at most this many rounds before queueing, each of kSpinPauses pause instructions
// (Go's active_spin and active_spin_cnt): long enough to cover a short critical section on
// another CPU, short enough to cost little when the holder is not running.
constexpr int kSpinRounds = 4;
constexpr int kSpinPauses = 30;

rt::waitreason reason_for(detail::lock_wait w) {
  switch (w) {
    case detail::lock_wait::rwmutex_writer:
      return rt::waitreason::sync_rwmutex_lock;
    case detail::lock_wait::once:
      return rt::waitreason::sync_once;
    case detail::lock_wait::mutex:
      break;
  }
  return rt::waitreason::sync_mutex_lock;
}

int cpu_count() {
  static const int n = static_cast<int>(std::thread::hardware_concurrency());
  return n;
}

// Spinning pays only on a multi-core machine, when other Ps are running (so the holder may be
// running too), and when this P has no other goroutine that could use the CPU.
bool can_spin(int round) {
  if (round >= kSpinRounds || cpu_count() <= 1) return false;
  rt::M* mp = rt::getm();
  if (mp == nullptr || mp->p == nullptr) return true;  // a plain thread spins like a thread
  std::int32_t busy = rt::sched.gomaxprocs.load(std::memory_order_relaxed) -
                      rt::sched.npidle.load(std::memory_order_relaxed) -
                      rt::sched.nmspinning.load(std::memory_order_relaxed);
  return busy > 1 && rt::runq_empty(mp->p);
}

void spin_pause() {
  for (int i = 0; i < kSpinPauses; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
  }
}

}  // namespace

void mutex::lock_slow(detail::lock_wait reason) {
  std::int64_t wait_start = 0;  // nanotime of the first block, 0 before it
  bool starving = false;
  bool awoke = false;  // this caller set the woken bit, or was woken
  int round = 0;
  std::int32_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    // Spin while the mutex is held in normal mode: in starvation mode it goes to a waiter.
    if ((old & (kLocked | kStarving)) == kLocked && can_spin(round)) {
      // Claim the woken bit so that unlock does not wake a waiter this caller will race.
      if (!awoke && (old & kWoken) == 0 && (old >> kWaiterShift) != 0 &&
          state_.compare_exchange_strong(old, old | kWoken, std::memory_order_relaxed)) {
        awoke = true;
      }
      spin_pause();
      ++round;
      old = state_.load(std::memory_order_relaxed);
      continue;
    }

    std::int32_t next = old;
    if ((old & kStarving) == 0) next |= kLocked;  // a starving mutex is owed to a waiter
    if ((old & (kLocked | kStarving)) != 0) next += 1 << kWaiterShift;
    // Only switch to starvation mode while the mutex is held: unlock expects waiters then.
    if (starving && (old & kLocked) != 0) next |= kStarving;
    if (awoke) {
      if ((next & kWoken) == 0) rt::throw_bug("mutex::lock: woken bit lost");
      next &= ~kWoken;
    }
    // acquire: taking the mutex here must see the previous holder's writes.
    if (!state_.compare_exchange_strong(old, next, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      continue;  // old was reloaded
    }
    if ((old & (kLocked | kStarving)) == 0) return;  // took it

    // Queue. A waiter that already waited goes to the head (LIFO) to keep its turn.
    bool requeue = wait_start != 0;
    if (wait_start == 0) wait_start = rt::os::nanotime();
    rt::semacquire(&sema_, reason_for(reason), requeue);
    starving = starving || rt::os::nanotime() - wait_start > kStarvationNs;
    old = state_.load(std::memory_order_acquire);
    if ((old & kStarving) != 0) {
      // Handed the mutex: the locked bit is still clear and this waiter is still counted.
      if ((old & (kLocked | kWoken)) != 0 || (old >> kWaiterShift) == 0) {
        rt::throw_bug("mutex::lock: inconsistent state in starvation mode");
      }
      std::int32_t delta = kLocked - (1 << kWaiterShift);
      if (!starving || (old >> kWaiterShift) == 1) delta -= kStarving;  // leave starvation mode
      state_.fetch_add(delta, std::memory_order_acquire);
      return;
    }
    awoke = true;
    round = 0;
  }
}

// noinline so that its return address is in the caller of unlock, where the mutex profile's
// stack starts.
// NOTE: the fetch_sub in unlock has already released the mutex when this runs, and this
// still reads state_ (the CAS below) and the semaphore's queue (semrelease). Another thread
// may lock, unlock and destroy the mutex in between, as a reference-counted object that
// owns its mutex would. glibc fixed that window for pthread mutexes; Go's garbage collector
// keeps the memory alive. A review found no failure in 5 000 rounds under ASan, but nothing
// here rules it out: a mutex must not be destroyed while an unlock call on it can still be
// running.
[[gnu::noinline]] void mutex::unlock_slow(std::int32_t now) {
  if (((now + kLocked) & kLocked) == 0) rt::fatal("sync: unlock of unlocked mutex");
  std::int64_t wait_start = 0;  // when the woken waiter began to wait, 0 unless profiled
  if ((now & kStarving) != 0) {
    // Hand the mutex to the head waiter. It stays marked unlocked until the waiter sets the
    // bit, but arriving callers see kStarving and queue instead of taking it.
    wait_start = rt::semrelease(&sema_, true);
  } else {
    std::int32_t old = now;
    for (;;) {
      // No waiters, or someone already holds, woke or owns the mutex: nothing to do.
      if ((old >> kWaiterShift) == 0 || (old & (kLocked | kWoken | kStarving)) != 0) return;
      std::int32_t next = (old - (1 << kWaiterShift)) | kWoken;
      if (state_.compare_exchange_strong(old, next, std::memory_order_relaxed)) {
        wait_start = rt::semrelease(&sema_, false);
        break;
      }
    }
  }

  // Mutex profile: this unlock ended a wait that began at wait_start.
  if (wait_start != 0) [[unlikely]] {
    rt::pprof::mutex_event(rt::os::nanotime() - wait_start,
                           reinterpret_cast<std::uintptr_t>(
                               __builtin_extract_return_addr(__builtin_return_address(0))));
  }
}

}  // namespace goro
