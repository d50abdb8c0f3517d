// Network names, address parsing, sockaddr conversion and name resolution for goro::net.
//
// Resolution of a host name runs getaddrinfo inside goro::blocking, so a slow resolver holds
// the calling thread but not its P. IP literals and numeric ports never reach the resolver.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "goro/net.hpp"

namespace goro::rt {

// A parsed network name ("tcp", "udp6", "unix", ...).
struct net_spec {
  std::string name;       // as the caller spelled it; shown in errors and addresses
  int family = AF_UNSPEC;  // AF_INET for "tcp4"/"udp4", AF_INET6 for the 6 forms, AF_UNIX
  int sotype = SOCK_STREAM;
};

// Why an address could not be used, in the pieces op_error prints: "address x: missing
// port in address", "lookup example.invalid: no such host", "unknown network udpx".
struct address_failure {
  std::error_code error;
  std::string detail;
  std::string reason;  // empty: error.message()
};

struct sock_address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
};

// The reason net::split_host_port rejects `hostport` ("missing port in address", ...), or
// nullptr after storing the parts in *host and *port.
const char* split_host_port_reason(std::string_view hostport, std::string_view* host,
                                   std::string_view* port);

// Parses `network` into *spec. `packet` selects listen_packet's networks (udp*) instead of
// the stream ones (tcp*, unix). `allow_udp_dial` accepts both, for dial.
bool parse_network(std::string_view network, bool packet, bool allow_udp_dial, net_spec* spec,
                   address_failure* failure);

// Resolves `address` for `spec`. For dial it returns every usable endpoint in resolver
// order. For listen (`passive`) it returns one, where an empty host is the wildcard address
// and IPv4 is preferred for "tcp" and "udp", as Go does. Host names are resolved in
// goro::blocking.
bool resolve(const net_spec& spec, std::string_view address, bool passive,
             std::vector<sock_address>* out, address_failure* failure);

// True if the wildcard "tcp" or "udp" listener should be an IPv6 dual-stack socket: the
// kernel supports IPv6 sockets (checked once per process).
bool ipv6_supported();

net::addr addr_from_sockaddr(const std::string& network, const sockaddr* sa, socklen_t length);
bool sockaddr_from_addr(const net::addr& a, sock_address* out, address_failure* failure);

}  // namespace goro::rt
