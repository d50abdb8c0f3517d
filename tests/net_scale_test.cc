// goro::net tests that need a second process. One opens 10 000 concurrent loopback
// connections, with the clients in a child so that each process needs only about 10 000
// descriptors. The other runs accept out of descriptors (EMFILE) in a child with a lowered
// soft limit: accept must back off, log exactly one line, and recover once descriptors are
// free again.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

#include "child_process.h"
#include "goro/chan.hpp"
#include "goro/net.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "goro_fixture.h"
#include "lib/net_socket.h"

namespace {

using namespace std::chrono_literals;
using goro::net::conn;
using goro::net::listener;
using goro_test::child_process;
using goro_test::describe;
using steady = std::chrono::steady_clock;

constexpr int kConnections = 10'000;
// Descriptors each process needs beyond its connections: standard streams, the poller's
// epoll and eventfd, the listener, gtest's and the child pipes.
constexpr rlim_t kSpareDescriptors = 256;
constexpr const char* kPortVariable = "GORO_NET_TEST_PORT";

// The time limit for the 10 000 connections to open and close, and the deadline of each
// one's socket calls. Measured on a shared two-core machine: about 1 s in the debug build and
// 4 s under TSan, so the limit only catches a hang.
constexpr std::chrono::seconds kScaleLimit{60};

// Raises the soft RLIMIT_NOFILE to `required` if the hard limit allows it. Returns false
// otherwise, with the hard limit in *hard.
bool raise_descriptor_limit(rlim_t required, rlim_t* hard) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  *hard = limit.rlim_max;
  if (limit.rlim_cur >= required) return true;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < required) return false;
  limit.rlim_cur = required;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// Reads exactly n bytes; throws if the stream ends first.
void read_full(const conn& c, char* buf, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    std::size_t step = c.read(buf + got, n - got);
    if (step == 0) {
      throw std::runtime_error("end of stream after " + std::to_string(got) + " bytes");
    }
    got += step;
  }
}

// Goroutines on each side. Each owns kConnections / kWorkers connections, so the test keeps
// 10 000 sockets open with few goroutines. Each goroutine is a TSan fiber, and one goroutine
// per connection slowed the TSan build to about 30 connections a second.
constexpr int kWorkers = 50;
static_assert(kConnections % kWorkers == 0);

// The child: kWorkers goroutines each dial their share of the clients one by one, send
// "ping" and read the echo, then wait for the server to close every one of them. Prints
// "clients done" and exits 0 if all of them worked.
GORO_CHILD_SCENARIO(ten_thousand_clients) {
  rlim_t hard = 0;
  if (!raise_descriptor_limit(kConnections + kSpareDescriptors, &hard)) return 3;
  const char* port = std::getenv(kPortVariable);
  if (port == nullptr) return 4;
  std::string target = std::string("127.0.0.1:") + port;

  return goro::run(0, nullptr, [&] {
    goro::wait_group finished;
    std::atomic<int> failures{0};
    finished.add(kWorkers);
    for (int w = 0; w < kWorkers; ++w) {
      goro::go([&] {
        try {
          std::vector<conn> mine;
          char buf[4];
          for (int i = 0; i < kConnections / kWorkers; ++i) {
            conn c = goro::net::dial("tcp", target);
            c.set_deadline(steady::now() + kScaleLimit);
            c.write("ping", 4);
            read_full(c, buf, 4);
            mine.push_back(c);
          }
          // Hold every connection until the server closes it.
          for (const conn& c : mine) {
            if (c.read(buf, sizeof buf) != 0) throw std::runtime_error("data after the echo");
            c.close();
          }
        } catch (const std::exception& e) {
          if (failures.fetch_add(1) == 0) std::fprintf(stderr, "client: %s\n", e.what());
        }
        finished.done();
      });
    }
    finished.wait();
    if (failures.load() != 0) return 1;
    std::printf("clients done\n");
    std::fflush(stdout);
    return 0;
  });
}

TEST(NetScale, TenThousandConcurrentConnections) {
  rlim_t hard = 0;
  if (!raise_descriptor_limit(kConnections + kSpareDescriptors, &hard)) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << hard << " is below the "
                 << kConnections + kSpareDescriptors << " descriptors this test needs";
  }
  auto start = steady::now();
  int status = goro::run(0, nullptr, [] {
    listener ln = goro::net::listen("tcp", "127.0.0.1:0");
    // The accept loop hands each connection to one of kWorkers echo workers. A worker echoes
    // the connection's "ping" and adds it to `open`, where it stays until the test closes
    // them all at once.
    goro::chan<conn> incoming(kWorkers);
    goro::mutex open_lock;
    std::vector<conn> open;  // guarded by open_lock
    // Receives one value when the last connection opens or the first failure happens, so
    // the main goroutine waits without spinning.
    goro::chan<int> milestone(1);
    auto signal_milestone = [milestone] {
      goro::select(goro::on_send(milestone, 0, [] {}), goro::on_default([] {}));
    };
    std::atomic<int> failures{0};
    goro::wait_group goroutines;

    goroutines.add(1);
    goro::go([&] {
      for (int i = 0; i < kConnections; ++i) {
        try {
          incoming.send(ln.accept());
        } catch (const goro::net::op_error& e) {
          std::fprintf(stderr, "accept: %s\n", e.what());
          failures.fetch_add(1);
          signal_milestone();
          break;
        }
      }
      incoming.close();
      goroutines.done();
    });
    goroutines.add(kWorkers);
    for (int w = 0; w < kWorkers; ++w) {
      goro::go([&] {
        for (conn c : incoming) {
          try {
            c.set_deadline(steady::now() + kScaleLimit);
            char buf[4];
            read_full(c, buf, 4);
            c.write(buf, 4);
          } catch (const std::exception& e) {
            if (failures.fetch_add(1) == 0) std::fprintf(stderr, "server: %s\n", e.what());
            signal_milestone();
          }
          std::lock_guard<goro::mutex> guard(open_lock);
          open.push_back(c);
          if (open.size() == kConnections) signal_milestone();
        }
        goroutines.done();
      });
    }

    std::string port = std::to_string(ln.local_addr().port());
    child_process clients("ten_thousand_clients", {std::string(kPortVariable) + "=" + port});
    bool in_time = false;
    goro::select(goro::on_recv(milestone, [&](auto) { in_time = true; }),
                 goro::on_recv(goro::after(kScaleLimit), [](auto) {}));
    EXPECT_TRUE(in_time) << "timed out after " << kScaleLimit.count() << " s";
    EXPECT_EQ(failures.load(), 0);
    {
      std::lock_guard<goro::mutex> guard(open_lock);
      EXPECT_EQ(open.size(), static_cast<std::size_t>(kConnections));
    }

    // Closing the listener ends an accept still waiting after a failure.
    ln.close();
    goroutines.wait();
    for (const conn& c : open) c.close();
    goro_test::child_result result = goro::blocking([&] { return clients.wait(kScaleLimit); });
    EXPECT_TRUE(result.exited) << describe(result);
    EXPECT_EQ(result.exit_status, 0) << describe(result);
    EXPECT_NE(result.out.find("clients done"), std::string::npos) << describe(result);
  });
  EXPECT_EQ(status, 0);
  EXPECT_LT(steady::now() - start, kScaleLimit);
  std::printf("10000 connections took %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         steady::now() - start)
                                         .count()));
}

// The child: a listener whose process has no descriptor left when a connection arrives.
// accept must back off (not spin), then return the connection once descriptors are freed.
GORO_CHILD_SCENARIO(accept_emfile) {
  return goro::run(0, nullptr, []() -> int {
    listener ln = goro::net::listen("tcp", "127.0.0.1:0");
    conn client = goro::net::dial("tcp", ln.local_addr().to_string());
    client.set_deadline(steady::now() + 30s);

    // With no descriptor left, UBSan's vptr check cannot run: it tests that a vtable is
    // readable with pipe(2) and reports a false "invalid vptr" when that fails. Only types
    // not yet in its cache need the test, so the types that accept's failure path calls
    // through (shared_ptr control blocks, error categories, op_error) are used once beforehand. The
    // accepting goroutine copies its handles now and calls accept once `start_accept` closes.
    {
      std::error_code emfile(EMFILE, std::system_category());
      (void)emfile.message();
      (void)(emfile == std::errc::no_buffer_space);  // calls both categories' equivalent()
      goro::net::op_error warm_up(emfile, "accept", "tcp", {}, {}, "accept4");
      (void)warm_up.what();
    }  // and its destructor
    goro::chan<int> start_accept;
    goro::chan<conn> accepted(1);
    goro::go([ln, accepted, start_accept] {
      start_accept.recv();
      accepted.send(ln.accept());
    });

    // Use up the descriptor table under a low soft limit.
    constexpr rlim_t kLowLimit = 128;
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = kLowLimit;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return 3;
    std::vector<int> filler;
    for (;;) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      filler.push_back(fd);
    }
    if (errno != EMFILE) return 4;

    // Retries 1 to 3 wait 5, 10 and 20 ms, so the third starts at least 15 ms after the
    // first: reaching it that late proves the back-off.
    auto start = steady::now();
    start_accept.close();
    if (!goro_test::yield_until([] { return goro::net::detail::accept_backoff_count() >= 3; })) {
      return 5;
    }
    auto elapsed = steady::now() - start;
    std::printf("backoffs=%llu after %lld ms\n",
                static_cast<unsigned long long>(goro::net::detail::accept_backoff_count()),
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
    if (elapsed < 15ms) return 6;

    for (int fd : filler) ::close(fd);
    conn server = *accepted.recv();
    client.write("ok", 2);
    char buf[2];
    server.set_deadline(steady::now() + 30s);
    if (server.read(buf, 2) != 2) return 7;

    // A second connection is accepted at once and logs nothing more.
    goro::go([ln, accepted] { accepted.send(ln.accept()); });
    conn second = goro::net::dial("tcp", ln.local_addr().to_string());
    conn second_server = *accepted.recv();
    std::printf("recovered\n");
    std::fflush(stdout);
    second.close();
    second_server.close();
    server.close();
    client.close();
    ln.close();
    return 0;
  });
}

TEST(NetScale, AcceptBacksOffOnEmfile) {
  goro_test::child_result result = goro_test::run_child("accept_emfile", {}, 60s);
  ASSERT_TRUE(result.exited) << describe(result);
  ASSERT_EQ(result.exit_status, 0) << describe(result);
  EXPECT_NE(result.out.find("recovered"), std::string::npos) << describe(result);

  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin < result.err.size()) {
    std::size_t end = result.err.find('\n', begin);
    if (end == std::string::npos) end = result.err.size();
    lines.push_back(result.err.substr(begin, end - begin));
    begin = end + 1;
  }
  ASSERT_EQ(lines.size(), 1u) << "stderr:\n" << result.err;
  EXPECT_EQ(lines[0].rfind("goro: accept tcp 127.0.0.1:", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(": accept4: too many open files; retrying with a back-off"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[0].find("ulimit -n"), std::string::npos) << lines[0];
}

}  // namespace
