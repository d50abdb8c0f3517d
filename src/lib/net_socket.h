// The shared state behind goro::net's conn, listener and packet_conn handles, and the helpers
// their implementations share.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "goro/chan.hpp"
#include "goro/net.hpp"
#include "lib/net_addr.h"
#include "lib/net_fd.h"

namespace goro::net::detail {

struct socket_state {
  rt::net_fd fd;
  // Immutable once the handle is returned to the caller.
  std::string network;  // the caller's network name, for errors
  int family = 0;       // AF_INET, AF_INET6 or AF_UNIX
  int sotype = 0;       // SOCK_STREAM or SOCK_DGRAM
  addr local;
  addr remote;
  std::string unlink_path;  // a Unix listener's socket file, removed by close()
  // A listener's: closed by close() so that an accept waiting out an EMFILE back-off
  // returns at once. Nil (never ready) for other sockets.
  chan<int> closing = chan<int>::nil();

  static conn make_conn(std::shared_ptr<socket_state> s) { return conn(std::move(s)); }
  static listener make_listener(std::shared_ptr<socket_state> s) { return listener(std::move(s)); }
  static packet_conn make_packet_conn(std::shared_ptr<socket_state> s) {
    return packet_conn(std::move(s));
  }
};

// Creates a non-blocking, close-on-exec socket registered with the poller.
std::shared_ptr<socket_state> new_socket(const rt::net_spec& spec, int family,
                                         std::error_code* error);

// Throws op_error for `op` on s, with s's network and addresses.
[[noreturn]] void throw_socket_error(const socket_state& s, const char* op,
                                     std::error_code error, const char* syscall = nullptr);
// Throws op_error for a failed deadline or socket option ("set") on s. As Go's OpError for
// "set", it names the local address only, as addr(), with no source.
[[noreturn]] void throw_set_error(const socket_state& s, std::error_code error,
                                  const char* syscall = nullptr);
[[noreturn]] void throw_address_failure(const char* op, std::string_view network,
                                        const rt::address_failure& failure);

// Parses `network` and resolves `address` as rt::parse_network and rt::resolve do, or throws
// op_error for `op`.
struct resolved_address {
  rt::net_spec spec;
  std::vector<rt::sock_address> endpoints;
};
resolved_address resolve_or_throw(const char* op, std::string_view network,
                                  std::string_view address, bool packet, bool allow_udp_dial,
                                  bool passive);

// The state of a handle, or op_error(errc::closed) for a default-constructed one.
socket_state& require(const std::shared_ptr<socket_state>& s, const char* op);

// A deadline as poll_set_deadline takes it: CLOCK_MONOTONIC nanoseconds, 0 for none.
std::int64_t deadline_ns(std::chrono::steady_clock::time_point t);
void set_deadline(const std::shared_ptr<socket_state>& s, std::chrono::steady_clock::time_point t,
                  rt::poll_mode mode);

// getsockname / getpeername as addrs (empty on failure).
addr local_name(int fd, const std::string& network);
addr peer_name(int fd, const std::string& network);

// Go's defaults for a new TCP connection: no-delay on, keep-alive on every 15 s. Also turns
// on goro's read queue hint (net_fd::enable_read_queue_hint), which Go does not use.
void apply_tcp_defaults(socket_state& s);
inline constexpr std::chrono::seconds kDefaultKeepAlivePeriod{15};

// Accept back-off waits started since the process began, for tests that check that accept
// backs off instead of spinning.
std::uint64_t accept_backoff_count();

}  // namespace goro::net::detail
