// goro::net::dial: resolve, then a non-blocking connect per address until one succeeds.
//
// The time limit of dial_timeout is the new socket's write deadline, which poll_wait applies
// while the connect is in progress, so "dial tcp 10.0.0.1:80: i/o timeout" comes from the
// poller like any other timeout. Name resolution cannot be interrupted: its time counts
// against the limit, and a limit already used up when it returns fails the dial at once.
#include <sys/socket.h>

#include <vector>

#include "goro/net.hpp"
#include "lib/net_socket.h"
#include "runtime/time/timer.h"

namespace goro::net {

namespace {

conn dial_until(std::string_view network, std::string_view address, std::int64_t deadline) {
  auto [spec, targets] = detail::resolve_or_throw("dial", network, address, false, true, false);

  // The first failure is the one reported, as Go does: later addresses are fallbacks.
  std::error_code first_error;
  const char* first_syscall = nullptr;
  addr first_target;
  for (const rt::sock_address& target : targets) {
    addr target_addr = rt::addr_from_sockaddr(spec.name, target.get(), target.length);
    std::error_code ec;
    std::shared_ptr<detail::socket_state> s = detail::new_socket(spec, target.family(), &ec);
    rt::io_result r;
    if (s == nullptr) {
      r.error = ec;
      r.syscall = "socket";
    } else {
      if (deadline != 0) (void)s->fd.set_deadline(deadline, rt::poll_mode::write);
      r = s->fd.connect(target.get(), target.length);
    }

    if (!r.error) {
      (void)s->fd.set_deadline(0, rt::poll_mode::write);
      s->local = detail::local_name(s->fd.sysfd(), spec.name);
      s->remote = target_addr;
      if (spec.sotype == SOCK_STREAM && spec.family != AF_UNIX) detail::apply_tcp_defaults(*s);
      return detail::socket_state::make_conn(std::move(s));
    }

    if (s != nullptr) (void)s->fd.close();
    if (!first_error) {
      first_error = r.error;
      first_syscall = r.syscall;
      first_target = target_addr;
    }
    // The time limit covers all addresses: once it has passed, no other one can connect.
    if (r.error == errc::timeout) break;
  }
  throw op_error(first_error, "dial", spec.name, {}, first_target,
                 first_syscall != nullptr ? first_syscall : "");
}

}  // namespace

conn dial(std::string_view network, std::string_view address) {
  return dial_until(network, address, 0);
}

conn dial_timeout(std::string_view network, std::string_view address,
                  std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero()) return dial_until(network, address, 0);
  return dial_until(network, address, detail::deadline_ns(rt::steady_after(timeout)));
}

}  // namespace goro::net
