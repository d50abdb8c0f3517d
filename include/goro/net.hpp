// goro::net: TCP (IPv4 and IPv6), UDP and Unix stream sockets on goro's network poller, with
// Go's net package as the model.
//
//   goro::net::listener ln = goro::net::listen("tcp", "127.0.0.1:8080");
//   for (;;) {
//     goro::net::conn c = ln.accept();
//     goro::go([c] {
//       char buf[4096];
//       while (std::size_t n = c.read(buf, sizeof buf)) c.write(buf, n);
//     });
//   }
//
// A call that would block parks the calling goroutine (wait reason "IO wait") instead of
// holding its thread, and a plain thread that calls it sleeps. Name resolution runs in
// goro::blocking, so a slow resolver holds one thread, not a P.
//
// Handles. conn, listener and packet_conn are copyable handles to one shared socket, as
// goro::chan is, so their calls are const. The socket is closed by close() or when the last
// handle goes away. One read and one write may run at once on a socket, from different
// goroutines or threads. Further readers (or writers) wait their turn.
//
// Error convention. Every operation has a throwing form. The form that throws raises
// goro::net::op_error, a std::system_error whose code() is the cause and whose what() reads
// like Go's *net.OpError:
//   "dial tcp 127.0.0.1:1: connect: connection refused"
//   "read tcp 127.0.0.1:8080->127.0.0.1:51234: i/o timeout"
// that is, the operation, the network, the local and remote addresses that are known, the
// system call if one failed, and the cause. read, write, read_from and write_to also have a
// noexcept form that takes a std::error_code& and sets it to that cause. Causes are:
//   * goro::net::errc::closed ("use of closed network connection"): the socket was closed
//     before or during the call, by this handle or another;
//   * goro::net::errc::timeout ("i/o timeout"): the call's deadline passed. It compares
//     equal to std::errc::timed_out;
//   * goro::net::errc::no_such_host, errc::temporary_lookup_failure, errc::invalid_address,
//     errc::unknown_network and errc::unknown_port for names and addresses that cannot be
//     used;
//   * an OS error (std::system_category(), errno values such as ECONNRESET) for everything
//     the kernel reports.
// End of stream is not an error: read returns 0.
//
// Deadlines are absolute std::chrono::steady_clock times, as in Go. A deadline in the past
// makes calls fail at once with errc::timeout, a default-constructed time_point clears it,
// and a change takes effect for a call that is already blocked.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "goro/export.hpp"

namespace goro::net {

// Causes that are not OS errors, in goro::net::net_category().
enum class errc {
  closed = 1,           // "use of closed network connection" (Go's net.ErrClosed)
  timeout = 2,          // "i/o timeout" (Go's os.ErrDeadlineExceeded)
  no_such_host = 3,     // "no such host": the resolver has no address for the name
  invalid_address = 4,  // "invalid address": the address does not parse for the network
  unknown_network = 5,  // "unknown network": not one of the networks listed at listen()
  unknown_port = 6,     // "unknown port": the port is neither a number nor a service name
  temporary_lookup_failure = 7,  // "temporary failure in name resolution" (EAI_AGAIN)
};

GORO_EXPORT const std::error_category& net_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), net_category()};
}

}  // namespace goro::net

template <>
struct std::is_error_code_enum<goro::net::errc> : std::true_type {};

namespace goro::net {

// A network endpoint: an IP address and port for "tcp", "tcp4", "tcp6", "udp", "udp4" and
// "udp6", or a path for "unix". Lookup errors use network "ip" with a host and no port.
class GORO_EXPORT addr {
 public:
  addr() = default;
  // An IP endpoint; ip is a literal ("127.0.0.1", "::1", "fe80::1%eth0"), not a host name.
  addr(std::string network, std::string ip, std::uint16_t port);
  // A Unix socket path.
  addr(std::string network, std::string path);

  const std::string& network() const noexcept { return network_; }
  const std::string& ip() const noexcept { return ip_; }  // empty for "unix"
  std::uint16_t port() const noexcept { return port_; }
  const std::string& path() const noexcept { return path_; }  // empty unless "unix"
  bool empty() const noexcept { return network_.empty(); }

  // "127.0.0.1:8080", "[::1]:80", "/tmp/s", the bare host for network "ip"; empty for a
  // default-constructed addr.
  std::string to_string() const;

  friend bool operator==(const addr&, const addr&) = default;

 private:
  std::string network_;
  std::string ip_;
  std::uint16_t port_ = 0;
  std::string path_;
};

// The error every throwing goro::net call raises. code() is the cause (see the top of this
// file). what() joins the operation, the network and the addresses that are known with
// spaces, then ": ", the detail if any and ": ", then the reason. The reason defaults to
// code().message(), where an OS error's first letter is lower-cased as in Go's texts
// ("connection refused", not glibc's "Connection refused").
class GORO_EXPORT op_error : public std::system_error {
 public:
  op_error(std::error_code cause, std::string op, std::string network, net::addr source,
           net::addr destination, std::string detail = {}, std::string reason = {});
  ~op_error() override;

  const char* what() const noexcept override { return message_.c_str(); }

  const std::string& op() const noexcept { return op_; }    // "dial", "read", "accept", ...
  const std::string& net() const noexcept { return net_; }  // "tcp", "udp", "unix", ...
  const net::addr& source() const noexcept { return source_; }  // local end, if known
  const net::addr& addr() const noexcept { return addr_; }  // remote end or listen address
  // Where the cause arose: the failed system call ("connect"), "address <text>" for an
  // address that does not parse, "lookup <host>" for a failed lookup; empty otherwise.
  const std::string& detail() const noexcept { return detail_; }
  bool timeout() const noexcept { return code() == errc::timeout; }

 private:
  std::string op_;
  std::string net_;
  net::addr source_;
  net::addr addr_;
  std::string detail_;
  std::string message_;
};

namespace detail {
struct socket_state;  // src/lib/net_socket.h
}

// A stream connection (TCP or Unix), or a connected UDP socket from dial("udp", ...).
class GORO_EXPORT conn {
 public:
  conn() = default;  // no socket: I/O calls fail with errc::closed, fd() returns -1

  // Reads up to n bytes. Returns the number read (> 0), or 0 at end of stream or when n is 0.
  std::size_t read(void* buf, std::size_t n) const;
  std::size_t read(void* buf, std::size_t n, std::error_code& ec) const noexcept;

  // Writes all n bytes, waiting as often as the socket's send buffer requires, or throws.
  void write(const void* buf, std::size_t n) const;
  // Returns the bytes written before the error (all n when ec is clear).
  std::size_t write(const void* buf, std::size_t n, std::error_code& ec) const noexcept;

  // Closes the socket. Calls blocked on it in other goroutines or threads return
  // errc::closed, and close() returns once they have left it and the descriptor is closed.
  // Throws op_error with errc::closed if the socket was already closed.
  void close() const;
  // shutdown(SHUT_RD): reads return 0 from now on. Stream sockets only (TCP, Unix): on a UDP
  // conn it throws op_error with std::errc::operation_not_supported, as Go's UDPConn has
  // no CloseRead.
  void close_read() const;
  // shutdown(SHUT_WR): the peer reads end of stream; this side can still read. Stream
  // sockets only, as close_read.
  void close_write() const;

  // Sets the read and write deadlines. A default-constructed time_point clears them.
  void set_deadline(std::chrono::steady_clock::time_point t) const;
  void set_read_deadline(std::chrono::steady_clock::time_point t) const;
  void set_write_deadline(std::chrono::steady_clock::time_point t) const;

  addr local_addr() const;
  addr remote_addr() const;

  // TCP options. TCP connections start with no-delay on and keep-alive on with a 15 s
  // period, as Go's do. On a Unix socket these throw op_error (operation not supported).
  void set_no_delay(bool on) const;
  void set_keep_alive(bool on) const;
  // Sets both the idle time before the first probe and the interval between probes, in whole
  // seconds from 1 to 32767 (Linux's range); other values are clamped into it.
  void set_keep_alive_period(std::chrono::seconds period) const;

  // The socket's descriptor, or -1 once closed. For socket options goro does not wrap. Do
  // not close it and do not change its non-blocking mode. On TCP connections goro turns on
  // TCP_INQ, which read uses to skip a read that would fail with EAGAIN. Turning it off is
  // safe and brings that read back.
  int fd() const;

  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend struct detail::socket_state;
  explicit conn(std::shared_ptr<detail::socket_state> state) noexcept : state_(std::move(state)) {}
  std::shared_ptr<detail::socket_state> state_;
};

// A listening TCP or Unix socket.
class GORO_EXPORT listener {
 public:
  listener() = default;

  // Waits for the next connection. ECONNABORTED is retried. When the process or the system
  // runs out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), accept waits 5 ms,
  // doubling up to 1 s, and retries, logging one line to stderr when such an episode starts.
  // close() ends that wait too.
  conn accept() const;
  // Closes the socket (a Unix listener also removes its path). A blocked accept returns
  // errc::closed.
  void close() const;
  // The deadline for accept. A default-constructed time_point clears it.
  void set_deadline(std::chrono::steady_clock::time_point t) const;
  addr local_addr() const;
  int fd() const;

  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend struct detail::socket_state;
  explicit listener(std::shared_ptr<detail::socket_state> state) noexcept
      : state_(std::move(state)) {}
  std::shared_ptr<detail::socket_state> state_;
};

// An unconnected UDP socket.
class GORO_EXPORT packet_conn {
 public:
  packet_conn() = default;

  // Reads one datagram (truncated to n bytes) and stores its sender in `from`. Returns the
  // number of bytes stored.
  std::size_t read_from(void* buf, std::size_t n, addr& from) const;
  std::size_t read_from(void* buf, std::size_t n, addr& from, std::error_code& ec) const noexcept;
  // Sends one datagram of n bytes to `to` (an addr from resolve_addr, read_from or
  // local_addr). Returns n.
  std::size_t write_to(const void* buf, std::size_t n, const addr& to) const;
  std::size_t write_to(const void* buf, std::size_t n, const addr& to,
                       std::error_code& ec) const noexcept;

  void close() const;
  void set_deadline(std::chrono::steady_clock::time_point t) const;
  void set_read_deadline(std::chrono::steady_clock::time_point t) const;
  void set_write_deadline(std::chrono::steady_clock::time_point t) const;
  addr local_addr() const;
  int fd() const;

  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend struct detail::socket_state;
  explicit packet_conn(std::shared_ptr<detail::socket_state> state) noexcept
      : state_(std::move(state)) {}
  std::shared_ptr<detail::socket_state> state_;
};

struct listen_config {
  bool reuse_address = true;  // SO_REUSEADDR (TCP only), so a restarted server can bind at once
  bool reuse_port = false;    // SO_REUSEPORT: several sockets share the port, the kernel spreads
                              // connections over them
  int backlog = 4096;  // queue of connections not yet accepted; Linux caps it at
                       // net.core.somaxconn (4096 by default since Linux 5.4)
};

// Listens on `address` for `network`:
//   "tcp", "tcp4", "tcp6": "host:port", ":0", "[::1]:0". An empty host listens on every
//     address: for "tcp" on IPv6 and IPv4 (a dual-stack socket) where the machine has IPv6.
//     Port 0 picks a free port, which local_addr() returns.
//   "unix": a file system path. The path must not exist yet; close() removes it.
GORO_EXPORT listener listen(std::string_view network, std::string_view address,
                            const listen_config& config = {});

// Connects to `address` ("host:port" for TCP and UDP, a path for "unix"). A host name is
// resolved first, and each of its addresses is tried in turn until one connects. An empty
// host is the local machine (127.0.0.1, or ::1 for "tcp6").
GORO_EXPORT conn dial(std::string_view network, std::string_view address);
// dial with a time limit for the whole attempt, name resolution included; running out
// throws op_error with errc::timeout ("dial tcp 10.0.0.1:80: i/o timeout"). A timeout of
// zero or less means no limit.
GORO_EXPORT conn dial_timeout(std::string_view network, std::string_view address,
                              std::chrono::nanoseconds timeout);

// Opens an unconnected UDP socket bound to `address` ("udp", "udp4", "udp6").
GORO_EXPORT packet_conn listen_packet(std::string_view network, std::string_view address);

// Resolves `address` to one endpoint of `network`, the first the resolver returns, as Go's
// net.ResolveTCPAddr and friends do. For write_to targets.
GORO_EXPORT addr resolve_addr(std::string_view network, std::string_view address);

// The IP addresses of `host`, in the resolver's order, without duplicates. An IP literal is
// returned as it is. Throws op_error (op "lookup") with errc::no_such_host when there is none.
GORO_EXPORT std::vector<std::string> lookup_host(std::string_view host);

// Splits "host:port", "[host]:port" or "[v6%zone]:port" as Go's net.SplitHostPort does.
// Throws op_error with errc::invalid_address ("missing port in address", ...) otherwise.
GORO_EXPORT std::pair<std::string, std::string> split_host_port(std::string_view hostport);
// The inverse: brackets the host if it contains a colon.
GORO_EXPORT std::string join_host_port(std::string_view host, std::string_view port);

}  // namespace goro::net
