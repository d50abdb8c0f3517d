// The network poller: goroutines wait for file descriptors to become readable or writable
// without holding a thread. This is goro's netpoll.go and netpoll_epoll.go; see netpoll.cc for
// the model, and internal/poll's fd_poll_runtime.go for how Go's net package drives it. The
// protocol for a caller (goro::net) mirrors Go's:
//
//   pd = poll_open(fd);                       // fd already O_NONBLOCK
//   for (;;) {
//     if (auto st = poll_reset(pd, poll_mode::read); st != poll_status::ok) fail(st);
//     n = ::read(fd, ...);
//     if (n >= 0 || errno != EAGAIN) break;
//     if (auto st = poll_wait(pd, poll_mode::read); st != poll_status::ok) fail(st);
//   }
//   ...
//   poll_unblock(pd);   // on close: wakes every waiter with poll_status::closing
//   poll_close(pd);     // once no operation uses pd any more, before ::close(fd)
#pragma once

#include <cstdint>

namespace goro::rt {

struct G;

enum class poll_mode : int { read = 1, write = 2, read_write = 3 };

enum class poll_status {
  ok,
  closing,  // poll_unblock was called: "use of closed network connection"
  timeout,  // the mode's deadline has passed: "i/o timeout"
};

struct poll_desc;

// Registers fd, which must be non-blocking, with the poller (started by the first call), for
// edge-triggered read and write readiness. Returns nullptr with errno set if epoll refuses
// the fd (EPERM for regular files: they are always ready; use goro::blocking for them).
// Any thread.
poll_desc* poll_open(int fd);

// Wakes every goroutine or thread waiting on pd with poll_status::closing; from now on
// poll_reset and poll_wait fail with it at once. Any thread.
void poll_unblock(poll_desc* pd);

// Deregisters pd's fd and recycles pd. The fd must still be open, and no caller may be in
// poll_wait on pd or use pd afterwards. Events for the fd still in flight are dropped, and a
// later poll_open that reuses the fd number or the record never receives them.
void poll_close(poll_desc* pd);

// Clears the readiness seen before an I/O attempt in `mode`, because the attempt itself is the
// check. Returns closing or timeout if pd is closing or the mode's deadline has passed.
poll_status poll_reset(poll_desc* pd, poll_mode mode);

// After an attempt failed with EAGAIN: blocks the caller (a goroutine parks with Go's wait
// reason "IO wait"; a plain thread sleeps) until the fd becomes ready in `mode`, the deadline
// passes, or pd is unblocked. Returns at once if readiness arrived since poll_reset. For
// poll_mode::read_write it returns when either side is ready.
poll_status poll_wait(poll_desc* pd, poll_mode mode);

// Waits for read readiness like poll_wait(pd, poll_mode::read), for a caller that skips the
// read attempt that would fail with EAGAIN. The caller's last read must have emptied the
// receive queue (TCP_CM_INQ was 0), and no poll_reset(read) may have run since the one before
// that read. Returns at once if read readiness arrived since that poll_reset, or if the
// poller ever reported EPOLLRDHUP, EPOLLHUP or EPOLLERR for the socket, so that a hangup or
// error is always read by an attempt.
poll_status poll_wait_read_drained(poll_desc* pd);

// Sets the deadline of `mode` (read, write or both) to `deadline`, an absolute time on the
// os::nanotime clock (CLOCK_MONOTONIC, the clock of std::chrono::steady_clock); 0 clears it;
// a value not after now expires it at once. Callers blocked in poll_wait see the new deadline:
// extending it keeps them waiting, shortening it into the past wakes them with timeout.
void poll_set_deadline(poll_desc* pd, std::int64_t deadline, poll_mode mode);

// Goroutines and threads currently blocked in poll_wait (deadlock detection, metrics).
std::int64_t netpoll_waiters();

// --- Scheduler side (proc.cc, sysmon.cc) -----------------------------------------------------

// True once the first poll_open has started the poller.
bool netpoll_inited();

// Wakes every waiter whose fd has become ready. delay_ns < 0 blocks until an event or
// netpoll_break(), 0 does not block, and > 0 blocks at most that long. Woken plain threads
// run at once. Woken goroutines are made runnable and returned as a list linked through
// G::schedlink (*n of them), which the caller must queue (inject_glist). Only one M blocks
// (delay != 0) at a time: the one that set sched.lastpoll to 0.
G* netpoll(std::int64_t delay_ns, std::int32_t* n);

// Interrupts an M blocked in netpoll (a new earlier timer, or work for it). Any thread.
void netpoll_break();

// End of a goro::run: closes the epoll instance. Descriptors still open are leaked to the
// caller (their fds stay open); a later run starts a new poller.
void netpoll_shutdown();

}  // namespace goro::rt
