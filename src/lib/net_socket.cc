// Helpers shared by goro::net's handles (see net_socket.h).
#include "lib/net_socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace goro::net::detail {

std::shared_ptr<socket_state> new_socket(const rt::net_spec& spec, int family,
                                         std::error_code* error) {
  int fd = ::socket(family, spec.sotype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = {errno, std::system_category()};
    return nullptr;
  }
  auto s = std::make_shared<socket_state>();
  if (std::error_code ec = s->fd.open(fd, spec.sotype == SOCK_STREAM)) {
    *error = ec;
    return nullptr;
  }
  s->network = spec.name;
  s->family = family;
  s->sotype = spec.sotype;
  return s;
}

void throw_socket_error(const socket_state& s, const char* op, std::error_code error,
                        const char* syscall) {
  throw op_error(error, op, s.network, s.local, s.remote, syscall != nullptr ? syscall : "");
}

void throw_set_error(const socket_state& s, std::error_code error, const char* syscall) {
  throw op_error(error, "set", s.network, {}, s.local, syscall != nullptr ? syscall : "");
}

void throw_address_failure(const char* op, std::string_view network,
                           const rt::address_failure& failure) {
  throw op_error(failure.error, op, std::string(network), {}, {}, failure.detail, failure.reason);
}

resolved_address resolve_or_throw(const char* op, std::string_view network,
                                  std::string_view address, bool packet, bool allow_udp_dial,
                                  bool passive) {
  resolved_address out;
  rt::address_failure failure;
  if (!rt::parse_network(network, packet, allow_udp_dial, &out.spec, &failure) ||
      !rt::resolve(out.spec, address, passive, &out.endpoints, &failure)) {
    throw_address_failure(op, network, failure);
  }
  return out;
}

socket_state& require(const std::shared_ptr<socket_state>& s, const char* op) {
  if (s == nullptr) throw op_error(errc::closed, op, "", {}, {});
  return *s;
}

std::int64_t deadline_ns(std::chrono::steady_clock::time_point t) {
  if (t == std::chrono::steady_clock::time_point{}) return 0;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  // Any other time before the clock's epoch has passed already; 0 would clear the deadline.
  return std::max<std::int64_t>(ns, 1);
}

void set_deadline(const std::shared_ptr<socket_state>& handle,
                  std::chrono::steady_clock::time_point t, rt::poll_mode mode) {
  socket_state& s = require(handle, "set");
  if (std::error_code ec = s.fd.set_deadline(deadline_ns(t), mode)) {
    throw_set_error(s, ec);
  }
}

addr local_name(int fd, const std::string& network) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return {};
  return rt::addr_from_sockaddr(network, reinterpret_cast<sockaddr*>(&sa), len);
}

addr peer_name(int fd, const std::string& network) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return {};
  return rt::addr_from_sockaddr(network, reinterpret_cast<sockaddr*>(&sa), len);
}

void apply_tcp_defaults(socket_state& s) {
  // Failures are ignored, as Go ignores them: the connection works without these options.
  auto seconds = static_cast<int>(kDefaultKeepAlivePeriod.count());
  (void)s.fd.set_option(IPPROTO_TCP, TCP_NODELAY, 1);
  (void)s.fd.set_option(SOL_SOCKET, SO_KEEPALIVE, 1);
  (void)s.fd.set_option(IPPROTO_TCP, TCP_KEEPIDLE, seconds);
  (void)s.fd.set_option(IPPROTO_TCP, TCP_KEEPINTVL, seconds);
  s.fd.enable_read_queue_hint();
}

}  // namespace goro::net::detail
