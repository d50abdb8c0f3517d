// chan_scope: how a channel or select operation enters the runtime.
//
// On a goroutine the operation runs in runtime mode (acquire_p ... release_p_to_user, see
// runtime2.h): the caller holds its P with status running, so a partner it wakes goes into
// the P's runnext slot rather than the global queue, and leaving runtime mode is a
// cooperative preemption point. Entering may wait for a P, so it happens before any channel
// lock is taken; nested runtime mode (park inside waiter_block) is counted by the G.
//
// On a plain thread the operation registers the thread for deadlock detection (a thread
// that has used a channel counts as a possible waker while it is outside goro's primitives).
#pragma once

#include "runtime/sched/sched.h"
#include "runtime/sched/waiter.h"

namespace goro::detail {

class chan_scope {
 public:
  chan_scope() : on_goroutine_(rt::on_goroutine()) {
    if (on_goroutine_) {
      rt::acquire_p(rt::getm());
    } else {
      rt::plain_thread_register();
    }
  }
  ~chan_scope() {
    if (on_goroutine_) rt::release_p_to_user(rt::getm());  // re-read: the G may have moved
  }
  chan_scope(const chan_scope&) = delete;
  chan_scope& operator=(const chan_scope&) = delete;

 private:
  bool on_goroutine_;
};

}  // namespace goro::detail
