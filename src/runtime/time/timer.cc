// Timers live in per-P 4-ary min-heaps ordered by `when`, as Go's do. The scheduler services
// them: findrunnable runs every P's expired timers (its own first), so an idle P's timers are
// taken over by whichever M looks for work, and an M that finds nothing to do sleeps until the
// earliest timer of all (mlife.cc, sched.timer_m). No thread exists only for timers.
//
// Each heap is guarded by its P's timers_lock, because goroutines on other Ps delete timers
// there and other Ms run expired timers there. P::timer0_when mirrors the heap's minimum
// (0 = empty) so that findrunnable and checkdead can skip empty heaps without the lock.
//
// Firing: check_timers pops an expired timer under the lock, re-inserts it if periodic, drops
// the lock, and calls its function. A timer removed by deltimer before that pop never fires.
#include "runtime/time/timer.h"

#include <cstdlib>
#include <new>

#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"

namespace goro::rt {

namespace {

constexpr std::int32_t kHeapArity = 4;

// Stores entry e at index i and records i in its timer, where deltimer finds it.
void heap_set(P* pp, std::int32_t i, timer_when e) {
  pp->timers[i] = e;
  e.t->index = i;
}

void sift_up(P* pp, std::int32_t i) {
  timer_when e = pp->timers[i];
  while (i > 0) {
    std::int32_t parent = (i - 1) / kHeapArity;
    if (pp->timers[parent].when <= e.when) break;
    heap_set(pp, i, pp->timers[parent]);
    i = parent;
  }
  heap_set(pp, i, e);
}

void sift_down(P* pp, std::int32_t i) {
  timer_when e = pp->timers[i];
  std::int32_t n = pp->timers_len;
  for (;;) {
    std::int32_t first = i * kHeapArity + 1;
    if (first >= n) break;
    std::int32_t best = first;
    std::int32_t last = first + kHeapArity < n ? first + kHeapArity : n;
    for (std::int32_t c = first + 1; c < last; ++c) {
      if (pp->timers[c].when < pp->timers[best].when) best = c;
    }
    if (pp->timers[best].when >= e.when) break;
    heap_set(pp, i, pp->timers[best]);
    i = best;
  }
  heap_set(pp, i, e);
}

void update_timer0(P* pp) {
  std::int64_t when = pp->timers_len > 0 ? pp->timers[0].when : 0;
  // release: pairs with the acquire loads in findrunnable and checkdead.
  pp->timer0_when.store(when, std::memory_order_release);
}

// timers_lock held.
void heap_push(P* pp, timer* t) {
  if (pp->timers_len == pp->timers_cap) {
    std::int32_t cap = pp->timers_cap == 0 ? 16 : pp->timers_cap * 2;
    auto* grown = static_cast<timer_when*>(std::realloc(pp->timers, sizeof(timer_when) * cap));
    if (grown == nullptr) fatal("addtimer: out of memory");
    pp->timers = grown;
    pp->timers_cap = cap;
  }
  std::int32_t i = pp->timers_len++;
  heap_set(pp, i, timer_when{t->when, t});
  sift_up(pp, i);
  t->pp.store(pp, std::memory_order_release);
  sched.ntimers.fetch_add(1, std::memory_order_relaxed);
}

// timers_lock held.
void heap_remove(P* pp, std::int32_t i) {
  timer* t = pp->timers[i].t;
  std::int32_t last = --pp->timers_len;
  if (i != last) {
    heap_set(pp, i, pp->timers[last]);
    // The moved entry goes down when it replaced the minimum or any smaller entry, and up
    // only when it came from another branch and is smaller than its new parent.
    if (i > 0 && pp->timers[i].when < pp->timers[(i - 1) / kHeapArity].when) {
      sift_up(pp, i);
    } else {
      sift_down(pp, i);
    }
  }
  pp->timers[last] = timer_when{0, nullptr};
  t->index = -1;
  t->pp.store(nullptr, std::memory_order_release);
  sched.ntimers.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

void addtimer(timer* t) {
  M* mp = getm();
  P* pp = mp != nullptr ? mp->p : nullptr;
  if (pp == nullptr) pp = allp_at(0);
  // Read before the push: once the lock is released another M may run the timer, and its
  // owner (a sleeping goroutine's frame) may resume and reuse or leave the memory.
  std::int64_t when = t->when;
  bool earliest = false;
  {
    std::lock_guard<runtime_lock> guard(pp->timers_lock);
    heap_push(pp, t);
    earliest = pp->timers[0].t == t;
    update_timer0(pp);
  }
  if (earliest) wake_timer_m(when);
}

bool deltimer(timer* t) {
  for (;;) {
    P* pp = t->pp.load(std::memory_order_acquire);
    if (pp == nullptr) return false;
    std::lock_guard<runtime_lock> guard(pp->timers_lock);
    if (t->pp.load(std::memory_order_relaxed) != pp) continue;  // moved meanwhile
    heap_remove(pp, t->index);
    update_timer0(pp);
    return true;
  }
}

void check_timers(P* pp, std::int64_t now, std::int64_t* next) {
  pp->timers_lock.lock();
  while (pp->timers_len > 0 && pp->timers[0].when <= now) {
    timer* t = pp->timers[0].t;
    heap_remove(pp, 0);
    if (t->period > 0) {
      // Skip the periods that were missed: a slow receiver gets one tick, not a burst.
      t->when += t->period * (1 + (now - t->when) / t->period);
      heap_push(pp, t);
    }
    update_timer0(pp);
    auto* f = t->f;
    void* arg = t->arg;
    pp->timers_lock.unlock();
    f(t, arg, now);
    pp->timers_lock.lock();
  }
  update_timer0(pp);
  *next = pp->timers_len > 0 ? pp->timers[0].when : 0;
  pp->timers_lock.unlock();
}

std::int64_t earliest_timer() {
  std::int64_t earliest = 0;
  std::int32_t n = allp_count();
  for (std::int32_t i = 0; i < n; ++i) {
    std::int64_t when = allp_at(i)->timer0_when.load(std::memory_order_acquire);
    if (when != 0 && (earliest == 0 || when < earliest)) earliest = when;
  }
  return earliest;
}

bool any_timers() { return sched.ntimers.load(std::memory_order_relaxed) > 0; }

void move_timers(P* from, P* to) {
  std::lock_guard<runtime_lock> g1(from->timers_lock);
  std::lock_guard<runtime_lock> g2(to->timers_lock);
  while (from->timers_len > 0) {
    timer* t = from->timers[from->timers_len - 1].t;
    heap_remove(from, from->timers_len - 1);
    heap_push(to, t);
  }
  update_timer0(from);
  update_timer0(to);
}

void free_timer_heap(P* pp) {
  std::free(pp->timers);
  pp->timers = nullptr;
  pp->timers_len = pp->timers_cap = 0;
}

}  // namespace goro::rt
