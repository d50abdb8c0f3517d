// net_fd: the reference-counted descriptor lock and Go's poll loop (see net_fd.h for the model).
#include "lib/net_fd.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "goro/net.hpp"
#include "lib/sema.h"

namespace goro::rt {

namespace {

std::error_code os_error(int err) { return {err, std::system_category()}; }

std::error_code status_error(poll_status st) {
  return st == poll_status::timeout ? make_error_code(net::errc::timeout)
                                    : make_error_code(net::errc::closed);
}

}  // namespace

std::error_code net_fd::closed_error() { return make_error_code(net::errc::closed); }

std::error_code net_fd::open(int sysfd, bool stream) {
  pd_ = poll_open(sysfd);
  if (pd_ == nullptr) {
    int err = errno;
    ::close(sysfd);
    return os_error(err);
  }
  sysfd_ = sysfd;
  stream_ = stream;
  return {};
}

net_fd::~net_fd() {
  // No handle is left, so no call holds a reference: close now unless close() already did.
  if (pd_ == nullptr) return;
  std::uint64_t s = state_.load(std::memory_order_acquire);
  if ((s & kClosed) == 0) destroy();
}

bool net_fd::incref() {
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  do {
    if ((s & kClosed) != 0) return false;
  } while (!state_.compare_exchange_weak(s, s + kRef, std::memory_order_acq_rel,
                                         std::memory_order_relaxed));
  return true;
}

void net_fd::decref() {
  // acq_rel: the caller that reaches kClosed must see what every earlier holder wrote.
  std::uint64_t now = state_.fetch_sub(kRef, std::memory_order_acq_rel) - kRef;
  if (now == kClosed) destroy();
}

void net_fd::destroy() {
  // NOTE: poll_close needs the descriptor still open, so it runs before ::close. No other
  // call can start between the two, because the closed bit is set and no reference is left.
  poll_close(pd_);
  ::close(sysfd_);
  destroyed_.store(true, std::memory_order_release);
  semrelease(&close_sema_, false);
}

std::error_code net_fd::close() {
  if (!incref()) return closed_error();
  std::uint64_t before = state_.fetch_or(kClosed, std::memory_order_acq_rel);
  if ((before & kClosed) != 0) {
    // Another close won between our incref and fetch_or; it waits for destroy itself.
    decref();
    return closed_error();
  }

  // Wake every call parked in poll_wait; callers queued on read_lock_ or write_lock_ find
  // the socket closing when their turn comes.
  poll_unblock(pd_);
  decref();
  semacquire(&close_sema_, waitreason::semacquire, false);
  return {};
}

bool net_fd::closed() const { return (state_.load(std::memory_order_acquire) & kClosed) != 0; }

int net_fd::sysfd() const {
  return destroyed_.load(std::memory_order_acquire) ? -1 : sysfd_;
}

std::error_code net_fd::set_deadline(std::int64_t deadline_ns, poll_mode mode) {
  if (!incref()) return closed_error();
  poll_set_deadline(pd_, deadline_ns, mode);
  decref();
  return {};
}

template <class Attempt>
io_result net_fd::poll_loop(poll_mode mode, const char* syscall, Attempt&& attempt) {
  io_result result;
  for (;;) {
    if (poll_status st = poll_reset(pd_, mode); st != poll_status::ok) {
      result.error = status_error(st);
      return result;
    }
    long n = attempt();
    if (n >= 0) {
      result.bytes = static_cast<std::size_t>(n);
      return result;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) {
      result.error = os_error(err);
      result.syscall = syscall;
      return result;
    }
    if (poll_status st = poll_wait(pd_, mode); st != poll_status::ok) {
      result.error = status_error(st);
      return result;
    }
  }
}

void net_fd::enable_read_queue_hint() {
  int on = 1;
  read_queue_hint_ = ::setsockopt(sysfd_, IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
}

io_result net_fd::read(void* buf, std::size_t n) {
  if (!incref()) return {0, closed_error(), nullptr};
  io_result result;
  if (n == 0 && stream_) {
    // A zero-byte read would look like end of stream; there is nothing to wait for.
  } else {
    std::lock_guard<goro::mutex> guard(read_lock_);
    if (read_queue_hint_) {
      result = read_with_queue_hint(buf, n);
    } else {
      result = poll_loop(poll_mode::read, "read", [&] { return ::read(sysfd_, buf, n); });
    }
  }
  decref();
  return result;
}

io_result net_fd::read_with_queue_hint(void* buf, std::size_t n) {
  // The last read emptied the queue, so a read now would most likely fail with EAGAIN. Wait
  // for readiness first. No data can be missed, as netpoll.cc explains. Data that arrived
  // after that read emptied the queue set the read side's `ready` flag after the poll_reset
  // before that read. Nothing has cleared the flag since, because every reader holds
  // read_lock_ and this one has not called poll_reset again.
  if (read_drained_) {
    read_drained_ = false;
    if (poll_status st = poll_wait_read_drained(pd_); st != poll_status::ok) {
      return {0, status_error(st), nullptr};
    }
  }

  int queued = -1;
  // The syscall is named "read" in errors, as Go names it, although this is recvmsg.
  io_result result = poll_loop(poll_mode::read, "read", [&] {
    iovec iov{buf, n};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t got = ::recvmsg(sysfd_, &message, 0);
    if (got < 0) return got;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
        std::memcpy(&queued, CMSG_DATA(c), sizeof queued);
      }
    }
    return got;
  });
  // TCP_CM_INQ is 1, not 0, once a FIN has arrived, so end of stream is always read.
  read_drained_ = !result.error && result.bytes > 0 && queued == 0;
  return result;
}

io_result net_fd::write(const void* buf, std::size_t n) {
  if (!incref()) return {0, closed_error(), nullptr};
  io_result result;
  {
    std::lock_guard<goro::mutex> guard(write_lock_);
    const char* bytes = static_cast<const char*>(buf);
    std::size_t done = 0;
    // A datagram socket sends even an empty datagram; a stream has nothing to do for n == 0.
    bool first = !stream_;
    while (done < n || first) {
      first = false;
      io_result step = poll_loop(poll_mode::write, "write", [&] {
        return ::send(sysfd_, bytes + done, n - done, MSG_NOSIGNAL);
      });
      done += step.bytes;
      if (step.error) {
        result.error = step.error;
        result.syscall = step.syscall;
        break;
      }
    }
    result.bytes = done;
  }
  decref();
  return result;
}

io_result net_fd::read_from(void* buf, std::size_t n, sockaddr_storage* from,
                            socklen_t* from_len) {
  if (!incref()) return {0, closed_error(), nullptr};
  io_result result;
  {
    std::lock_guard<goro::mutex> guard(read_lock_);
    socklen_t capacity = *from_len;
    result = poll_loop(poll_mode::read, "recvfrom", [&] {
      *from_len = capacity;
      return ::recvfrom(sysfd_, buf, n, 0, reinterpret_cast<sockaddr*>(from), from_len);
    });
  }
  decref();
  return result;
}

io_result net_fd::write_to(const void* buf, std::size_t n, const sockaddr* to, socklen_t to_len) {
  if (!incref()) return {0, closed_error(), nullptr};
  io_result result;
  {
    std::lock_guard<goro::mutex> guard(write_lock_);
    result = poll_loop(poll_mode::write, "sendto", [&] {
      return ::sendto(sysfd_, buf, n, MSG_NOSIGNAL, to, to_len);
    });
  }
  decref();
  return result;
}

io_result net_fd::accept(int* accepted, sockaddr_storage* peer, socklen_t* peer_len) {
  if (!incref()) return {0, closed_error(), nullptr};
  io_result result;
  {
    std::lock_guard<goro::mutex> guard(read_lock_);
    socklen_t capacity = *peer_len;
    for (;;) {
      result = poll_loop(poll_mode::read, "accept4", [&] {
        *peer_len = capacity;
        *accepted = ::accept4(sysfd_, reinterpret_cast<sockaddr*>(peer), peer_len,
                              SOCK_NONBLOCK | SOCK_CLOEXEC);
        return static_cast<long>(*accepted);
      });
      // The peer gave up before we accepted; the next connection may be fine.
      if (result.error != std::errc::connection_aborted) break;
    }
  }
  decref();
  return result;
}

io_result net_fd::connect(const sockaddr* to, socklen_t to_len) {
  if (!incref()) return {0, closed_error(), nullptr};
  io_result result;
  {
    std::lock_guard<goro::mutex> guard(write_lock_);
    result = connect_locked(to, to_len);
  }
  decref();
  return result;
}

io_result net_fd::connect_locked(const sockaddr* to, socklen_t to_len) {
  io_result result;
  if (poll_status st = poll_reset(pd_, poll_mode::write); st != poll_status::ok) {
    result.error = status_error(st);
    return result;
  }
  if (::connect(sysfd_, to, to_len) == 0) return result;
  int err = errno;
  // EINTR on a non-blocking socket: the connection goes on in the background, as for
  // EINPROGRESS, and a second connect() would fail with EALREADY.
  if (err != EINPROGRESS && err != EALREADY && err != EINTR) {
    if (err != EISCONN) {
      result.error = os_error(err);
      result.syscall = "connect";
    }
    return result;
  }

  // Wait for the connect to finish: the socket becomes writable, and SO_ERROR holds the
  // result. poll_reset comes before the check, so a readiness edge after it is not lost.
  for (;;) {
    if (poll_status st = poll_wait(pd_, poll_mode::write); st != poll_status::ok) {
      result.error = status_error(st);
      return result;
    }
    if (poll_status st = poll_reset(pd_, poll_mode::write); st != poll_status::ok) {
      result.error = status_error(st);
      return result;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (::getsockopt(sysfd_, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) {
      result.error = os_error(errno);
      result.syscall = "getsockopt";
      return result;
    }
    if (so_error == EINPROGRESS || so_error == EALREADY || so_error == EINTR) continue;
    if (so_error != 0 && so_error != EISCONN) {
      result.error = os_error(so_error);
      result.syscall = "connect";
      return result;
    }
    // Writable with no error can still be spurious; a peer name proves the connection.
    sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    if (::getpeername(sysfd_, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) return result;
  }
}

std::error_code net_fd::shutdown(int how) {
  return with_fd([how](int fd) -> std::error_code {
    if (::shutdown(fd, how) != 0) return os_error(errno);
    return {};
  });
}

std::error_code net_fd::set_option(int level, int name, int value) {
  return with_fd([&](int fd) -> std::error_code {
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0) return os_error(errno);
    return {};
  });
}

}  // namespace goro::rt
