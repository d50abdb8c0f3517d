// Run queues: each P's lock-free local ring plus runnext, and the global queue.
//
// Local queue protocol (Go's runq, proc.go):
//   * Only the owner P pushes, at runq_tail. It publishes a slot with a release store of the
//     tail ("store-release, makes the item available for consumption").
//   * Anyone consumes at runq_head: the owner (runqget) and thieves (runqgrab). A consumer
//     loads head and tail with acquire, reads the slots, then commits with a CAS on head
//     ("cas-release, commits consume"). A failed CAS means another consumer won; it retries.
//   * Slots are relaxed atomics because a thief may read a slot that the owner is about to
//     overwrite after wrapping around; the thief's head CAS then fails and the stale read is
//     discarded.
//   * runnext is a single atomic slot: the owner exchanges it; thieves take it with a CAS.
//
// A full local queue moves half of itself plus the new G to the global queue in one batch
// (runqputslow), so a burst of spawns does not take sched.lock for every G.
#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sanitizer.h"
#include "runtime/sched/sched.h"

namespace goro::rt {

namespace {

[[gnu::noinline]] bool runqputslow(P* pp, G* gp, std::uint32_t h, std::uint32_t t) {
  G* batch[kRunqSize / 2 + 1];
  std::uint32_t n = (t - h) / 2;
  if (n != kRunqSize / 2) throw_bug("runqputslow: queue is not full");
  for (std::uint32_t i = 0; i < n; ++i) {
    batch[i] = pp->runq[(h + i) % kRunqSize].load(std::memory_order_relaxed);
  }
  if (!pp->runq_head.compare_exchange_strong(h, h + n, std::memory_order_release,
                                             std::memory_order_relaxed)) {
    return false;
  }
  batch[n] = gp;
  for (std::uint32_t i = 0; i < n; ++i) batch[i]->schedlink = batch[i + 1];
  batch[n]->schedlink = nullptr;

  std::lock_guard<runtime_lock> guard(sched.lock);
  globrunqputbatch(batch[0], batch[n], static_cast<std::int32_t>(n + 1));
  return true;
}

// Grabs half of pp's queue into batch (a ring of kRunqSize starting at batch_head).
std::uint32_t runqgrab(P* pp, std::atomic<G*>* batch, std::uint32_t batch_head,
                       bool steal_runnext) {
  for (;;) {
    std::uint32_t h = pp->runq_head.load(std::memory_order_acquire);  // sync with consumers
    std::uint32_t t = pp->runq_tail.load(std::memory_order_acquire);  // sync with producer
    std::uint32_t n = t - h;
    n = n - n / 2;
    if (n == 0) {
      if (steal_runnext) {
        G* next = pp->runnext.load(std::memory_order_acquire);
        if (next != nullptr) {
          // The victim is running and will likely take its runnext in a moment (a ping-pong
          // pair); give it a few microseconds before stealing, as Go does.
          if (pp->status() != pstatus::idle) os::usleep_ns(3000);
          if (!pp->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) {
            continue;
          }
          batch[batch_head % kRunqSize].store(next, std::memory_order_relaxed);
          return 1;
        }
      }
      return 0;
    }
    if (n > kRunqSize / 2) continue;  // read inconsistent h and t
    for (std::uint32_t i = 0; i < n; ++i) {
      G* g = pp->runq[(h + i) % kRunqSize].load(std::memory_order_relaxed);
      batch[(batch_head + i) % kRunqSize].store(g, std::memory_order_relaxed);
    }
    if (pp->runq_head.compare_exchange_strong(h, h + n, std::memory_order_release,
                                              std::memory_order_relaxed)) {
      return n;
    }
  }
}

// Puts gp at the tail if the queue has room. Otherwise returns false with the head and tail
// it read.
inline bool runq_try_put_tail(P* pp, G* gp, std::uint32_t* h, std::uint32_t* t) {
  *h = pp->runq_head.load(std::memory_order_acquire);  // sync with consumers
  *t = pp->runq_tail.load(std::memory_order_relaxed);
  if (*t - *h >= kRunqSize) return false;
  pp->runq[*t % kRunqSize].store(gp, std::memory_order_relaxed);
  pp->runq_tail.store(*t + 1, std::memory_order_release);  // makes the item consumable
  return true;
}

// Starts loading what the next goroutines taken from pp's queue will touch first, so that
// draining a queue of goroutines whose stacks are no longer in cache (woken sleepers, a
// tree of new goroutines) overlaps their cache misses. The G record of the one after next
// is fetched now. The next one's record was fetched this way one call ago, so reading its
// saved stack pointer is cheap, and the top of its saved frame is fetched too. A slot read
// here may be stale (a thief takes it meanwhile): a prefetch never faults, and the
// stack-pointer read is of a G that stays allocated for the whole run. That read races with
// the G's owner on purpose (a stale value only fetches a useless line), so ThreadSanitizer
// does not check it.
GORO_NO_TSAN inline void prefetch_queued(P* pp, std::uint32_t h, std::uint32_t t) {
  if (t - h > 1) __builtin_prefetch(pp->runq[(h + 1) % kRunqSize].load(std::memory_order_relaxed));
  if (t != h) {
    G* next = pp->runq[h % kRunqSize].load(std::memory_order_relaxed);
    __builtin_prefetch(__atomic_load_n(&next->sched_sp, __ATOMIC_RELAXED));
  }
}

// runqput's retry loop, for a queue that was full at its first look.
[[gnu::noinline]] void runqput_full(P* pp, G* gp) {
  for (;;) {
    std::uint32_t h = 0;
    std::uint32_t t = 0;
    if (runq_try_put_tail(pp, gp, &h, &t)) return;
    if (runqputslow(pp, gp, h, t)) return;
  }
}

}  // namespace

void runqput(P* pp, G* gp, bool next) {
  if (next) {
    // Only the owner stores a G into runnext; thieves and runqget only take one out. An empty
    // slot therefore stays empty until this store, which needs no read-modify-write (release:
    // a thief that takes gp with its acquire CAS sees gp's fields).
    if (pp->runnext.load(std::memory_order_relaxed) == nullptr) {
      pp->runnext.store(gp, std::memory_order_release);
      return;
    }
    G* old = pp->runnext.exchange(gp, std::memory_order_acq_rel);
    if (old == nullptr) return;
    gp = old;  // kick the old runnext to the tail
  }

  // The common case, a queue with room, without the retry loop's register saves.
  std::uint32_t h = 0;
  std::uint32_t t = 0;
  if (runq_try_put_tail(pp, gp, &h, &t)) return;
  runqput_full(pp, gp);
}

runq_take runqget(P* pp) {
  G* next = pp->runnext.load(std::memory_order_relaxed);
  if (next != nullptr &&
      pp->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) {
    return {next, true};
  }
  for (;;) {
    std::uint32_t h = pp->runq_head.load(std::memory_order_acquire);
    std::uint32_t t = pp->runq_tail.load(std::memory_order_relaxed);
    if (t == h) return {nullptr, false};
    G* gp = pp->runq[h % kRunqSize].load(std::memory_order_relaxed);
    if (pp->runq_head.compare_exchange_strong(h, h + 1, std::memory_order_release,
                                              std::memory_order_relaxed)) {
      prefetch_queued(pp, h + 1, t);
      return {gp, false};
    }
  }
}

bool runq_empty(P* pp) {
  // runnext is checked between the two reads of head and tail so that a G moving from
  // runnext to the queue (runqput kicking it) is seen in one place or the other.
  for (;;) {
    std::uint32_t h = pp->runq_head.load(std::memory_order_acquire);
    std::uint32_t t = pp->runq_tail.load(std::memory_order_acquire);
    G* next = pp->runnext.load(std::memory_order_acquire);
    if (pp->runq_tail.load(std::memory_order_acquire) == t) return h == t && next == nullptr;
  }
}

std::uint32_t runq_size(P* pp) {
  std::uint32_t h = pp->runq_head.load(std::memory_order_acquire);
  std::uint32_t t = pp->runq_tail.load(std::memory_order_acquire);
  std::uint32_t n = t - h;
  return n > kRunqSize ? 0 : n;
}

G* runqsteal(P* pp, P* p2, bool steal_runnext) {
  std::uint32_t t = pp->runq_tail.load(std::memory_order_relaxed);
  std::uint32_t n = runqgrab(p2, pp->runq, t, steal_runnext);
  if (n == 0) return nullptr;
  n--;
  G* gp = pp->runq[(t + n) % kRunqSize].load(std::memory_order_relaxed);
  if (n == 0) return gp;
  std::uint32_t h = pp->runq_head.load(std::memory_order_acquire);
  if (t - h + n >= kRunqSize) throw_bug("runqsteal: runq overflow");
  pp->runq_tail.store(t + n, std::memory_order_release);  // makes the items consumable
  return gp;
}

void globrunqput(G* gp) {
  gp->schedlink = nullptr;
  if (sched.runq_tail != nullptr) {
    sched.runq_tail->schedlink = gp;
  } else {
    sched.runq_head = gp;
  }
  sched.runq_tail = gp;
  sched.runqsize.fetch_add(1, std::memory_order_relaxed);
}

void globrunqputbatch(G* head, G* tail, std::int32_t n) {
  tail->schedlink = nullptr;
  if (sched.runq_tail != nullptr) {
    sched.runq_tail->schedlink = head;
  } else {
    sched.runq_head = head;
  }
  sched.runq_tail = tail;
  sched.runqsize.fetch_add(n, std::memory_order_relaxed);
}

G* globrunqget(P* pp, std::int32_t max) {
  std::int32_t size = sched.runqsize.load(std::memory_order_relaxed);
  if (size == 0) return nullptr;
  std::int32_t procs = sched.gomaxprocs.load(std::memory_order_relaxed);
  std::int32_t n = size / procs + 1;
  if (n > size) n = size;
  if (max > 0 && n > max) n = max;
  if (n > static_cast<std::int32_t>(kRunqSize / 2)) n = kRunqSize / 2;
  sched.runqsize.fetch_sub(n, std::memory_order_relaxed);

  G* gp = sched.runq_head;
  sched.runq_head = gp->schedlink;
  n--;
  while (n-- > 0) {
    G* g1 = sched.runq_head;
    sched.runq_head = g1->schedlink;
    runqput(pp, g1, false);
  }
  if (sched.runq_head == nullptr) sched.runq_tail = nullptr;
  gp->schedlink = nullptr;
  return gp;
}

}  // namespace goro::rt
