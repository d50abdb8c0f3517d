// net_fd: one non-blocking socket registered with the network poller, and the reference-counted
// lock that keeps its descriptor number valid while calls use it. Go's internal/poll FD and
// fdMutex are the model.
//
// Model. Every I/O call takes a reference (incref) for its whole duration, and readers and
// writers each serialise on their own goro::mutex, so one read and one write can be in the
// kernel at once. close() sets the closed bit, so no new call can take a reference, and calls
// poll_unblock, so calls parked in poll_wait return errc::closed. The last reference to leave
// (close's own, or the last in-flight call's) runs destroy: poll_close, then ::close. close()
// waits on close_sema_ until destroy has run, so when it returns the descriptor number is free
// and no stale call can touch whatever socket reuses it.
//
// Invariants:
//   * state_ = closed bit | refs * kRef. Once the closed bit is set, refs only decrease, and
//     the transition to exactly kClosed (no refs) happens once: that caller destroys.
//   * sysfd_ and pd_ stay valid while a reference is held.
//   * A call fails with errc::closed at once if the closed bit is set when it starts, and
//     returns errc::closed if close() runs while it waits.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "goro/sync.hpp"
#include "runtime/netpoll/netpoll.h"

namespace goro::rt {

// The outcome of one I/O call: bytes moved, and the failed system call's name with its error.
struct io_result {
  std::size_t bytes = 0;
  std::error_code error;
  const char* syscall = nullptr;  // "read", "connect", ...; null for closed and timeout
};

class net_fd {
 public:
  // Takes ownership of sysfd, which must be non-blocking and close-on-exec, and registers it
  // with the poller. On failure closes sysfd and returns the poller's error.
  std::error_code open(int sysfd, bool stream);
  ~net_fd();

  net_fd() = default;
  net_fd(const net_fd&) = delete;
  net_fd& operator=(const net_fd&) = delete;

  // For a connected TCP socket, before it is shared: sets TCP_INQ, so that the kernel reports
  // with every read how many bytes stay queued. After a read that emptied the queue, the next
  // read then waits for readiness without first failing with EAGAIN. If the kernel rejects
  // the option, reads go on as before.
  void enable_read_queue_hint();

  // Reads up to n bytes (0 at end of stream). With n == 0 returns at once on a stream.
  io_result read(void* buf, std::size_t n);
  // Writes all n bytes, waiting for buffer space as needed; io_result::bytes is the count
  // written before an error. send(MSG_NOSIGNAL): a reset peer gives EPIPE, not SIGPIPE.
  io_result write(const void* buf, std::size_t n);
  io_result read_from(void* buf, std::size_t n, sockaddr_storage* from, socklen_t* from_len);
  io_result write_to(const void* buf, std::size_t n, const sockaddr* to, socklen_t to_len);
  // One accepted connection, non-blocking and close-on-exec, in *accepted. ECONNABORTED is
  // retried; other errors (EMFILE included) are returned to the caller.
  io_result accept(int* accepted, sockaddr_storage* peer, socklen_t* peer_len);
  // Non-blocking connect, then waits for it under the write deadline.
  io_result connect(const sockaddr* to, socklen_t to_len);

  // Closes as described at the top of this file. Returns errc::closed if already closed.
  std::error_code close();
  std::error_code shutdown(int how);
  // False for a datagram socket (UDP).
  bool stream() const { return stream_; }
  std::error_code set_option(int level, int name, int value);

  // deadline_ns is on the CLOCK_MONOTONIC clock, 0 clears it. Returns errc::closed if the
  // socket is closed.
  std::error_code set_deadline(std::int64_t deadline_ns, poll_mode mode);

  // The descriptor, or -1 once closed. For display and socket options only.
  int sysfd() const;
  bool closed() const;

  // Runs f(sysfd) with a reference held, so the descriptor cannot be closed during the call.
  // Returns errc::closed if it already is.
  template <class F>
  std::error_code with_fd(F&& f) {
    if (!incref()) return closed_error();
    std::error_code ec = f(sysfd_);
    decref();
    return ec;
  }

 private:
  static std::error_code closed_error();
  bool incref();
  void decref();
  void destroy();
  // Runs Go's poll loop for one operation on the `mode` side: reset, attempt, and on EAGAIN
  // wait for readiness, until the attempt succeeds or fails. `attempt` returns the system
  // call's result (< 0 with errno set).
  template <class Attempt>
  io_result poll_loop(poll_mode mode, const char* syscall, Attempt&& attempt);
  io_result connect_locked(const sockaddr* to, socklen_t to_len);  // write_lock_ held
  io_result read_with_queue_hint(void* buf, std::size_t n);       // read_lock_ held

  // The closed bit and the reference count in one word, so "not closed, take a reference" is
  // one compare-and-swap. acq_rel on every change: the destroying caller must see every write
  // made by the calls that held references before it.
  static constexpr std::uint64_t kClosed = 1;
  static constexpr std::uint64_t kRef = 2;
  std::atomic<std::uint64_t> state_{0};

  // Written by open() before the net_fd is shared and read-only afterwards. After destroy the
  // number may belong to another file, so only calls holding a reference use it.
  int sysfd_ = -1;
  poll_desc* pd_ = nullptr;
  bool stream_ = true;
  // Set by enable_read_queue_hint before the socket is shared, read-only afterwards.
  bool read_queue_hint_ = false;
  // Guarded by read_lock_. True when the last read returned data and left the receive queue
  // empty (TCP_CM_INQ 0), so the next read starts with poll_wait_read_drained.
  bool read_drained_ = false;

  goro::mutex read_lock_;   // held by the one reader (read, read_from, accept) inside a call
  goro::mutex write_lock_;  // held by the one writer (write, write_to, connect) inside a call
  // Released once by destroy; close() waits on it so that it returns after ::close.
  std::atomic<std::uint32_t> close_sema_{0};
  // Set by destroy (release); read by sysfd() (acquire) so that a closed socket shows -1.
  std::atomic<bool> destroyed_{false};
};

}  // namespace goro::rt
