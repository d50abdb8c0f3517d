// Freezing the world: Go's freezetheworld, the stop of a dying process.
//
// A fatal error or panic raised inside runtime code may hold any runtime lock, sched.lock
// included, so it cannot stop the world (procresize.cc), which takes sched.lock. A freeze
// takes no lock it could wait for:
//   1. It sets sched.gcwaiting. Every M that takes a P checks it before it runs a G from a
//      queue (findrunnable, reacquire_p), so from then on a P stays with Ms that already
//      held it in status running.
//   2. It takes sched.lock with try_lock, retrying for up to kFreezeLockWaitNs, and keeps it
//      for good. If the lock never comes free, the failing code (or a wedged M) holds it,
//      and keeps it for good too. Either way an M that blocks on sched.lock never resumes.
//   3. It claims every P in status user or syscall with the CAS of stop-the-world, and waits,
//      up to its timeout, until every other P in status running belongs to an M blocked on
//      sched.lock (M::lock_wait).
// After that no M can resume a goroutine, so a dump may switch into parked goroutines. A
// goroutine parks while its M holds a P in status running, so each parked one has finished
// switching away. The exception is the current goroutine of an M blocked on sched.lock,
// because that M may be in schedule_next on the stack of a goroutine that has just set its
// status to waiting. The freeze lists those goroutines, whose registers are not saved, in
// frozen_world.
//
// The world is never restarted: Ms that stop for gcwaiting block on sched.lock or sleep in
// stopm until the process exits. Idle Ps stay on the idle list, because taking them off needs
// sched.lock, which only step 2 can make safe.
#include <algorithm>

#include "runtime/os/futex.h"
#include "runtime/sched/sched.h"
#include "runtime/trace/schedhooks.h"

namespace goro::rt {

namespace {

// How long a freeze tries to take sched.lock. A critical section under it lasts
// microseconds, so a lock still held after 10 ms is held by the failing code or a wedged M.
constexpr std::int64_t kFreezeLockWaitNs = 10'000'000;
// How often a freeze polls the lock and the Ps.
constexpr std::int64_t kFreezePollNs = 100'000;

// Claims pp if it is in status user or syscall, as stop-the-world's claim does, but without
// its trace event: the trace writer may be what failed.
void claim_for_freeze(P* pp) {
  std::uint64_t s = pp->state.load(std::memory_order_acquire);
  const auto status = static_cast<pstatus>(s & 0xff);
  if (status != pstatus::user && status != pstatus::syscall) return;
  pp->state.compare_exchange_strong(s, pstate(0, pstatus::gcstop), std::memory_order_acq_rel);
}

// Returns the M with id `id`. sched.lock is held for good by now, so allm cannot grow.
M* find_m(std::int64_t id) {
  for (M* m = sched.allm; m != nullptr; m = m->alllink) {
    if (m->id == id) return m;
  }
  return nullptr;
}

// Checks every P other than the caller's once. Returns true if each is stopped, idle, or
// held by an M blocked on sched.lock, and lists those Ms' current goroutines in *out.
bool ps_frozen(M* self, frozen_world* out) {
  const std::uint64_t own_state = pstate(self->id, pstatus::running);
  out->unsaved_count = 0;
  for (std::int32_t i = 0; i < allp_count(); ++i) {
    P* pp = allp_at(i);
    const std::uint64_t state = pp->state.load(std::memory_order_acquire);
    if (pp == self->p && state == own_state) continue;
    claim_for_freeze(pp);
    if (pp->status() != pstatus::running) continue;

    M* owner = find_m(static_cast<std::int64_t>(pp->state.load(std::memory_order_acquire) >> 8));
    if (owner == nullptr || owner->lock_wait.load(std::memory_order_acquire) != &sched.lock) {
      return false;
    }
    if (G* gp = owner->curg.load(std::memory_order_acquire)) {
      if (out->unsaved_count == frozen_world::kMaxUnsaved) return false;
      out->unsaved[out->unsaved_count++] = gp;
    }
  }
  std::sort(out->unsaved, out->unsaved + out->unsaved_count);
  return true;
}

}  // namespace

bool freeze_the_world(M* mp, std::int64_t timeout_ns, frozen_world* out) {
  // seq_cst: an M that takes a P after this store finds it set in findrunnable or reacquire_p.
  sched.gcwaiting.store(true, std::memory_order_seq_cst);
  // schedule_next's fast path reads this mirror instead (schedhooks.h).
  sched_hooks.fetch_or(kHookStopTheWorld, std::memory_order_relaxed);
  const std::int64_t start = os::nanotime();
  const std::int64_t deadline = start + timeout_ns;

  const std::int64_t lock_deadline = std::min(deadline, start + kFreezeLockWaitNs);
  out->holds_sched_lock = sched.lock.try_lock();
  while (!out->holds_sched_lock && os::nanotime() < lock_deadline) {
    os::usleep_ns(kFreezePollNs);
    out->holds_sched_lock = sched.lock.try_lock();
  }

  for (;;) {
    if (ps_frozen(mp, out)) return true;
    if (os::nanotime() >= deadline) return false;
    os::usleep_ns(kFreezePollNs);
  }
}

}  // namespace goro::rt
