// Tests for the parts of goro::net that need no socket: host:port splitting with Go's error
// texts, address formatting, the error category and op_error's message. Lookups use only IP
// literals and "localhost", which /etc/hosts resolves, so no query leaves the machine.
#include <gtest/gtest.h>

#include <string>
#include <system_error>
#include <vector>

#include "goro/net.hpp"

namespace {

using goro::net::addr;
using goro::net::errc;
using goro::net::op_error;

TEST(SplitHostPort, AcceptsGoForms) {
  struct row {
    const char* input;
    const char* host;
    const char* port;
  };
  const row rows[] = {
      {"127.0.0.1:8080", "127.0.0.1", "8080"},
      {"localhost:http", "localhost", "http"},
      {":0", "", "0"},
      {"[::1]:80", "::1", "80"},
      {"[fe80::1%eth0]:443", "fe80::1%eth0", "443"},
      {"[::]:", "::", ""},
      {"host:", "host", ""},
  };
  for (const row& r : rows) {
    auto [host, port] = goro::net::split_host_port(r.input);
    EXPECT_EQ(host, r.host) << r.input;
    EXPECT_EQ(port, r.port) << r.input;
  }
}

TEST(SplitHostPort, RejectsWithGoMessages) {
  struct row {
    const char* input;
    const char* message;
  };
  const row rows[] = {
      {"127.0.0.1", "address 127.0.0.1: missing port in address"},
      {"::1:80", "address ::1:80: too many colons in address"},
      {"[::1]", "address [::1]: missing port in address"},
      {"[::1]x:80", "address [::1]x:80: missing port in address"},
      {"[::1]:80:90", "address [::1]:80:90: too many colons in address"},
      {"[::1:80", "address [::1:80: missing ']' in address"},
      {"a[b:80", "address a[b:80: unexpected '[' in address"},
      {"a]b:80", "address a]b:80: unexpected ']' in address"},
  };
  for (const row& r : rows) {
    try {
      goro::net::split_host_port(r.input);
      ADD_FAILURE() << r.input << " was accepted";
    } catch (const op_error& e) {
      EXPECT_EQ(e.code(), errc::invalid_address) << r.input;
      EXPECT_STREQ(e.what(), r.message);
    }
  }
}

TEST(JoinHostPort, BracketsIpv6) {
  EXPECT_EQ(goro::net::join_host_port("127.0.0.1", "80"), "127.0.0.1:80");
  EXPECT_EQ(goro::net::join_host_port("::1", "80"), "[::1]:80");
  EXPECT_EQ(goro::net::join_host_port("", "0"), ":0");
}

TEST(Addr, ToStringPerNetwork) {
  EXPECT_EQ(addr("tcp", "127.0.0.1", 8080).to_string(), "127.0.0.1:8080");
  EXPECT_EQ(addr("tcp6", "::1", 80).to_string(), "[::1]:80");
  EXPECT_EQ(addr("udp", "10.0.0.1", 53).to_string(), "10.0.0.1:53");
  EXPECT_EQ(addr("unix", "/tmp/s").to_string(), "/tmp/s");
  EXPECT_EQ(addr("ip", "example.invalid", 0).to_string(), "example.invalid");
  EXPECT_EQ(addr().to_string(), "");
  EXPECT_TRUE(addr().empty());
  EXPECT_EQ(addr("tcp", "::1", 80), addr("tcp", "::1", 80));
  EXPECT_NE(addr("tcp", "::1", 80), addr("tcp", "::1", 81));
}

TEST(NetCategory, MessagesAreGos) {
  EXPECT_EQ(std::error_code(errc::closed).message(), "use of closed network connection");
  EXPECT_EQ(std::error_code(errc::timeout).message(), "i/o timeout");
  EXPECT_EQ(std::error_code(errc::no_such_host).message(), "no such host");
  EXPECT_STREQ(goro::net::net_category().name(), "goro.net");
}

TEST(NetCategory, TimeoutEqualsTimedOut) {
  std::error_code ec = errc::timeout;
  EXPECT_TRUE(ec == std::errc::timed_out);
  EXPECT_FALSE(std::error_code(errc::closed) == std::errc::timed_out);
}

TEST(OpError, ReadsLikeGo) {
  op_error read_timeout(errc::timeout, "read", "tcp", addr("tcp", "127.0.0.1", 8080),
                        addr("tcp", "127.0.0.1", 51234));
  EXPECT_STREQ(read_timeout.what(), "read tcp 127.0.0.1:8080->127.0.0.1:51234: i/o timeout");
  EXPECT_TRUE(read_timeout.timeout());
  EXPECT_EQ(read_timeout.op(), "read");
  EXPECT_EQ(read_timeout.net(), "tcp");
  EXPECT_EQ(read_timeout.source().port(), 8080);
  EXPECT_EQ(read_timeout.addr().port(), 51234);

  op_error refused(std::error_code(ECONNREFUSED, std::system_category()), "dial", "tcp", {},
                   addr("tcp", "127.0.0.1", 1), "connect");
  EXPECT_STREQ(refused.what(), "dial tcp 127.0.0.1:1: connect: connection refused");
  EXPECT_FALSE(refused.timeout());
  EXPECT_EQ(refused.detail(), "connect");

  op_error lookup(errc::no_such_host, "dial", "tcp", {}, {}, "lookup example.invalid");
  EXPECT_STREQ(lookup.what(), "dial tcp: lookup example.invalid: no such host");

  op_error reason(errc::unknown_network, "dial", "udpx", {}, {}, "", "unknown network udpx");
  EXPECT_STREQ(reason.what(), "dial udpx: unknown network udpx");

  op_error unix_closed(errc::closed, "accept", "unix", {}, addr("unix", "/tmp/s"));
  EXPECT_STREQ(unix_closed.what(), "accept unix /tmp/s: use of closed network connection");
}

TEST(OpError, IsASystemError) {
  try {
    throw op_error(errc::closed, "write", "tcp", {}, {});
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::closed);
    EXPECT_STREQ(e.what(), "write tcp: use of closed network connection");
  }
}

TEST(LookupHost, LiteralIsReturnedAsIs) {
  EXPECT_EQ(goro::net::lookup_host("127.0.0.1"), std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(goro::net::lookup_host("::1"), std::vector<std::string>{"::1"});
}

TEST(LookupHost, LegacyNumericFormsAreNotAddresses) {
  for (const char* host : {"0177.0.0.1", "0x7f.0.0.1", "127.1", "2130706433"}) {
    try {
      goro::net::lookup_host(host);
      ADD_FAILURE() << host << " was resolved";
    } catch (const op_error& e) {
      EXPECT_EQ(e.code(), errc::no_such_host) << host;
      EXPECT_EQ(std::string(e.what()), std::string("lookup ") + host + ": no such host");
    }
  }
}

TEST(LookupHost, LocalhostFromHostsFile) {
  // NOTE: assumes /etc/hosts lists localhost and nsswitch.conf reads files first (Debian's
  // default); elsewhere this lookup could reach a DNS server.
  std::vector<std::string> ips = goro::net::lookup_host("localhost");
  ASSERT_FALSE(ips.empty());
  bool loopback = false;
  for (const std::string& ip : ips) loopback = loopback || ip == "127.0.0.1" || ip == "::1";
  EXPECT_TRUE(loopback) << "first address: " << ips.front();
}

TEST(ResolveAddr, ParsesLiteralsAndPorts) {
  addr a = goro::net::resolve_addr("udp", "127.0.0.1:53");
  EXPECT_EQ(a.network(), "udp");
  EXPECT_EQ(a.ip(), "127.0.0.1");
  EXPECT_EQ(a.port(), 53);
  addr b = goro::net::resolve_addr("tcp6", "[::1]:8080");
  EXPECT_EQ(b.to_string(), "[::1]:8080");
  addr u = goro::net::resolve_addr("unix", "/tmp/x.sock");
  EXPECT_EQ(u.path(), "/tmp/x.sock");
  // Leading zeros and a plus sign, as Go's parsePort takes them.
  EXPECT_EQ(goro::net::resolve_addr("tcp", "127.0.0.1:00000000080").port(), 80);
  EXPECT_EQ(goro::net::resolve_addr("tcp", "127.0.0.1:+80").port(), 80);
}

TEST(ResolveAddr, RejectsBadInput) {
  struct row {
    const char* network;
    const char* address;
    errc code;
    const char* message;
  };
  const row rows[] = {
      {"tcp", "127.0.0.1:99999", errc::invalid_address,
       "resolve tcp: address 99999: invalid port"},
      {"tcp", "127.0.0.1:-1", errc::invalid_address, "resolve tcp: address -1: invalid port"},
      {"tcp", "127.0.0.1:00000065536", errc::invalid_address,
       "resolve tcp: address 00000065536: invalid port"},
      {"tcp", "127.0.0.1", errc::invalid_address,
       "resolve tcp: address 127.0.0.1: missing port in address"},
      {"tcp4", "[::1]:80", errc::invalid_address,
       "resolve tcp4: address ::1: no suitable address found"},
      {"tcp6", "127.0.0.1:80", errc::invalid_address,
       "resolve tcp6: address 127.0.0.1: no suitable address found"},
      {"sctp", "127.0.0.1:80", errc::unknown_network, "resolve sctp: unknown network sctp"},
      {"unix", "", errc::invalid_address, "resolve unix: missing address"},
      // Numeric forms that inet_pton rejects are names to Go, which no resolver finds. glibc
      // would take them as addresses, and 0127 is octal (87).
      {"tcp", "0127.0.0.1:80", errc::no_such_host, "resolve tcp: lookup 0127.0.0.1: no such host"},
      {"tcp", "0x7f.0.0.1:80", errc::no_such_host, "resolve tcp: lookup 0x7f.0.0.1: no such host"},
      {"tcp", "127.1:80", errc::no_such_host, "resolve tcp: lookup 127.1: no such host"},
      {"tcp", "2130706433:80", errc::no_such_host, "resolve tcp: lookup 2130706433: no such host"},
  };
  for (const row& r : rows) {
    try {
      goro::net::resolve_addr(r.network, r.address);
      ADD_FAILURE() << r.network << " " << r.address << " was accepted";
    } catch (const op_error& e) {
      EXPECT_EQ(e.code(), r.code) << r.network << " " << r.address;
      EXPECT_STREQ(e.what(), r.message);
    }
  }
}

TEST(ResolveAddr, UnixPathTooLong) {
  std::string path(200, 'x');
  try {
    goro::net::resolve_addr("unix", path);
    ADD_FAILURE() << "a 200-byte path was accepted";
  } catch (const op_error& e) {
    EXPECT_EQ(e.code(), errc::invalid_address);
    EXPECT_NE(std::string(e.what()).find("path longer than 107 bytes"), std::string::npos)
        << e.what();
  }
}

}  // namespace
