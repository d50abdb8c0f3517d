// The network poller on epoll, as Go's netpoll_epoll.go.
//
// Model. Every socket goro::net opens is registered once, edge-triggered, for both read and
// write readiness (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET). A poll_desc records, for each
// side, either that readiness arrived and no caller has consumed it yet (`ready`), or the waiter
// of the one goroutine or thread blocked on that side. An I/O attempt goes: poll_reset (forget
// old readiness), the system call, and on EAGAIN poll_wait, which returns at once if an event
// arrived in between and parks otherwise. Edge-triggered events are never lost because the
// side's `ready` flag holds an event until a waiter consumes it.
//
// A TCP reader that learned from TCP_CM_INQ that its read emptied the receive queue skips the
// next attempt, which would fail with EAGAIN, and calls poll_wait_read_drained instead. That
// is safe because of how edge-triggered epoll reports sockets (Linux fs/eventpoll.c). Every
// arrival of data calls the socket's wake-up callback, which puts the fd on the epoll ready
// list unless it is already there. An arrival while an epoll_wait copies the list out is put
// back on the list afterwards. So data that arrives after the read was emptying the
// queue is reported by an epoll_wait that runs after the arrival, hence after the reader's
// poll_reset, and netpoll sets `ready` or wakes the waiter under the descriptor's lock. Only
// poll_reset and poll_wait clear `ready`, and the skipping reader calls neither in between.
// The one hazard left is a hangup or error that arrived before that read, was reported, and
// was then cleared by that read's poll_reset. TCP_CM_INQ is 1 after a FIN (Linux,
// tcp_inq_hint), but 0 after a reset once the data before it is read. The sticky `hangup`
// flag covers both.
//
// Who polls. There is no poller thread. The scheduler polls:
//   * findrunnable, with nothing else to do, polls without blocking (netpoll(0));
//   * the last M to go idle blocks in epoll_wait until the next timer (at most one M does,
//     the one that swapped sched.lastpoll to 0), and netpoll_break wakes it early through an
//     eventfd when an earlier timer is added or the run is exiting;
//   * sysmon polls when nobody has for 10 ms, so a busy program still sees its sockets.
// Readied goroutines are handed back as a list (linked through G::schedlink) and the caller
// queues them where it can run them (proc.cc, inject_glist).
//
// Descriptor records are allocated in chunks and never freed, so an event that names a record
// always names valid memory. An event carries the record's index and its `seq`, which
// poll_close increments: an event queued for a closed fd is recognised as stale and dropped,
// even if the fd number and the record were reused by a new socket.
//
// Deadlines use the runtime's timers. A timer's callback compares the side's deadline with
// the clock under the descriptor's lock, so a callback that fires late, after the deadline
// was extended, cleared, or the record reused, does nothing.
//
// Lock order: poll_desc::lock, then a P's timers_lock (addtimer, deltimer). Waiters are woken
// after the descriptor lock is dropped.
#include "runtime/netpoll/netpoll.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <new>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/waiter.h"
#include "runtime/time/timer.h"

namespace goro::rt {

namespace {

// Reasons a waiter woke, passed in waiter::ticket.
constexpr std::int32_t kWokeReady = 0;
constexpr std::int32_t kWokeClosing = 1;
constexpr std::int32_t kWokeTimeout = 2;

// Records per chunk and the number of chunks: 1024 * 1024 descriptors open at once, far above
// the usual RLIMIT_NOFILE hard limit (1 048 576 on Debian 12 is the kernel's nr_open default).
constexpr std::uint32_t kChunkSize = 1024;
constexpr std::uint32_t kMaxChunks = 1024;

// epoll_wait batch: events handled per system call.
constexpr int kEventBatch = 128;

// epoll user data of the eventfd that netpoll_break writes.
constexpr std::uint64_t kBreakToken = ~std::uint64_t{0};

}  // namespace

struct poll_side {
  bool ready = false;    // an event arrived that no waiter has consumed yet
  bool expired = false;  // the deadline has passed
  waiter* w = nullptr;   // the blocked caller, or nullptr
  std::int64_t deadline = 0;  // nanotime, 0 = none
  timer t;
};

struct poll_desc {
  // Guards every field below except index.
  runtime_lock lock;
  int fd = -1;
  std::uint32_t seq = 0;  // incremented by poll_close; tags epoll events
  bool closing = false;
  // The poller reported EPOLLRDHUP, EPOLLHUP or EPOLLERR since poll_open. poll_reset leaves
  // it set, so poll_wait_read_drained returns for a hangup whose readiness poll_reset cleared.
  bool hangup = false;
  poll_side rd;
  poll_side wr;
  poll_desc* next_free = nullptr;  // guarded by pd_cache_lock while on the free list
  std::uint32_t index = 0;         // position in the chunk table, fixed for life
};

namespace {

int epfd = -1;
int break_fd = -1;
// Set once epfd exists; acquire pairs with the release in netpoll_init, so a reader that sees
// true also sees epfd and break_fd.
std::atomic<bool> inited{false};
runtime_lock init_lock;
// True while a netpoll_break write is unconsumed, so a burst of breaks costs one write.
std::atomic<bool> break_pending{false};
// False once epoll_pwait2 returned ENOSYS; then timeouts round up to milliseconds.
std::atomic<bool> have_pwait2{true};

std::atomic<std::int64_t> nwaiters{0};

// Chunk table: chunks[i] contains records i * kChunkSize .. (i + 1) * kChunkSize - 1. A chunk is
// published with release after it is built; readers (netpoll) load it with acquire.
std::atomic<poll_desc*> chunks[kMaxChunks];
// Guards nchunks and the free list.
runtime_lock pd_cache_lock;
std::uint32_t nchunks = 0;
poll_desc* pd_free = nullptr;

void netpoll_init() {
  std::lock_guard<runtime_lock> guard(init_lock);
  if (inited.load(std::memory_order_relaxed)) return;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) fatal("netpoll: epoll_create1 failed");
  break_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (break_fd < 0) fatal("netpoll: eventfd failed");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kBreakToken;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, break_fd, &ev) != 0) fatal("netpoll: epoll_ctl(eventfd) failed");
  sched.lastpoll.store(os::nanotime(), std::memory_order_relaxed);
  inited.store(true, std::memory_order_release);
}

poll_desc* pd_alloc() {
  std::lock_guard<runtime_lock> guard(pd_cache_lock);
  if (pd_free == nullptr) {
    if (nchunks == kMaxChunks) return nullptr;
    auto* chunk = new (std::nothrow) poll_desc[kChunkSize];
    if (chunk == nullptr) return nullptr;
    for (std::uint32_t i = kChunkSize; i-- > 0;) {
      chunk[i].index = nchunks * kChunkSize + i;
      chunk[i].next_free = pd_free;
      pd_free = &chunk[i];
    }
    chunks[nchunks].store(chunk, std::memory_order_release);
    nchunks++;
  }
  poll_desc* pd = pd_free;
  pd_free = pd->next_free;
  pd->next_free = nullptr;
  return pd;
}

void pd_release(poll_desc* pd) {
  std::lock_guard<runtime_lock> guard(pd_cache_lock);
  pd->next_free = pd_free;
  pd_free = pd;
}

poll_desc* pd_lookup(std::uint32_t index) {
  poll_desc* chunk = chunks[index / kChunkSize].load(std::memory_order_acquire);
  return chunk == nullptr ? nullptr : &chunk[index % kChunkSize];
}

std::uint64_t event_tag(const poll_desc* pd) {
  return (std::uint64_t{pd->seq} << 32) | pd->index;
}

// pd->lock held. Unlinks the waiter of side s (and of the other side too, for a read_write
// wait) and records why it wakes. Returns it, or nullptr if nobody waits.
waiter* take_waiter(poll_desc* pd, poll_side& s, std::int32_t why) {
  waiter* w = s.w;
  if (w == nullptr) return nullptr;
  if (pd->rd.w == w) pd->rd.w = nullptr;
  if (pd->wr.w == w) pd->wr.w = nullptr;
  w->ticket = why;
  return w;
}

// Collects woken waiters: goroutines go onto a run list for the scheduler to queue, plain
// threads are woken at once.
struct wake_list {
  G* head = nullptr;
  G* tail = nullptr;
  std::int32_t n = 0;

  void add(waiter* w) {
    if (w == nullptr) return;
    G* gp = w->g;
    if (gp == nullptr) {
      waiter_wake(w);
      return;
    }
    casgstatus(gp, gstatus::waiting, gstatus::runnable);
    gp->wait_reason.store(waitreason::zero, std::memory_order_relaxed);
    gp->schedlink = nullptr;
    if (tail == nullptr) {
      head = gp;
    } else {
      tail->schedlink = gp;
    }
    tail = gp;
    n++;
  }
};

// Timer callback of a side's deadline.
void deadline_fired(timer* t, void* arg, std::int64_t now) {
  auto* pd = static_cast<poll_desc*>(arg);
  waiter* w = nullptr;
  {
    std::lock_guard<runtime_lock> guard(pd->lock);
    poll_side& s = t == &pd->rd.t ? pd->rd : pd->wr;
    // A late callback for a deadline that was moved, cleared or belongs to a closed socket.
    if (s.deadline == 0 || s.deadline > now) return;
    s.expired = true;
    w = take_waiter(pd, s, kWokeTimeout);
  }
  if (w != nullptr) waiter_wake(w);
}

poll_status side_status(const poll_desc* pd, const poll_side& s) {
  if (pd->closing) return poll_status::closing;
  if (s.expired) return poll_status::timeout;
  return poll_status::ok;
}

bool unlock_pd(void* arg) {
  static_cast<poll_desc*>(arg)->lock.unlock();
  return true;
}

// A plain thread waits while the runtime is not running: no M polls, so poll the fd here. The
// bounded slice lets the thread notice poll_unblock and deadlines.
constexpr int kPlainPollSliceMs = 50;

poll_status plain_poll_wait(poll_desc* pd, poll_mode mode) {
  for (;;) {
    int fd;
    std::int64_t deadline = 0;
    {
      std::lock_guard<runtime_lock> guard(pd->lock);
      poll_side& s = mode == poll_mode::write ? pd->wr : pd->rd;
      if (poll_status st = side_status(pd, s); st != poll_status::ok) return st;
      if (s.ready) {
        s.ready = false;
        return poll_status::ok;
      }
      fd = pd->fd;
      deadline = s.deadline;
    }
    int timeout = kPlainPollSliceMs;
    if (deadline != 0) {
      std::int64_t left = deadline - os::nanotime();
      if (left <= 0) {
        std::lock_guard<runtime_lock> guard(pd->lock);
        (mode == poll_mode::write ? pd->wr : pd->rd).expired = true;
        continue;
      }
      if (left / 1'000'000 < timeout) timeout = static_cast<int>(left / 1'000'000) + 1;
    }
    pollfd pfd{};
    pfd.fd = fd;
    if (mode != poll_mode::write) pfd.events |= POLLIN | POLLRDHUP;
    if (mode != poll_mode::read) pfd.events |= POLLOUT;
    if (::poll(&pfd, 1, timeout) > 0) return poll_status::ok;
  }
}

}  // namespace

poll_desc* poll_open(int fd) {
  if (!inited.load(std::memory_order_acquire)) netpoll_init();
  poll_desc* pd = pd_alloc();
  if (pd == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  {
    std::lock_guard<runtime_lock> guard(pd->lock);
    pd->fd = fd;
    pd->closing = false;
    pd->hangup = false;
    pd->rd.ready = pd->wr.ready = false;
    pd->rd.expired = pd->wr.expired = false;
    pd->rd.deadline = pd->wr.deadline = 0;
    pd->rd.t.f = pd->wr.t.f = &deadline_fired;
    pd->rd.t.arg = pd->wr.t.arg = pd;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = event_tag(pd);
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    {
      std::lock_guard<runtime_lock> guard(pd->lock);
      pd->fd = -1;
      pd->seq++;
    }
    pd_release(pd);
    errno = err;
    return nullptr;
  }
  return pd;
}

void poll_unblock(poll_desc* pd) {
  waiter* wr = nullptr;
  waiter* ww = nullptr;
  {
    std::lock_guard<runtime_lock> guard(pd->lock);
    pd->closing = true;
    wr = take_waiter(pd, pd->rd, kWokeClosing);
    ww = take_waiter(pd, pd->wr, kWokeClosing);
    pd->rd.deadline = pd->wr.deadline = 0;
    deltimer(&pd->rd.t);
    deltimer(&pd->wr.t);
  }
  if (wr != nullptr) waiter_wake(wr);
  if (ww != nullptr) waiter_wake(ww);
}

void poll_close(poll_desc* pd) {
  {
    std::lock_guard<runtime_lock> guard(pd->lock);
    if (pd->rd.w != nullptr || pd->wr.w != nullptr) throw_bug("poll_close: descriptor has waiters");
    // Errors are ignored: the fd may already be gone from the set if it was dup'ed and the
    // other copy closed, and the seq bump below makes any queued event stale anyway.
    epoll_ctl(epfd, EPOLL_CTL_DEL, pd->fd, nullptr);
    pd->seq++;
    pd->fd = -1;
    pd->rd.deadline = pd->wr.deadline = 0;
    deltimer(&pd->rd.t);
    deltimer(&pd->wr.t);
  }
  pd_release(pd);
}

poll_status poll_reset(poll_desc* pd, poll_mode mode) {
  std::lock_guard<runtime_lock> guard(pd->lock);
  if (mode != poll_mode::write) {
    if (poll_status st = side_status(pd, pd->rd); st != poll_status::ok) return st;
    pd->rd.ready = false;
  }
  if (mode != poll_mode::read) {
    if (poll_status st = side_status(pd, pd->wr); st != poll_status::ok) return st;
    pd->wr.ready = false;
  }
  return poll_status::ok;
}

namespace {

// poll_wait, and with return_on_hangup poll_wait_read_drained.
poll_status wait_ready(poll_desc* pd, poll_mode mode, bool return_on_hangup) {
  if (!on_goroutine() && !runtime_running()) {
    // plain_poll_wait calls poll(2), which reports the fd's current state, including a
    // hangup, so it needs no flag.
    return plain_poll_wait(pd, mode);
  }

  // Before the descriptor's lock (goroutine_section in sched.h). Most calls here park, so
  // entering first costs less than checking, unlocking to enter and checking again.
  goroutine_section section;
  waiter w;
  waiter_init(&w);
  pd->lock.lock();
  const bool want_rd = mode != poll_mode::write;
  const bool want_wr = mode != poll_mode::read;
  if (want_rd) {
    if (poll_status st = side_status(pd, pd->rd); st != poll_status::ok) {
      pd->lock.unlock();
      return st;
    }
  }
  if (want_wr) {
    if (poll_status st = side_status(pd, pd->wr); st != poll_status::ok) {
      pd->lock.unlock();
      return st;
    }
  }
  if (return_on_hangup && pd->hangup) {
    pd->lock.unlock();
    return poll_status::ok;
  }
  if ((want_rd && pd->rd.ready) || (want_wr && pd->wr.ready)) {
    if (want_rd) pd->rd.ready = false;
    if (want_wr) pd->wr.ready = false;
    pd->lock.unlock();
    return poll_status::ok;
  }
  if ((want_rd && pd->rd.w != nullptr) || (want_wr && pd->wr.w != nullptr)) {
    pd->lock.unlock();
    throw_bug("poll_wait: two callers wait on one side of a descriptor");
  }
  if (want_rd) pd->rd.w = &w;
  if (want_wr) pd->wr.w = &w;
  nwaiters.fetch_add(1, std::memory_order_acq_rel);

  if (w.g != nullptr) {
    waiter_block(&w, waitreason::io_wait, &unlock_pd, pd);
  } else {
    // A plain thread has no M that goes on to poll for it. If no M is blocked in the poller,
    // start one on an idle P, which finds nothing to run and polls (with every P busy,
    // sysmon polls). The waiter is registered first, so that M sees it.
    pd->lock.unlock();
    if (sched.lastpoll.load(std::memory_order_acquire) != 0 &&
        sched.npidle.load(std::memory_order_relaxed) > 0) {
      startm(nullptr, false);
    }
    waiter_block(&w, waitreason::io_wait, nullptr, nullptr);
  }
  nwaiters.fetch_sub(1, std::memory_order_acq_rel);

  switch (w.ticket) {
    case kWokeClosing: return poll_status::closing;
    case kWokeTimeout: return poll_status::timeout;
    default: return poll_status::ok;
  }
}

}  // namespace

poll_status poll_wait(poll_desc* pd, poll_mode mode) { return wait_ready(pd, mode, false); }

poll_status poll_wait_read_drained(poll_desc* pd) {
  return wait_ready(pd, poll_mode::read, true);
}

void poll_set_deadline(poll_desc* pd, std::int64_t deadline, poll_mode mode) {
  std::int64_t now = deadline > 0 ? os::nanotime() : 0;
  waiter* woken[2] = {nullptr, nullptr};
  {
    std::lock_guard<runtime_lock> guard(pd->lock);
    if (pd->closing) return;
    int i = 0;
    for (poll_side* s : {&pd->rd, &pd->wr}) {
      bool is_rd = s == &pd->rd;
      if ((is_rd && mode == poll_mode::write) || (!is_rd && mode == poll_mode::read)) continue;
      deltimer(&s->t);
      s->deadline = deadline;
      s->expired = false;
      if (deadline == 0) continue;
      if (deadline <= now) {
        s->expired = true;
        woken[i++] = take_waiter(pd, *s, kWokeTimeout);
        continue;
      }
      s->t.when = deadline;
      s->t.period = 0;
      addtimer(&s->t);
    }
  }
  for (waiter* w : woken) {
    if (w != nullptr) waiter_wake(w);
  }
}

std::int64_t netpoll_waiters() { return nwaiters.load(std::memory_order_acquire); }

bool netpoll_inited() { return inited.load(std::memory_order_acquire); }

G* netpoll(std::int64_t delay_ns, std::int32_t* n) {
  *n = 0;
  if (!netpoll_inited()) return nullptr;

  epoll_event events[kEventBatch];
  int got;
  for (;;) {
    if (have_pwait2.load(std::memory_order_relaxed)) {
      timespec ts{};
      timespec* tsp = nullptr;
      if (delay_ns >= 0) {
        ts.tv_sec = delay_ns / 1'000'000'000;
        ts.tv_nsec = delay_ns % 1'000'000'000;
        tsp = &ts;
      }
      got = epoll_pwait2(epfd, events, kEventBatch, tsp, nullptr);
      if (got < 0 && errno == ENOSYS) {
        have_pwait2.store(false, std::memory_order_relaxed);
        continue;
      }
    } else {
      // Round up, so a timer is never woken for early and polled again in a loop.
      // Capped at INT_MAX ms (24 days), for a timer due at kMaxWhen.
      int ms = -1;
      if (delay_ns >= 0) {
        const std::int64_t rounded_up = delay_ns / 1'000'000 + (delay_ns % 1'000'000 != 0 ? 1 : 0);
        ms = static_cast<int>(std::min<std::int64_t>(rounded_up, INT_MAX));
      }
      got = epoll_wait(epfd, events, kEventBatch, ms);
    }
    if (got >= 0) break;
    if (errno != EINTR) fatal("netpoll: epoll_wait failed");
    // Interrupted (a profiling signal, say): a blocking poll returns so the caller re-plans.
    if (delay_ns != 0) return nullptr;
  }

  wake_list woken;
  for (int i = 0; i < got; ++i) {
    std::uint64_t tag = events[i].data.u64;
    if (tag == kBreakToken) {
      std::uint64_t value;
      [[maybe_unused]] ssize_t r = ::read(break_fd, &value, sizeof(value));
      break_pending.store(false, std::memory_order_release);
      continue;
    }
    poll_desc* pd = pd_lookup(static_cast<std::uint32_t>(tag));
    if (pd == nullptr) continue;
    std::uint32_t ev = events[i].events;
    bool readable = (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    bool writable = (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
    waiter* wr = nullptr;
    waiter* ww = nullptr;
    {
      std::lock_guard<runtime_lock> guard(pd->lock);
      if (pd->seq != static_cast<std::uint32_t>(tag >> 32) || pd->fd < 0) continue;  // stale
      if ((ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) pd->hangup = true;
      if (readable) {
        wr = take_waiter(pd, pd->rd, kWokeReady);
        if (wr == nullptr) pd->rd.ready = true;
      }
      if (writable) {
        ww = take_waiter(pd, pd->wr, kWokeReady);
        if (ww == nullptr) pd->wr.ready = true;
      }
    }
    woken.add(wr);
    woken.add(ww);
  }
  *n = woken.n;
  return woken.head;
}

void netpoll_break() {
  if (!netpoll_inited()) return;
  if (break_pending.exchange(true, std::memory_order_acq_rel)) return;
  std::uint64_t one = 1;
  for (;;) {
    ssize_t r = ::write(break_fd, &one, sizeof(one));
    if (r == sizeof(one) || errno == EAGAIN) return;  // EAGAIN: the counter is already non-zero
    if (errno != EINTR) fatal("netpoll: write to eventfd failed");
  }
}

void netpoll_shutdown() {
  std::lock_guard<runtime_lock> guard(init_lock);
  if (!inited.load(std::memory_order_relaxed)) return;
  inited.store(false, std::memory_order_release);
  ::close(epfd);
  ::close(break_fd);
  epfd = break_fd = -1;
  break_pending.store(false, std::memory_order_relaxed);
  nwaiters.store(0, std::memory_order_relaxed);
}

}  // namespace goro::rt
