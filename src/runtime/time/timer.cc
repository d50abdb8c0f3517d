// Timers live per P, in a 4-ary min-heap ordered by `when` as Go's do, and beside it in up
// to kTimerRuns sorted runs. The scheduler services them: findrunnable runs every P's expired
// timers (its own first), so an idle P's timers are taken over by whichever M looks for work,
// and an M that finds nothing to do sleeps until the earliest timer of all (mlife.cc,
// sched.timer_m). No thread exists only for timers.
//
// Sorted runs: most timers a program sets at one time have the same duration (every sleep
// of a worker loop, every connection's read deadline), so each new one fires no earlier than
// the one set before it. A run is a doubly linked list of timers in `when` order. A new timer
// joins the end of the run whose tail fires latest but not after it. If no tail qualifies,
// it starts an empty run, and if every run is in use, it goes into the heap. Adding to and removing from a run touch only the timer and
// its neighbours, where a heap operation moves up to log4(n) entries and writes the new
// position into each moved timer (all in different goroutines' stacks). The earliest timer
// is the earliest of the heap's minimum and the runs' heads.
//
// Invariants, under the P's timers_lock:
//   * within a run, `when` never decreases from head to tail;
//   * timer::index is the timer's heap position, or run_index(r) in run r;
//   * timer::pp is the P whose timers contain it, nullptr when none do;
//   * timer_run_len counts the timers in all runs.
//
// Each P's timers are guarded by its timers_lock, because goroutines on other Ps delete
// timers there and other Ms run expired timers there. P::timer0_when mirrors the earliest
// `when` (0 = no timers) so that findrunnable and checkdead can skip a P without the lock.
//
// Firing: check_timers takes an expired timer out under the lock, re-inserts it if
// periodic, drops the lock, and calls its function. A timer removed by deltimer before then
// never fires.
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

// Returns the P's earliest timer, or nullptr if it has none (timers_lock held).
timer* earliest(P* pp) {
  timer* first = pp->timers_len > 0 ? pp->timers[0].t : nullptr;
  for (timer* head : pp->timer_run_head) {
    if (head != nullptr && (first == nullptr || head->when < first->when)) first = head;
  }
  return first;
}

void update_timer0(P* pp) {
  timer* first = earliest(pp);
  // release: pairs with the acquire loads in findrunnable and checkdead.
  pp->timer0_when.store(first != nullptr ? first->when : 0, std::memory_order_release);
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
}

// timers_lock held.
void heap_remove(P* pp, std::int32_t i) {
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
}

// Returns the sorted run that t can join: the one whose tail fires latest but not after t,
// else an empty one, else -1.
int pick_run(const P* pp, const timer* t) {
  int best = -1;
  int empty = -1;
  for (int r = 0; r < kTimerRuns; ++r) {
    const timer* tail = pp->timer_run_tail[r];
    if (tail == nullptr) {
      if (empty < 0) empty = r;
    } else if (tail->when <= t->when &&
               (best < 0 || tail->when > pp->timer_run_tail[best]->when)) {
      best = r;
    }
  }
  return best >= 0 ? best : empty;
}

// Adds t, which no P holds, to pp's timers (timers_lock held).
void insert(P* pp, timer* t) {
  int r = pick_run(pp, t);
  if (r >= 0) {
    t->prev = pp->timer_run_tail[r];
    t->next = nullptr;
    if (t->prev != nullptr) {
      t->prev->next = t;
    } else {
      pp->timer_run_head[r] = t;
    }
    pp->timer_run_tail[r] = t;
    t->index = run_index(r);
    pp->timer_run_len++;
  } else {
    heap_push(pp, t);
  }
  t->pp.store(pp, std::memory_order_release);
  sched.ntimers.fetch_add(1, std::memory_order_relaxed);
}

// Removes t from pp's timers, which contain it (timers_lock held).
void remove(P* pp, timer* t) {
  if (t->index >= 0) {
    heap_remove(pp, t->index);
  } else {
    int r = run_index(0) - t->index;
    if (t->prev != nullptr) {
      t->prev->next = t->next;
    } else {
      pp->timer_run_head[r] = t->next;
    }
    if (t->next != nullptr) {
      t->next->prev = t->prev;
    } else {
      pp->timer_run_tail[r] = t->prev;
    }
    t->prev = t->next = nullptr;
    pp->timer_run_len--;
  }
  t->index = -1;
  t->pp.store(nullptr, std::memory_order_release);
  sched.ntimers.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

void addtimer(timer* t) {
  M* mp = getm();
  P* pp = mp != nullptr ? mp->p : nullptr;
  if (pp == nullptr) pp = allp_at(0);
  // Read before the insert: once the lock is released another M may run the timer, and its
  // owner (a sleeping goroutine's frame) may resume and reuse or leave the memory.
  std::int64_t when = t->when;
  bool first = false;
  {
    std::lock_guard<runtime_lock> guard(pp->timers_lock);
    std::int64_t before = pp->timer0_when.load(std::memory_order_relaxed);
    insert(pp, t);
    first = before == 0 || when < before;
    if (first) update_timer0(pp);
  }
  if (first) wake_timer_m(when);
}

bool deltimer(timer* t) {
  for (;;) {
    P* pp = t->pp.load(std::memory_order_acquire);
    if (pp == nullptr) return false;
    if (pp == orphaned_timers()) {
      // Its run ended with it pending: it never fired, and this call takes it out.
      return t->pp.compare_exchange_strong(pp, nullptr, std::memory_order_acq_rel);
    }
    std::lock_guard<runtime_lock> guard(pp->timers_lock);
    if (t->pp.load(std::memory_order_relaxed) != pp) continue;  // moved meanwhile
    remove(pp, t);
    update_timer0(pp);
    return true;
  }
}

void check_timers(P* pp, std::int64_t now, std::int64_t* next) {
  pp->timers_lock.lock();
  for (timer* t = earliest(pp); t != nullptr && t->when <= now; t = earliest(pp)) {
    // Expired timers in a run usually fire in a batch, each in another goroutine's stack.
    // Fetch the next one's argument (a sleeper's G) and the one after it now, so that their
    // cache misses overlap this timer's work. The next timer itself was fetched this way
    // one round ago.
    if (t->index < 0 && t->next != nullptr) {
      __builtin_prefetch(t->next->arg);
      __builtin_prefetch(t->next->next);
    }
    remove(pp, t);
    if (t->period > 0) {
      t->when = next_period(t->when, t->period, now);
      insert(pp, t);
    }
    update_timer0(pp);
    auto* f = t->f;
    void* arg = t->arg;
    pp->timers_lock.unlock();
    f(t, arg, now);
    pp->timers_lock.lock();
  }
  update_timer0(pp);
  *next = pp->timer0_when.load(std::memory_order_relaxed);
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
  while (timer* t = earliest(from)) {
    remove(from, t);
    insert(to, t);
  }
  update_timer0(from);
  update_timer0(to);
}

void free_timer_heap(P* pp) {
  // Timers still pending belong to objects that may outlive the run (a goro::timer declared
  // outside goro::run, a context's deadline). They must not point at the freed P: deltimer
  // would lock freed memory, and a later run could never re-arm them.
  {
    std::lock_guard<runtime_lock> guard(pp->timers_lock);
    while (timer* t = earliest(pp)) {
      remove(pp, t);
      t->pp.store(orphaned_timers(), std::memory_order_release);
    }
  }
  std::free(pp->timers);
  pp->timers = nullptr;
  pp->timers_len = pp->timers_cap = 0;
  for (int r = 0; r < kTimerRuns; ++r) pp->timer_run_head[r] = pp->timer_run_tail[r] = nullptr;
  pp->timer_run_len = 0;
}

}  // namespace goro::rt
