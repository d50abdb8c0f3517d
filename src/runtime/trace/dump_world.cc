// Stopping the world for a goroutine dump (goro::stack, snapshots, SIGQUIT).
//
// A dump switches into parked goroutines so that each unwinds its own stack (traceback.cc).
// That is safe only for a goroutine whose saved stack pointer is final and that no M can
// resume meanwhile, so the dumper:
//   1. takes world_lock and stops every P (stop_the_world). Goroutines that park do so
//      while their M holds a P, so once every P is stopped every parked goroutine has
//      switched away, and no M can run a queued one.
//   2. waits up to kDumpSettleNs for goroutines that still run without a P (a long runner
//      whose P sysmon took, or one that lost its P to this stop) to reach a scheduling
//      point. There they find no P, turn runnable and go to the global queue.
//   3. under sched.lock, lists the runnable goroutines that sit in a run queue. A runnable
//      goroutine missing from the list is still switching away on its M (it is queued right
//      after the switch), so the dump treats it as running.
//   4. stamps waitsince on every waiting goroutine that has none (Go stamps it at a GC
//      scan), so a later dump can print how many minutes it has waited.
// A dying process whose failing code may hold a runtime lock freezes the world instead
// (freeze_world_for_exit_dump, sched/freeze.cc), and does step 3 without waiting for
// sched.lock. It skips step 2: goroutines running without a P show as running.
//
// Goroutines in goro::blocking() keep running their call, but cannot return to their own
// code without a P, so their frames from goro::blocking outwards stay unchanged and show as
// the syscall goroutine's stack (syscall_stack.h).
#include "runtime/trace/dump_world.h"

#include <algorithm>
#include <vector>

#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/stack/stack.h"
#include "runtime/trace/schedhooks.h"

namespace goro::rt {

namespace {

// How often the dumper re-checks for goroutines running without a P.
constexpr std::int64_t kSettlePollNs = 100'000;

// Returns true while an M other than `self` and sysmon is running a goroutine without a P.
bool goroutine_running_without_p(M* self) {
  std::lock_guard<runtime_lock> guard(sched.lock);
  for (M* mp = sched.allm; mp != nullptr; mp = mp->alllink) {
    if (mp == self || mp->is_sysmon) continue;
    G* gp = mp->curg.load(std::memory_order_acquire);
    if (gp != nullptr && gp->status.load(std::memory_order_acquire) == gstatus::running) {
      return true;
    }
  }
  return false;
}

void wait_for_scheduling_points(M* self) {
  const std::int64_t deadline = os::nanotime() + kDumpSettleNs;
  while (goroutine_running_without_p(self) && os::nanotime() < deadline) {
    os::usleep_ns(kSettlePollNs);
  }
}

void collect_queued(std::vector<G*>* queued) {
  queued->clear();
  std::lock_guard<runtime_lock> guard(sched.lock);
  for (G* gp = sched.runq_head; gp != nullptr; gp = gp->schedlink) queued->push_back(gp);
  // Every P is stopped, so its queue cannot move under us.
  for (std::int32_t i = 0; i < allp_count(); ++i) {
    P* pp = allp_at(i);
    if (G* next = pp->runnext.load(std::memory_order_acquire)) queued->push_back(next);
    const std::uint32_t head = pp->runq_head.load(std::memory_order_acquire);
    const std::uint32_t tail = pp->runq_tail.load(std::memory_order_acquire);
    for (std::uint32_t j = head; j != tail; ++j) {
      queued->push_back(pp->runq[j % kRunqSize].load(std::memory_order_relaxed));
    }
  }
  // Sorted through pointers, as collect_frozen_queued sorts, so that both share one std::sort
  // instantiation, about 1 KB less than a second one for vector iterators.
  std::sort(queued->data(), queued->data() + queued->size());
}

void stamp_one(G* gp, void* arg) {
  const gstatus status = gp->status.load(std::memory_order_acquire);
  if (status != gstatus::waiting && status != gstatus::syscall) return;
  std::int64_t unset = 0;
  gp->waitsince.compare_exchange_strong(unset, *static_cast<std::int64_t*>(arg),
                                        std::memory_order_relaxed);
}

// Stamps every waiting goroutine that has no waitsince yet with *now. The bit goes first, so
// every ready() after the world restarts clears the stamp of the goroutine it readies.
void stamp_waiting(std::int64_t* now) {
  sched_hooks.fetch_or(kHookWaitsince, std::memory_order_relaxed);
  for_each_stack_slot(&stamp_one, now);
}

// Queue list of the exit dump, which outlives the function that fills it. Allocated by the
// first exit dump, with the world lock held, and never freed, because a panic or SIGQUIT on
// another thread may dump while exit() runs the static destructors.
std::vector<G*>* exit_dump_queued = nullptr;

// Queue list of a frozen world's dump: a fixed array, because the failing code may hold the
// allocator's lock. 4096 covers 16 full local run queues; a runnable goroutine beyond them
// prints without its stack.
constexpr std::size_t kFrozenQueuedMax = 4096;
G* frozen_queued[kFrozenQueuedMax];

// The frozen world of the exit dump.
frozen_world frozen;

// Lists the runnable goroutines of a frozen world into frozen_queued and returns how many.
// The local run queues cannot move, because every P that another M still holds in status
// running belongs to an M blocked on sched.lock. The global queue is read only if the freeze
// took sched.lock, since the failing code may hold it.
std::size_t collect_frozen_queued() {
  std::size_t n = 0;
  const auto add = [&n](G* gp) {
    if (gp != nullptr && n < kFrozenQueuedMax) frozen_queued[n++] = gp;
  };
  for (std::int32_t i = 0; i < allp_count(); ++i) {
    P* pp = allp_at(i);
    add(pp->runnext.load(std::memory_order_acquire));
    const std::uint32_t head = pp->runq_head.load(std::memory_order_acquire);
    const std::uint32_t tail = pp->runq_tail.load(std::memory_order_acquire);
    for (std::uint32_t j = head; j != tail; ++j) {
      add(pp->runq[j % kRunqSize].load(std::memory_order_relaxed));
    }
  }
  if (frozen.holds_sched_lock) {
    for (G* gp = sched.runq_head; gp != nullptr; gp = gp->schedlink) add(gp);
  }
  std::sort(frozen_queued, frozen_queued + n);
  return n;
}

}  // namespace

dump_world_stop::dump_world_stop() {
  lock_world_from_goroutine();
  mode_.emplace();
  M* mp = getm();
  stop_the_world(mp, "goroutine dump");
  wait_for_scheduling_points(mp);
  collect_queued(&queued_);
  now_ = os::nanotime();
  stamp_waiting(&now_);
}

dump_world_stop::~dump_world_stop() {
  start_the_world(getm());
  mode_.reset();
}

dump_options dump_world_stop::options(int level, int fd) const {
  dump_options options;
  options.level = level;
  options.fd = fd;
  options.stacks_of_parked = true;
  options.queued = queued_.data();
  options.queued_count = queued_.size();
  options.now = now_;
  return options;
}

bool stop_world_for_exit_dump(M* mp, std::int64_t timeout_ns, int level, int fd,
                              dump_options* options) {
  const std::int64_t start = os::nanotime();
  options->level = level;
  options->fd = fd;
  options->stacks_of_parked = false;
  options->now = start;
  if (!lock_world_without_p(timeout_ns)) return false;
  const std::int64_t left = timeout_ns - (os::nanotime() - start);
  if (!stop_the_world_within(mp, "goroutine dump", left > 0 ? left : 0)) return false;

  wait_for_scheduling_points(mp);
  if (exit_dump_queued == nullptr) exit_dump_queued = new std::vector<G*>;
  collect_queued(exit_dump_queued);
  options->now = os::nanotime();
  stamp_waiting(&options->now);
  options->stacks_of_parked = true;
  options->queued = exit_dump_queued->data();
  options->queued_count = exit_dump_queued->size();
  return true;
}

bool freeze_world_for_exit_dump(M* mp, std::int64_t timeout_ns, int level, int fd,
                                dump_options* options) {
  options->level = level;
  options->fd = fd;
  options->stacks_of_parked = false;
  options->now = os::nanotime();
  if (!freeze_the_world(mp, timeout_ns, &frozen)) return false;

  options->queued_count = collect_frozen_queued();
  options->queued = frozen_queued;
  options->unsaved = frozen.unsaved;
  options->unsaved_count = frozen.unsaved_count;
  options->now = os::nanotime();
  stamp_waiting(&options->now);
  options->stacks_of_parked = true;
  return true;
}

}  // namespace goro::rt
