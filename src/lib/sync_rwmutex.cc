// goro::shared_mutex: Go's sync.RWMutex on goro's semaphore (lib/sema.h).
//
// reader_count_ counts readers that hold or wait for the lock. A writer first takes
// writer_mutex_ (excluding other writers), then subtracts kMaxReaders: from then on the count
// is negative, so arriving readers block on reader_sem_. The readers that were active at that
// moment are added to reader_wait_; each one that leaves decrements it, and the last wakes the
// writer on writer_sem_. unlock adds kMaxReaders back and releases every reader that queued
// meanwhile. All counter operations are sequentially consistent read-modify-writes, as the
// hand-offs between readers and the writer depend on each side seeing the other's update.
#include "goro/sync.hpp"
#include "lib/sema.h"
#include "runtime/sched/fatal.h"

namespace goro {

namespace {
// More readers than this at once are not supported (Go's rwmutexMaxReaders).
constexpr std::int32_t kMaxReaders = 1 << 30;
}  // namespace

void shared_mutex::lock_shared() {
  if (reader_count_.fetch_add(1, std::memory_order_seq_cst) + 1 < 0) {
    // A writer holds or waits for the lock: wait until it unlocks.
    rt::semacquire(&reader_sem_, rt::waitreason::sync_rwmutex_rlock, false);
  }
}

bool shared_mutex::try_lock_shared() noexcept {
  std::int32_t c = reader_count_.load(std::memory_order_relaxed);
  while (c >= 0) {
    if (reader_count_.compare_exchange_weak(c, c + 1, std::memory_order_seq_cst,
                                            std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void shared_mutex::unlock_shared() {
  std::int32_t r = reader_count_.fetch_sub(1, std::memory_order_seq_cst) - 1;
  if (r < 0) unlock_shared_slow(r);
}

void shared_mutex::unlock_shared_slow(std::int32_t readers) {
  if (readers + 1 == 0 || readers + 1 == -kMaxReaders) {
    rt::fatal("sync: RUnlock of unlocked RWMutex");
  }
  // A writer is waiting: the last departing reader wakes it.
  if (reader_wait_.fetch_sub(1, std::memory_order_seq_cst) - 1 == 0) {
    rt::semrelease(&writer_sem_, false);
  }
}

void shared_mutex::lock() {
  if (!writer_mutex_.try_lock()) writer_mutex_.lock_slow(detail::lock_wait::rwmutex_writer);
  // Announce the writer; r is the number of active readers.
  std::int32_t r = reader_count_.fetch_sub(kMaxReaders, std::memory_order_seq_cst);
  if (r != 0 && reader_wait_.fetch_add(r, std::memory_order_seq_cst) + r != 0) {
    rt::semacquire(&writer_sem_, rt::waitreason::sync_rwmutex_lock, false);
  }
}

bool shared_mutex::try_lock() noexcept {
  if (!writer_mutex_.try_lock()) return false;
  std::int32_t zero = 0;
  if (!reader_count_.compare_exchange_strong(zero, -kMaxReaders, std::memory_order_seq_cst,
                                             std::memory_order_relaxed)) {
    writer_mutex_.unlock();
    return false;
  }
  return true;
}

void shared_mutex::unlock() {
  std::int32_t r = reader_count_.fetch_add(kMaxReaders, std::memory_order_seq_cst) + kMaxReaders;
  if (r >= kMaxReaders) rt::fatal("sync: Unlock of unlocked RWMutex");
  // Release the readers that arrived while the writer held the lock.
  for (std::int32_t i = 0; i < r; ++i) rt::semrelease(&reader_sem_, false);
  writer_mutex_.unlock();
}

}  // namespace goro
