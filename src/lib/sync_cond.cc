// goro::condition_variable: Go's sync.Cond over a notify list (lib/sema_notify.h). The ticket
// is taken while the caller still holds the mutex, so a notification sent after the caller
// unlocks is never missed.
#include <new>

#include "goro/sync.hpp"
#include "lib/sema_notify.h"
#include "runtime/sched/sched.h"

namespace goro {

namespace {
rt::notify_list* list_of(unsigned char* storage) {
  return std::launder(reinterpret_cast<rt::notify_list*>(storage));
}
}  // namespace

condition_variable::condition_variable() noexcept {
  static_assert(sizeof(rt::notify_list) <= sizeof(list_), "grow condition_variable::list_");
  static_assert(alignof(rt::notify_list) <= 8, "align condition_variable::list_");
  ::new (static_cast<void*>(list_)) rt::notify_list();
}

condition_variable::~condition_variable() { list_of(list_)->~notify_list(); }

void condition_variable::notify_one() noexcept { rt::notify_list_notify_one(list_of(list_)); }

void condition_variable::notify_all() noexcept { rt::notify_list_notify_all(list_of(list_)); }

bool condition_variable::wait_until_ns(std::unique_lock<mutex>& lock, std::int64_t deadline) {
  rt::notify_list* l = list_of(list_);
  // Deadlines are runtime timers, which only the scheduler of a running goro::run fires.
  if (deadline >= 0 && !rt::runtime_running()) {
    throw panic_error(
        "goro::condition_variable: a timed wait needs goro::run to be active; use wait() "
        "without a deadline outside it");
  }
  std::uint32_t ticket = rt::notify_list_add(l);
  lock.unlock();
  bool notified = rt::notify_list_wait(l, ticket, deadline);
  lock.lock();
  return notified;
}

}  // namespace goro
