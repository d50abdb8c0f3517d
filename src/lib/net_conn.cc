// goro::net::conn: the handle's calls on its shared socket_state.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

#include "goro/net.hpp"
#include "lib/net_socket.h"

namespace goro::net {

using detail::require;
using detail::throw_socket_error;

std::size_t conn::read(void* buf, std::size_t n) const {
  detail::socket_state& s = require(state_, "read");
  rt::io_result r = s.fd.read(buf, n);
  if (r.error) throw_socket_error(s, "read", r.error, r.syscall);
  return r.bytes;
}

std::size_t conn::read(void* buf, std::size_t n, std::error_code& ec) const noexcept {
  if (state_ == nullptr) {
    ec = errc::closed;
    return 0;
  }
  rt::io_result r = state_->fd.read(buf, n);
  ec = r.error;
  return r.bytes;
}

void conn::write(const void* buf, std::size_t n) const {
  detail::socket_state& s = require(state_, "write");
  rt::io_result r = s.fd.write(buf, n);
  if (r.error) throw_socket_error(s, "write", r.error, r.syscall);
}

std::size_t conn::write(const void* buf, std::size_t n, std::error_code& ec) const noexcept {
  if (state_ == nullptr) {
    ec = errc::closed;
    return 0;
  }
  rt::io_result r = state_->fd.write(buf, n);
  ec = r.error;
  return r.bytes;
}

void conn::close() const {
  detail::socket_state& s = require(state_, "close");
  if (std::error_code ec = s.fd.close()) throw_socket_error(s, "close", ec);
}

// Half-closing is for stream sockets, as in Go, where only TCPConn and UnixConn have
// CloseRead and CloseWrite. On a UDP socket Linux accepts shutdown(SHUT_RD), but a
// non-blocking read afterwards fails with EAGAIN instead of returning 0, so a reader would
// wait for an event that never comes.
void conn::close_read() const {
  detail::socket_state& s = require(state_, "close");
  if (!s.fd.stream()) {
    throw_socket_error(s, "close", std::make_error_code(std::errc::operation_not_supported),
                       "shutdown");
  }
  if (std::error_code ec = s.fd.shutdown(SHUT_RD)) throw_socket_error(s, "close", ec, "shutdown");
}

void conn::close_write() const {
  detail::socket_state& s = require(state_, "close");
  if (!s.fd.stream()) {
    throw_socket_error(s, "close", std::make_error_code(std::errc::operation_not_supported),
                       "shutdown");
  }
  if (std::error_code ec = s.fd.shutdown(SHUT_WR)) throw_socket_error(s, "close", ec, "shutdown");
}

void conn::set_deadline(std::chrono::steady_clock::time_point t) const {
  detail::set_deadline(state_, t, rt::poll_mode::read_write);
}

void conn::set_read_deadline(std::chrono::steady_clock::time_point t) const {
  detail::set_deadline(state_, t, rt::poll_mode::read);
}

void conn::set_write_deadline(std::chrono::steady_clock::time_point t) const {
  detail::set_deadline(state_, t, rt::poll_mode::write);
}

addr conn::local_addr() const { return state_ != nullptr ? state_->local : addr(); }

addr conn::remote_addr() const { return state_ != nullptr ? state_->remote : addr(); }

namespace {

void set_option(const std::shared_ptr<detail::socket_state>& handle, int level, int name,
                int value) {
  detail::socket_state& s = require(handle, "set");
  if (std::error_code ec = s.fd.set_option(level, name, value)) {
    throw_set_error(s, ec, "setsockopt");
  }
}

}  // namespace

void conn::set_no_delay(bool on) const {
  set_option(state_, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

void conn::set_keep_alive(bool on) const {
  set_option(state_, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0);
}

void conn::set_keep_alive_period(std::chrono::seconds period) const {
  // The kernel counts whole seconds from 1 up to 32767 (MAX_TCP_KEEPIDLE in Linux's tcp.h).
  constexpr std::int64_t kMaxSeconds = 32767;
  auto seconds = static_cast<int>(std::clamp<std::int64_t>(period.count(), 1, kMaxSeconds));
  set_option(state_, IPPROTO_TCP, TCP_KEEPIDLE, seconds);
  set_option(state_, IPPROTO_TCP, TCP_KEEPINTVL, seconds);
}

int conn::fd() const { return state_ != nullptr ? state_->fd.sysfd() : -1; }

}  // namespace goro::net
