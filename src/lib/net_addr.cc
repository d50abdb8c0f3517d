// Address parsing, sockaddr conversion and name resolution (see net_addr.h).
#include "lib/net_addr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>

#include "goro/runtime.hpp"

namespace goro::rt {

// The reason split_host_port rejects `hostport`, or nullptr if it splits into *host, *port.
const char* split_host_port_reason(std::string_view hostport, std::string_view* host,
                                   std::string_view* port) {
  std::size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) return "missing port in address";

  // Where to look for stray brackets: after the opening one and after the closing one.
  std::size_t open_from = 0;
  std::size_t close_from = 0;
  if (!hostport.empty() && hostport.front() == '[') {
    std::size_t end = hostport.find(']');
    if (end == std::string_view::npos) return "missing ']' in address";
    if (end + 1 == hostport.size()) return "missing port in address";
    if (end + 1 != colon) {
      // Something other than the port's colon follows the ']'.
      return hostport[end + 1] == ':' ? "too many colons in address" : "missing port in address";
    }
    *host = hostport.substr(1, end - 1);
    open_from = 1;
    close_from = end + 1;
  } else {
    *host = hostport.substr(0, colon);
    if (host->find(':') != std::string_view::npos) return "too many colons in address";
  }

  if (hostport.find('[', open_from) != std::string_view::npos) return "unexpected '[' in address";
  if (hostport.find(']', close_from) != std::string_view::npos) return "unexpected ']' in address";
  *port = hostport.substr(colon + 1);
  return nullptr;
}

}  // namespace goro::rt

namespace goro::net {

addr::addr(std::string network, std::string ip, std::uint16_t port)
    : network_(std::move(network)), ip_(std::move(ip)), port_(port) {}

addr::addr(std::string network, std::string path)
    : network_(std::move(network)), path_(std::move(path)) {}

std::string addr::to_string() const {
  if (network_.empty()) return {};
  if (network_ == "unix") return path_;
  if (network_.starts_with("ip")) return ip_;
  return join_host_port(ip_, std::to_string(port_));
}

std::string join_host_port(std::string_view host, std::string_view port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) {
    out.append("[").append(host).append("]");
  } else {
    out.append(host);
  }
  out.append(":").append(port);
  return out;
}


std::pair<std::string, std::string> split_host_port(std::string_view hostport) {
  std::string_view host;
  std::string_view port;
  if (const char* reason = rt::split_host_port_reason(hostport, &host, &port)) {
    throw op_error(errc::invalid_address, "", "", {}, {},
                   "address " + std::string(hostport), reason);
  }
  return {std::string(host), std::string(port)};
}

}  // namespace goro::net

namespace goro::rt {

namespace {

using net::errc;

bool fail(address_failure* failure, std::error_code error, std::string detail,
          std::string reason = {}) {
  failure->error = error;
  failure->detail = std::move(detail);
  failure->reason = std::move(reason);
  return false;
}

// An IPv6 literal with an optional "%zone" (interface name or index).
bool parse_ipv6(std::string_view text, sockaddr_in6* sa) {
  std::string_view zone;
  if (std::size_t pct = text.find('%'); pct != std::string_view::npos) {
    zone = text.substr(pct + 1);
    text = text.substr(0, pct);
  }
  std::string ip(text);
  if (::inet_pton(AF_INET6, ip.c_str(), &sa->sin6_addr) != 1) return false;
  sa->sin6_family = AF_INET6;
  if (!zone.empty()) {
    std::string name(zone);
    unsigned index = ::if_nametoindex(name.c_str());
    if (index == 0) {
      char* end = nullptr;
      unsigned long numeric = std::strtoul(name.c_str(), &end, 10);
      if (end == name.c_str() || *end != '\0') return false;
      index = static_cast<unsigned>(numeric);
    }
    sa->sin6_scope_id = index;
  }
  return true;
}

// True for the numeric IPv4 forms that inet_pton rejects but glibc's resolver still takes as
// addresses: octal or hex parts ("0177.0.0.1", "0x7f.0.0.1"), fewer than four parts
// ("127.1") and a single number ("2130706433"). Go 1.19 treats such a host as a name, which
// no resolver finds. Resolving it here would make "0127.0.0.1" mean 87.0.0.1, and a host
// that a caller checked as text would lead somewhere else.
bool is_legacy_ipv4_form(std::string_view host) {
  const std::string text(host);
  in_addr ignored{};
  return ::inet_aton(text.c_str(), &ignored) != 0;
}

// Parses an IP literal into *out (port 0). False if `text` is not one.
bool parse_ip(std::string_view text, sock_address* out) {
  *out = sock_address{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->storage);
  std::string ip(text);
  if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    out->length = sizeof(sockaddr_in);
    return true;
  }
  *out = sock_address{};
  if (parse_ipv6(text, reinterpret_cast<sockaddr_in6*>(&out->storage))) {
    out->length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

void set_port(sock_address* a, std::uint16_t port) {
  if (a->family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&a->storage)->sin_port = htons(port);
  } else if (a->family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&a->storage)->sin6_port = htons(port);
  }
}

std::error_code lookup_error(int rc, int saved_errno, std::string* reason) {
  switch (rc) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
    case EAI_FAIL:
      return errc::no_such_host;
    case EAI_AGAIN:
      return errc::temporary_lookup_failure;
    case EAI_SERVICE:
      return errc::unknown_port;
    case EAI_SYSTEM:
      return {saved_errno, std::system_category()};
    default:
      *reason = ::gai_strerror(rc);
      return errc::no_such_host;
  }
}

// getaddrinfo in goro::blocking. Returns 0 or an EAI_ code; *saved_errno is errno for
// EAI_SYSTEM.
int blocking_getaddrinfo(const char* host, const char* service, const addrinfo& hints,
                         std::vector<sock_address>* out, int* saved_errno) {
  return goro::blocking([&] {
    addrinfo* list = nullptr;
    int rc = ::getaddrinfo(host, service, &hints, &list);
    *saved_errno = errno;
    if (rc != 0) return rc;
    for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
      sock_address a;
      std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
      a.length = ai->ai_addrlen;
      out->push_back(a);
    }
    ::freeaddrinfo(list);
    return 0;
  });
}

// A port number, or a service name looked up for spec's socket type.
bool parse_port(const net_spec& spec, std::string_view text, std::uint16_t* port,
                address_failure* failure) {
  // Digits, with an optional sign, are a port number as in Go's parsePort: leading zeros are
  // allowed ("00080"), and a minus sign or a value above 65535 makes it an invalid port rather
  // than a service name to look up.
  std::string_view digits = text;
  const bool signed_number = !digits.empty() && (digits.front() == '-' || digits.front() == '+');
  if (signed_number) digits.remove_prefix(1);
  bool numeric = !digits.empty() && std::all_of(digits.begin(), digits.end(),
                                               [](char c) { return c >= '0' && c <= '9'; });
  if (numeric) {
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    unsigned long value = digits.size() > 5 ? 65536 : std::stoul(std::string(digits));
    if (signed_number && text.front() == '-' && value != 0) value = 65536;
    if (value > 65535) {
      return fail(failure, errc::invalid_address, "address " + std::string(text), "invalid port");
    }
    *port = static_cast<std::uint16_t>(value);
    return true;
  }

  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = spec.sotype;
  hints.ai_flags = AI_PASSIVE;
  std::vector<sock_address> found;
  int saved_errno = 0;
  std::string service(text);
  int rc = blocking_getaddrinfo(nullptr, service.c_str(), hints, &found, &saved_errno);
  if (rc != 0 || found.empty()) {
    return fail(failure, errc::unknown_port, "lookup " + spec.name + "/" + service);
  }
  *port = ntohs(reinterpret_cast<const sockaddr_in*>(&found.front().storage)->sin_port);
  return true;
}

bool family_allowed(const net_spec& spec, int family) {
  return spec.family == AF_UNSPEC || spec.family == family;
}

bool resolve_unix(std::string_view path, std::vector<sock_address>* out,
                  address_failure* failure) {
  sock_address a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
  un->sun_family = AF_UNIX;
  // sun_path needs room for the terminating NUL of a path (an abstract name has none but
  // keeps the same limit here, for one rule).
  if (path.empty()) return fail(failure, errc::invalid_address, "", "missing address");
  if (path.size() >= sizeof un->sun_path) {
    return fail(failure, errc::invalid_address, "address " + std::string(path),
                "path longer than 107 bytes");
  }
  std::memcpy(un->sun_path, path.data(), path.size());
  // A leading '@' names a socket in Linux's abstract namespace, as in Go.
  if (path.front() == '@') un->sun_path[0] = '\0';
  a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                    (path.front() == '@' ? 0 : 1));
  out->push_back(a);
  return true;
}

}  // namespace

bool parse_network(std::string_view network, bool packet, bool allow_udp_dial, net_spec* spec,
                   address_failure* failure) {
  struct known {
    std::string_view name;
    int family;
    int sotype;
  };
  static constexpr known kNetworks[] = {
      {"tcp", AF_UNSPEC, SOCK_STREAM}, {"tcp4", AF_INET, SOCK_STREAM},
      {"tcp6", AF_INET6, SOCK_STREAM}, {"unix", AF_UNIX, SOCK_STREAM},
      {"udp", AF_UNSPEC, SOCK_DGRAM},  {"udp4", AF_INET, SOCK_DGRAM},
      {"udp6", AF_INET6, SOCK_DGRAM},
  };
  for (const known& k : kNetworks) {
    if (k.name != network) continue;
    bool is_packet = k.sotype == SOCK_DGRAM;
    if (is_packet != packet && !(is_packet && allow_udp_dial)) break;
    spec->name = std::string(network);
    spec->family = k.family;
    spec->sotype = k.sotype;
    return true;
  }
  return fail(failure, errc::unknown_network, "", "unknown network " + std::string(network));
}

bool ipv6_supported() {
  static const bool supported = [] {
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    ::close(fd);
    return true;
  }();
  return supported;
}

bool resolve(const net_spec& spec, std::string_view address, bool passive,
             std::vector<sock_address>* out, address_failure* failure) {
  out->clear();
  if (spec.family == AF_UNIX) return resolve_unix(address, out, failure);

  std::string_view host;
  std::string_view port_text;
  if (const char* reason = split_host_port_reason(address, &host, &port_text)) {
    return fail(failure, errc::invalid_address, "address " + std::string(address), reason);
  }
  std::uint16_t port = 0;
  if (!parse_port(spec, port_text, &port, failure)) return false;

  // An empty host: the wildcard address to listen on, the local machine to dial.
  if (host.empty()) {
    bool v6 = spec.family == AF_INET6 || (spec.family == AF_UNSPEC && passive && ipv6_supported());
    if (passive) {
      host = v6 ? "::" : "0.0.0.0";
    } else {
      host = v6 ? "::1" : "127.0.0.1";
    }
  }

  sock_address literal;
  if (parse_ip(host, &literal)) {
    if (!family_allowed(spec, literal.family())) {
      return fail(failure, errc::invalid_address, "address " + std::string(host),
                  "no suitable address found");
    }
    set_port(&literal, port);
    out->push_back(literal);
    return true;
  }

  addrinfo hints{};
  hints.ai_family = spec.family;
  hints.ai_socktype = spec.sotype;
  std::string name(host);
  if (is_legacy_ipv4_form(host)) return fail(failure, errc::no_such_host, "lookup " + name, "");
  int saved_errno = 0;
  std::vector<sock_address> found;
  int rc = blocking_getaddrinfo(name.c_str(), nullptr, hints, &found, &saved_errno);
  if (rc != 0 || found.empty()) {
    std::string reason;
    std::error_code ec = rc != 0 ? lookup_error(rc, saved_errno, &reason)
                                 : std::error_code(errc::no_such_host);
    return fail(failure, ec, "lookup " + name, reason);
  }
  for (sock_address& a : found) set_port(&a, port);

  if (passive) {
    // One address to bind: the first IPv4 one for "tcp" and "udp", as Go's listen does.
    auto v4 = std::find_if(found.begin(), found.end(),
                           [](const sock_address& a) { return a.family() == AF_INET; });
    out->push_back(v4 != found.end() ? *v4 : found.front());
  } else {
    *out = std::move(found);
  }
  return true;
}

net::addr addr_from_sockaddr(const std::string& network, const sockaddr* sa, socklen_t length) {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  if (sa->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    return net::addr(network, text, ntohs(v4->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(sa);
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; Go shows them as IPv4.
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      ::inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof text);
      return net::addr(network, text, ntohs(v6->sin6_port));
    }
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    std::string ip = text;
    if (v6->sin6_scope_id != 0) {
      char name[IF_NAMESIZE] = {};
      ip += "%";
      ip += ::if_indextoname(v6->sin6_scope_id, name) != nullptr
                ? std::string(name)
                : std::to_string(v6->sin6_scope_id);
    }
    return net::addr(network, ip, ntohs(v6->sin6_port));
  }
  if (sa->sa_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
    std::size_t offset = offsetof(sockaddr_un, sun_path);
    std::size_t size = length > offset ? length - offset : 0;
    std::string path(un->sun_path, size);
    if (!path.empty() && path.front() == '\0') {
      path.front() = '@';
    } else {
      path = path.c_str();  // drop the terminating NUL and anything after it
    }
    return net::addr(network, path);
  }
  return {};
}

bool sockaddr_from_addr(const net::addr& a, sock_address* out, address_failure* failure) {
  if (a.network() == "unix") {
    std::vector<sock_address> one;
    if (!resolve_unix(a.path(), &one, failure)) return false;
    *out = one.front();
    return true;
  }
  if (!parse_ip(a.ip(), out)) {
    return fail(failure, errc::invalid_address, "address " + a.to_string(), "not an IP address");
  }
  set_port(out, a.port());
  return true;
}

}  // namespace goro::rt

namespace goro::net {

std::vector<std::string> lookup_host(std::string_view host) {
  rt::sock_address literal;
  if (rt::parse_ip(host, &literal)) return {std::string(host)};

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address instead of one per socket type
  std::string name(host);
  if (rt::is_legacy_ipv4_form(host)) {
    throw op_error(errc::no_such_host, "lookup", "", {}, addr("ip", name, 0), "", "");
  }
  std::vector<rt::sock_address> found;
  int saved_errno = 0;
  int rc = rt::blocking_getaddrinfo(name.c_str(), nullptr, hints, &found, &saved_errno);
  std::string reason;
  std::error_code ec;
  if (rc != 0) ec = rt::lookup_error(rc, saved_errno, &reason);
  if (rc == 0 && found.empty()) ec = errc::no_such_host;
  if (ec) throw op_error(ec, "lookup", "", {}, addr("ip", name, 0), "", reason);

  std::vector<std::string> ips;
  for (const rt::sock_address& a : found) {
    std::string ip = rt::addr_from_sockaddr("ip", a.get(), a.length).ip();
    if (std::find(ips.begin(), ips.end(), ip) == ips.end()) ips.push_back(ip);
  }
  return ips;
}

addr resolve_addr(std::string_view network, std::string_view address) {
  rt::net_spec spec;
  rt::address_failure failure;
  std::vector<rt::sock_address> found;
  if (!rt::parse_network(network, network.starts_with("udp"), true, &spec, &failure) ||
      !rt::resolve(spec, address, true, &found, &failure)) {
    throw op_error(failure.error, "resolve", std::string(network), {}, {}, failure.detail,
                   failure.reason);
  }
  return rt::addr_from_sockaddr(spec.name, found.front().get(), found.front().length);
}

}  // namespace goro::net
