// goro::net::listen and listener: bind, listen, and accept with a back-off when the process
// or the system runs out of descriptors.
//
// Back-off. accept4 failing with EMFILE, ENFILE, ENOBUFS or ENOMEM leaves the connection in
// the kernel's queue, and the socket stays readable, so retrying at once would spin. accept
// waits 5 ms, doubling up to 1 s (the delays of Go's http.Server), until an accept succeeds.
// It writes one line to stderr when such an episode starts and nothing for the retries. A
// goroutine's wait selects on the listener's `closing` channel, so close() ends it at once.
// A plain thread sleeps in steps of kPlainThreadStep and checks whether the listener was
// closed after each.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "goro/net.hpp"
#include "goro/select.hpp"
#include "goro/time.hpp"
#include "lib/net_socket.h"

namespace goro::net {

namespace detail {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{5};
constexpr std::chrono::milliseconds kMaxBackoff{1000};
// How soon a plain thread waiting out a back-off notices close().
constexpr std::chrono::milliseconds kPlainThreadStep{5};

// relaxed: a statistic for tests, ordered with nothing else.
std::atomic<std::uint64_t> backoff_count{0};

bool out_of_resources(std::error_code ec) {
  return ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
         ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory;
}

// Waits `delay` or until the listener is closed, whichever comes first.
// NOTE: an accept deadline that passes during the wait takes effect at the next attempt, up
// to kMaxBackoff late, because the deadline lives in the poller and the wait does not see it.
void backoff_wait(socket_state& s, std::chrono::milliseconds delay) {
  backoff_count.fetch_add(1, std::memory_order_relaxed);
  if (goro::goroutine_id() != 0) {
    goro::select(goro::on_recv(goro::after(delay), [](auto) {}),
                 goro::on_recv(s.closing, [](auto) {}));
    return;
  }
  auto until = std::chrono::steady_clock::now() + delay;
  while (!s.fd.closed() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(
        kPlainThreadStep, until - std::chrono::steady_clock::now()));
  }
}

void log_backoff_start(const op_error& e) {
  std::string line = "goro: ";
  line += e.what();
  line += "; retrying with a back-off from 5ms up to 1s";
  if (e.code() == std::errc::too_many_files_open) {
    line += " (raise the descriptor limit, ulimit -n, or close idle connections)";
  } else if (e.code() == std::errc::too_many_files_open_in_system) {
    line += " (the system's file table is full: raise fs.file-max or close files)";
  }
  line += "\n";
  // One write(2), so the line is not interleaved with other output.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace

std::uint64_t accept_backoff_count() { return backoff_count.load(std::memory_order_relaxed); }

}  // namespace detail

listener listen(std::string_view network, std::string_view address, const listen_config& config) {
  // Named variables, not a structured binding: Clang 14 cannot capture bindings in `fail`.
  detail::resolved_address resolved =
      detail::resolve_or_throw("listen", network, address, false, false, true);
  const rt::net_spec& spec = resolved.spec;
  const rt::sock_address& target = resolved.endpoints.front();
  addr target_addr = rt::addr_from_sockaddr(spec.name, target.get(), target.length);
  auto fail = [&](std::error_code ec, const char* syscall) {
    throw op_error(ec, "listen", spec.name, {}, target_addr, syscall);
  };

  std::error_code ec;
  std::shared_ptr<detail::socket_state> s = detail::new_socket(spec, target.family(), &ec);
  if (s == nullptr) fail(ec, "socket");
  s->closing = chan<int>();

  // Options, then bind and listen. A socket that fails here is closed by its destructor.
  int fd = s->fd.sysfd();
  if (target.family() != AF_UNIX && config.reuse_address) {
    if ((ec = s->fd.set_option(SOL_SOCKET, SO_REUSEADDR, 1))) fail(ec, "setsockopt");
  }
  if (config.reuse_port) {
    if ((ec = s->fd.set_option(SOL_SOCKET, SO_REUSEPORT, 1))) fail(ec, "setsockopt");
  }
  if (target.family() == AF_INET6) {
    // "tcp" on an IPv6 address also takes IPv4 connections; "tcp6" only IPv6 ones.
    int v6only = spec.family == AF_INET6 ? 1 : 0;
    if ((ec = s->fd.set_option(IPPROTO_IPV6, IPV6_V6ONLY, v6only))) fail(ec, "setsockopt");
  }
  if (::bind(fd, target.get(), target.length) != 0) fail({errno, std::system_category()}, "bind");
  if (::listen(fd, config.backlog) != 0) fail({errno, std::system_category()}, "listen");

  s->local = detail::local_name(fd, spec.name);
  if (target.family() == AF_UNIX && !target_addr.path().starts_with("@")) {
    s->unlink_path = target_addr.path();
  }
  return detail::socket_state::make_listener(std::move(s));
}

conn listener::accept() const {
  detail::socket_state& s = detail::require(state_, "accept");
  bool in_backoff = false;
  std::chrono::milliseconds delay = detail::kFirstBackoff;
  for (;;) {
    int accepted = -1;
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    rt::io_result r = s.fd.accept(&accepted, &peer, &peer_len);

    if (!r.error) {
      auto c = std::make_shared<detail::socket_state>();
      if (std::error_code ec = c->fd.open(accepted, true)) {
        throw op_error(ec, "accept", s.network, {}, s.local, "epoll_ctl");
      }
      c->network = s.network;
      c->family = s.family;
      c->sotype = s.sotype;
      c->local = detail::local_name(accepted, s.network);
      c->remote = rt::addr_from_sockaddr(s.network, reinterpret_cast<sockaddr*>(&peer), peer_len);
      if (s.family != AF_UNIX) detail::apply_tcp_defaults(*c);
      return detail::socket_state::make_conn(std::move(c));
    }

    op_error error(r.error, "accept", s.network, {}, s.local,
                   r.syscall != nullptr ? r.syscall : "");
    if (!detail::out_of_resources(r.error)) throw error;
    if (!in_backoff) {
      detail::log_backoff_start(error);
      in_backoff = true;
    }
    detail::backoff_wait(s, delay);
    delay = std::min(delay * 2, detail::kMaxBackoff);
  }
}

void listener::close() const {
  detail::socket_state& s = detail::require(state_, "close");
  if (std::error_code ec = s.fd.close()) {
    throw op_error(ec, "close", s.network, {}, s.local);
  }
  s.closing.close();
  if (!s.unlink_path.empty()) ::unlink(s.unlink_path.c_str());
}

void listener::set_deadline(std::chrono::steady_clock::time_point t) const {
  detail::set_deadline(state_, t, rt::poll_mode::read);
}

addr listener::local_addr() const { return state_ != nullptr ? state_->local : addr(); }

int listener::fd() const { return state_ != nullptr ? state_->fd.sysfd() : -1; }

}  // namespace goro::net
