// goro::context: a tree of cancellation nodes, Go's cancelCtx and timerCtx in one type.
//
// Model. Each context_node has an optional parent and a list of live children. Cancelling a
// node records the cause, closes its done channel and takes its children list, all under its
// lock. Then, without the lock, it cancels each child with the same cause and removes itself
// from its parent's list. A child created under an already cancelled parent is
// cancelled at once. Lock order: a node's lock may be held while taking its done channel's
// lock or a timer heap lock, never another node's.
//
// Deadlines use a runtime timer embedded in the node. While it is armed, the node holds a
// strong reference to itself (timer_ref), so the callback, which runs on an M in runtime mode
// and must not block, always finds the node alive; whoever disarms the timer (cancel with a
// successful deltimer, or the callback itself) drops that reference.
//
// The done channel is closed by close_done below rather than goro::chan::close, because the
// deadline callback runs on an M's scheduling stack, where the channel's entry bracket
// (chan_scope) would register the M as a plain thread.
#include "goro/context.hpp"

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "lib/chan_core.h"
#include "lib/chan_scope.h"
#include "runtime/os/futex.h"
#include "runtime/sched/lock.h"
#include "runtime/time/timer.h"

namespace goro {

namespace {

class context_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "goro.context"; }
  std::string message(int value) const override {
    switch (static_cast<context_errc>(value)) {
      case context_errc::canceled:
        return "context canceled";
      case context_errc::deadline_exceeded:
        return "context deadline exceeded";
    }
    return "unknown context error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& context_category() noexcept {
  static const context_error_category category;
  return category;
}

namespace detail {

struct context_node {
  rt::timer deadline_timer;  // first member: the callback recovers the node from its address

  std::shared_ptr<context_node> parent;  // nullptr: a child of background()
  chan<done_signal> done;                // closed on cancellation; never sent on
  std::optional<std::chrono::steady_clock::time_point> deadline;

  rt::runtime_lock lock;
  // Guarded by lock.
  bool canceled = false;
  context_errc cause = context_errc::canceled;
  std::vector<std::shared_ptr<context_node>> children;
  std::shared_ptr<context_node> timer_ref;  // set while deadline_timer is armed

  // Releases the chain of parents without recursion. Destroying a node drops its parent, and
  // the last reference to a parent would destroy it from inside this destructor, and so on
  // up a chain that can be thousands long. Each parent of which this is the only owner has
  // its own parent taken first, so its destruction stops there. No weak_ptr to a node
  // exists, so a use_count of 1 cannot rise meanwhile.
  ~context_node() {
    std::shared_ptr<context_node> up = std::move(parent);
    while (up != nullptr && up.use_count() == 1) {
      std::shared_ptr<context_node> next = std::move(up->parent);
      up = std::move(next);
    }
  }
  context_node() = default;
  context_node(const context_node&) = delete;
  context_node& operator=(const context_node&) = delete;

  static context handle(std::shared_ptr<context_node> node) { return context(std::move(node)); }
  static const std::shared_ptr<context_node>& node_of(const context& c) { return c.node_; }
};

namespace {

// Closes a done channel: marks it closed and wakes every parked receiver. Safe from timer
// callbacks (no chan_scope, runtime_locks only).
void close_done(chan_core* c) {
  rt::waiter* woken = nullptr;
  {
    std::lock_guard<rt::runtime_lock> guard(c->lock);
    c->closed.store(true, std::memory_order_relaxed);
    for (waitq* q : {&c->recvq, &c->sendq}) {
      while (rt::waiter* w = q->dequeue()) {
        w->success = false;
        w->next = woken;
        woken = w;
      }
    }
  }
  while (woken != nullptr) {
    rt::waiter* next = woken->next;  // read first: the waiter may vanish once woken
    wake_waiter(woken);
    woken = next;
  }
}

void remove_child(context_node* parent, context_node* child) {
  std::shared_ptr<context_node> dropped;  // released after the lock
  std::lock_guard<rt::runtime_lock> guard(parent->lock);
  auto& kids = parent->children;
  auto it = std::find_if(kids.begin(), kids.end(),
                         [child](const auto& k) { return k.get() == child; });
  if (it == kids.end()) return;
  dropped = std::move(*it);
  kids.erase(it);
}

// Cancels one node: records the cause and closes done, and appends its children to `kids`
// and its timer reference, if it disarmed the timer, to `timer_refs`. Returns false if the
// node was already cancelled.
bool cancel_one(context_node* node, context_errc cause,
                std::vector<std::shared_ptr<context_node>>* kids,
                std::vector<std::shared_ptr<context_node>>* timer_refs) {
  std::lock_guard<rt::runtime_lock> guard(node->lock);
  if (node->canceled) return false;
  node->canceled = true;
  node->cause = cause;
  close_done(node->done.core());
  for (auto& kid : node->children) kids->push_back(std::move(kid));
  node->children.clear();
  // If deltimer fails, the callback has been taken off the heap and drops timer_ref itself.
  if (node->timer_ref != nullptr && rt::deltimer(&node->deadline_timer)) {
    timer_refs->push_back(std::move(node->timer_ref));
  }
  return true;
}

// Cancels node and all its descendants with a work list, not recursion: a chain of thousands
// of contexts would otherwise overflow a goroutine's stack.
void cancel(context_node* node, context_errc cause, bool remove_from_parent) {
  // May hold the last references to node and its descendants: destroyed last.
  std::vector<std::shared_ptr<context_node>> timer_refs;
  std::vector<std::shared_ptr<context_node>> pending;
  if (!cancel_one(node, cause, &pending, &timer_refs)) return;
  while (!pending.empty()) {
    std::shared_ptr<context_node> kid = std::move(pending.back());
    pending.pop_back();
    cancel_one(kid.get(), cause, &pending, &timer_refs);
  }
  if (remove_from_parent && node->parent != nullptr) remove_child(node->parent.get(), node);
}

void fire_deadline(rt::timer* t, void* arg, std::int64_t now) {
  (void)arg;
  (void)now;
  auto* node = reinterpret_cast<context_node*>(t);
  std::shared_ptr<context_node> self;
  {
    std::lock_guard<rt::runtime_lock> guard(node->lock);
    self = std::move(node->timer_ref);
  }
  cancel(node, context_errc::deadline_exceeded, true);
}

std::int64_t to_nanotime(std::chrono::steady_clock::time_point tp) {
  // nanotime is CLOCK_MONOTONIC, the clock behind std::chrono::steady_clock on Linux.
  return std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
}

// Links node under its parent, or cancels it at once if the parent is already cancelled.
void attach(const std::shared_ptr<context_node>& node) {
  context_node* parent = node->parent.get();
  if (parent == nullptr) return;
  context_errc cause{};
  {
    std::lock_guard<rt::runtime_lock> guard(parent->lock);
    if (!parent->canceled) {
      parent->children.push_back(node);
      return;
    }
    cause = parent->cause;
  }
  cancel(node.get(), cause, false);
}

std::pair<context, cancel_function> make_child(
    const context& parent, std::optional<std::chrono::steady_clock::time_point> deadline) {
  // Registers a plain thread for deadlock detection. It does not enter runtime mode, so
  // addtimer uses the goroutine's P under that P's timer lock, and goroutines that a cancel
  // here wakes go to the global run queue.
  chan_scope scope;
  auto node = std::make_shared<context_node>();
  node->parent = context_node::node_of(parent);
  node->deadline = deadline;
  attach(node);

  if (deadline.has_value() && node->parent != nullptr && node->parent->deadline == deadline) {
    // Inherited from the parent, whose own timer cancels this child with it.
  } else if (deadline.has_value()) {
    std::int64_t when = to_nanotime(*deadline);
    if (when <= rt::os::nanotime()) {
      cancel(node.get(), context_errc::deadline_exceeded, true);
    } else {
      std::lock_guard<rt::runtime_lock> guard(node->lock);
      if (!node->canceled) {
        node->deadline_timer.when = when;
        node->deadline_timer.f = &fire_deadline;
        node->timer_ref = node;
        rt::addtimer(&node->deadline_timer);
      }
    }
  }

  cancel_function cancel_fn = [node] {
    chan_scope cancel_scope;
    cancel(node.get(), context_errc::canceled, true);
  };
  return {context_node::handle(node), std::move(cancel_fn)};
}

}  // namespace

}  // namespace detail

chan<done_signal> context::done() const {
  if (node_ == nullptr) return chan<done_signal>::nil();
  return node_->done;
}

std::error_code context::err() const {
  if (node_ == nullptr) return {};
  std::lock_guard<rt::runtime_lock> guard(node_->lock);
  if (!node_->canceled) return {};
  return make_error_code(node_->cause);
}

std::optional<std::chrono::steady_clock::time_point> context::deadline() const {
  if (node_ == nullptr) return std::nullopt;
  return node_->deadline;
}

std::pair<context, cancel_function> with_cancel(const context& parent) {
  return detail::make_child(parent, parent.deadline());
}

std::pair<context, cancel_function> with_deadline(const context& parent,
                                                  std::chrono::steady_clock::time_point deadline) {
  auto inherited = parent.deadline();
  if (inherited.has_value() && *inherited <= deadline) return detail::make_child(parent, inherited);
  return detail::make_child(parent, deadline);
}

std::pair<context, cancel_function> with_timeout(const context& parent,
                                                 std::chrono::nanoseconds timeout) {
  // Capped at the clock's end, so such a context never reaches its deadline, as in Go.
  return with_deadline(parent, rt::steady_after(timeout));
}

}  // namespace goro
