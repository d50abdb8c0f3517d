// chan_scope: how a channel or select operation enters the runtime, lazily.
//
// Waking a parked partner and parking the caller need runtime mode on a goroutine
// (acquire_p ... release_p_to_user, see runtime2.h): the caller holds its P with status
// running, so a partner it readies goes into the P's runnext slot instead of the global
// queue, and leaving runtime mode is a cooperative preemption point. Entering costs an atomic
// read-modify-write on the P and may wait for a P, so:
//   * an operation that completes on the buffer alone never enters (on an unbuffered
//     channel every operation wakes or parks, so callers enter at once there);
//   * a waker enters after releasing the channel lock, just before waiter_wake;
//   * an operation that must park while outside runtime mode releases the channel lock,
//     enters, and starts over (the channel may have changed meanwhile). Entering with a
//     channel lock held could wait for a P while other threads spin on that lock.
//
// On a plain thread nothing needs entering; the constructor registers the thread for
// deadlock detection (from its first channel operation on, a thread outside goro's
// primitives counts as a possible waker).
#pragma once

#include "runtime/sched/sched.h"
#include "runtime/sched/waiter.h"

namespace goro::detail {

class chan_scope {
 public:
  chan_scope() {
    m_ = rt::getm();
    g_ = m_ != nullptr ? m_->curg.load(std::memory_order_relaxed) : nullptr;
    on_goroutine_ = g_ != nullptr;
    if (!on_goroutine_) rt::plain_thread_register();
  }
  ~chan_scope() {
    if (entered_) rt::release_p_to_user(rt::getm());  // re-read: the G may have moved
  }
  chan_scope(const chan_scope&) = delete;
  chan_scope& operator=(const chan_scope&) = delete;

  // True if the caller may park now: a plain thread, or a goroutine in runtime mode.
  bool can_park() const { return !on_goroutine_ || entered_; }

  // Enters runtime mode on a goroutine (no-op on a plain thread or if already entered).
  // No channel lock may be held.
  void enter() {
    if (on_goroutine_ && !entered_) {
      rt::acquire_p(m_);
      entered_ = true;
    }
  }

  // The calling goroutine, or nullptr on a plain thread.
  rt::G* g() const { return g_; }

 private:
  // The caller's M, read once by the constructor. It stays valid until the first park,
  // because nothing before enter() is a scheduling point; code after a park re-reads getm().
  rt::M* m_;
  rt::G* g_;
  bool on_goroutine_;
  bool entered_ = false;
};

}  // namespace goro::detail
