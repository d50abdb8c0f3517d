// goro::net::listen_packet and packet_conn: unconnected UDP sockets.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <new>
#include <vector>

#include "goro/net.hpp"
#include "lib/net_socket.h"

namespace goro::net {

namespace {

// An IPv4 destination for an IPv6 socket becomes ::ffff:a.b.c.d, which a dual-stack socket
// (the wildcard "udp" one) can send to.
void map_to_ipv6(rt::sock_address* a) {
  sockaddr_in v4;
  std::memcpy(&v4, &a->storage, sizeof v4);
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = v4.sin_port;
  v6.sin6_addr.s6_addr[10] = 0xff;
  v6.sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&v6.sin6_addr.s6_addr[12], &v4.sin_addr, sizeof v4.sin_addr);
  *a = rt::sock_address{};
  std::memcpy(&a->storage, &v6, sizeof v6);
  a->length = sizeof v6;
}

}  // namespace

packet_conn listen_packet(std::string_view network, std::string_view address) {
  auto [spec, found] = detail::resolve_or_throw("listen", network, address, true, false, true);
  const rt::sock_address& target = found.front();
  addr target_addr = rt::addr_from_sockaddr(spec.name, target.get(), target.length);

  std::error_code ec;
  std::shared_ptr<detail::socket_state> s = detail::new_socket(spec, target.family(), &ec);
  if (s == nullptr) throw op_error(ec, "listen", spec.name, {}, target_addr, "socket");
  if (target.family() == AF_INET6) {
    int v6only = spec.family == AF_INET6 ? 1 : 0;
    if ((ec = s->fd.set_option(IPPROTO_IPV6, IPV6_V6ONLY, v6only))) {
      throw op_error(ec, "listen", spec.name, {}, target_addr, "setsockopt");
    }
  }
  if (::bind(s->fd.sysfd(), target.get(), target.length) != 0) {
    throw op_error({errno, std::system_category()}, "listen", spec.name, {}, target_addr, "bind");
  }
  s->local = detail::local_name(s->fd.sysfd(), spec.name);
  return detail::socket_state::make_packet_conn(std::move(s));
}

std::size_t packet_conn::read_from(void* buf, std::size_t n, addr& from) const {
  std::error_code ec;
  std::size_t got = read_from(buf, n, from, ec);
  if (ec) {
    bool from_kernel = ec.category() == std::system_category();
    detail::throw_socket_error(detail::require(state_, "read"), "read", ec,
                               from_kernel ? "recvfrom" : nullptr);
  }
  return got;
}

std::size_t packet_conn::read_from(void* buf, std::size_t n, addr& from,
                                   std::error_code& ec) const noexcept {
  if (state_ == nullptr) {
    ec = errc::closed;
    return 0;
  }
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof peer;
  rt::io_result r = state_->fd.read_from(buf, n, &peer, &peer_len);
  ec = r.error;
  if (r.error) return 0;
  from = rt::addr_from_sockaddr(state_->network, reinterpret_cast<sockaddr*>(&peer), peer_len);
  return r.bytes;
}

std::size_t packet_conn::write_to(const void* buf, std::size_t n, const addr& to) const {
  detail::socket_state& s = detail::require(state_, "write");
  rt::sock_address target;
  rt::address_failure failure;
  if (!rt::sockaddr_from_addr(to, &target, &failure)) {
    throw op_error(failure.error, "write", s.network, s.local, to, failure.detail,
                   failure.reason);
  }
  if (s.family == AF_INET6 && target.family() == AF_INET) map_to_ipv6(&target);
  rt::io_result r = s.fd.write_to(buf, n, target.get(), target.length);
  if (r.error) {
    throw op_error(r.error, "write", s.network, s.local, to, r.syscall != nullptr ? r.syscall : "");
  }
  return r.bytes;
}

std::size_t packet_conn::write_to(const void* buf, std::size_t n, const addr& to,
                                  std::error_code& ec) const noexcept {
  try {
    return write_to(buf, n, to);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return 0;
}

void packet_conn::close() const {
  detail::socket_state& s = detail::require(state_, "close");
  if (std::error_code ec = s.fd.close()) detail::throw_socket_error(s, "close", ec);
}

void packet_conn::set_deadline(std::chrono::steady_clock::time_point t) const {
  detail::set_deadline(state_, t, rt::poll_mode::read_write);
}

void packet_conn::set_read_deadline(std::chrono::steady_clock::time_point t) const {
  detail::set_deadline(state_, t, rt::poll_mode::read);
}

void packet_conn::set_write_deadline(std::chrono::steady_clock::time_point t) const {
  detail::set_deadline(state_, t, rt::poll_mode::write);
}

addr packet_conn::local_addr() const { return state_ != nullptr ? state_->local : addr(); }

int packet_conn::fd() const { return state_ != nullptr ? state_->fd.sysfd() : -1; }

}  // namespace goro::net
