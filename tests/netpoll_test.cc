// The network poller (src/runtime/netpoll) driven directly, below goro::net: readiness,
// deadlines, unblocking on close, stale events after fd reuse, plain-thread waiters, timers
// that must interrupt a blocked poller, and deadlock detection with I/O waiters.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "goro/chan.hpp"
#include "goro/goro.hpp"
#include "goro/time.hpp"
#include "goro_fixture.h"
#include "runtime/netpoll/netpoll.h"
#include "runtime/os/futex.h"
#include "runtime/sched/runtime2.h"

namespace rt = goro::rt;
using namespace std::chrono_literals;

namespace {

struct sock_pair {
  int a = -1;
  int b = -1;
  sock_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      ADD_FAILURE() << "socketpair failed: " << std::strerror(errno);
      return;
    }
    a = fds[0];
    b = fds[1];
  }
  ~sock_pair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

// Reads once into buf following the poller protocol. Returns the byte count, or -1 with the
// poll status that ended the wait in *st.
ssize_t poll_read(rt::poll_desc* pd, int fd, char* buf, std::size_t n, rt::poll_status* st) {
  for (;;) {
    *st = rt::poll_reset(pd, rt::poll_mode::read);
    if (*st != rt::poll_status::ok) return -1;
    ssize_t got = ::read(fd, buf, n);
    if (got >= 0 || errno != EAGAIN) return got;
    *st = rt::poll_wait(pd, rt::poll_mode::read);
    if (*st != rt::poll_status::ok) return -1;
  }
}

std::int64_t deadline_in(std::chrono::nanoseconds d) { return rt::os::nanotime() + d.count(); }

class Netpoll : public ::testing::TestWithParam<const char*> {};

// A goroutine blocked in a read wakes when another goroutine writes, over many round trips
// between two goroutines on two socket pairs.
TEST_P(Netpoll, PingPongOverSockets) {
  int rc = goro_test::run_with_godebug(GetParam(), "2", [] {
    sock_pair ab, ba;
    rt::poll_desc* pa = rt::poll_open(ab.b);
    rt::poll_desc* pb = rt::poll_open(ba.b);
    ASSERT_NE(pa, nullptr);
    ASSERT_NE(pb, nullptr);
    constexpr int kRounds = 2000;
    goro::chan<int> done;
    goro::go([&] {
      char c;
      rt::poll_status st;
      for (int i = 0; i < kRounds; ++i) {
        ASSERT_EQ(poll_read(pa, ab.b, &c, 1, &st), 1);
        ASSERT_EQ(::write(ba.a, &c, 1), 1);
      }
      done.send(1);
    });
    char c = 'x';
    rt::poll_status st;
    for (int i = 0; i < kRounds; ++i) {
      ASSERT_EQ(::write(ab.a, &c, 1), 1);
      ASSERT_EQ(poll_read(pb, ba.b, &c, 1, &st), 1);
    }
    EXPECT_EQ(done.recv(), 1);
    EXPECT_EQ(rt::netpoll_waiters(), 0);
    rt::poll_close(pa);
    rt::poll_close(pb);
  });
  EXPECT_EQ(rc, 0);
}

// A read deadline fires while the goroutine is blocked; extending it first keeps it blocked
// past the original time.
TEST_P(Netpoll, DeadlineFiresAndCanBeExtended) {
  int rc = goro_test::run_with_godebug(GetParam(), "2", [] {
    sock_pair s;
    rt::poll_desc* pd = rt::poll_open(s.b);
    ASSERT_NE(pd, nullptr);

    rt::poll_set_deadline(pd, deadline_in(20ms), rt::poll_mode::read);
    auto start = std::chrono::steady_clock::now();
    char c;
    rt::poll_status st;
    EXPECT_EQ(poll_read(pd, s.b, &c, 1, &st), -1);
    EXPECT_EQ(st, rt::poll_status::timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);

    // An expired deadline fails at once until it is moved.
    EXPECT_EQ(rt::poll_reset(pd, rt::poll_mode::read), rt::poll_status::timeout);
    EXPECT_EQ(rt::poll_reset(pd, rt::poll_mode::write), rt::poll_status::ok);

    // Extend while blocked: a helper moves the deadline from 30 ms to 10 s, then writes.
    rt::poll_set_deadline(pd, deadline_in(30ms), rt::poll_mode::read);
    goro::chan<int> extended(1);
    goro::go([&] {
      // Wait until the reader is parked in the poller, then move its deadline.
      while (rt::netpoll_waiters() == 0) goro::yield();
      rt::poll_set_deadline(pd, deadline_in(10s), rt::poll_mode::read);
      goro::sleep(60ms);  // past the old deadline: the reader must still be waiting
      char x = 'y';
      EXPECT_EQ(::write(s.a, &x, 1), 1);
      extended.send(1);
    });
    EXPECT_EQ(poll_read(pd, s.b, &c, 1, &st), 1);
    EXPECT_EQ(c, 'y');
    EXPECT_EQ(extended.recv(), 1);

    // Shortening into the past wakes a blocked reader at once.
    goro::go([&] {
      while (rt::netpoll_waiters() == 0) goro::yield();
      rt::poll_set_deadline(pd, deadline_in(-1ns), rt::poll_mode::read);
    });
    EXPECT_EQ(poll_read(pd, s.b, &c, 1, &st), -1);
    EXPECT_EQ(st, rt::poll_status::timeout);
    rt::poll_close(pd);
  });
  EXPECT_EQ(rc, 0);
}

// poll_unblock wakes both a blocked reader and a blocked writer with `closing`, and later
// attempts fail at once.
TEST_P(Netpoll, UnblockWakesReaderAndWriter) {
  int rc = goro_test::run_with_godebug(GetParam(), "2", [] {
    sock_pair s;
    rt::poll_desc* pd = rt::poll_open(s.b);
    ASSERT_NE(pd, nullptr);
    // Fill the send buffer so that a writer blocks.
    std::vector<char> chunk(1 << 16, 'z');
    while (::write(s.b, chunk.data(), chunk.size()) > 0) {
    }
    ASSERT_EQ(errno, EAGAIN);

    goro::chan<rt::poll_status> results(2);
    goro::go([&] {
      char c;
      rt::poll_status st;
      poll_read(pd, s.b, &c, 1, &st);
      results.send(st);
    });
    goro::go([&] {
      rt::poll_status st = rt::poll_reset(pd, rt::poll_mode::write);
      if (st == rt::poll_status::ok) st = rt::poll_wait(pd, rt::poll_mode::write);
      results.send(st);
    });
    ASSERT_TRUE(goro_test::yield_until([] { return rt::netpoll_waiters() == 2; }));
    rt::poll_unblock(pd);
    EXPECT_EQ(results.recv(), rt::poll_status::closing);
    EXPECT_EQ(results.recv(), rt::poll_status::closing);
    EXPECT_EQ(rt::poll_reset(pd, rt::poll_mode::read), rt::poll_status::closing);
    EXPECT_EQ(rt::poll_wait(pd, rt::poll_mode::write), rt::poll_status::closing);
    rt::poll_close(pd);
  });
  EXPECT_EQ(rc, 0);
}

// A socket closed with an unconsumed read event: the socket that reuses its fd number (and
// its poller record) must not see that event.
TEST_P(Netpoll, ReusedFdGetsNoStaleEvents) {
  int rc = goro_test::run_with_godebug(GetParam(), "1", [] {
    auto* old_pair = new sock_pair;
    rt::poll_desc* old_pd = rt::poll_open(old_pair->b);
    ASSERT_NE(old_pd, nullptr);
    // Make the old socket readable, so epoll has a read event for it, then close it
    // without consuming the event.
    char c = 'o';
    ASSERT_EQ(::write(old_pair->a, &c, 1), 1);
    int old_fd = old_pair->b;
    rt::poll_close(old_pd);
    delete old_pair;

    sock_pair fresh;
    int reused = fresh.a == old_fd ? fresh.a : fresh.b;
    int peer = reused == fresh.a ? fresh.b : fresh.a;
    ASSERT_TRUE(reused == old_fd) << "the kernel did not reuse fd " << old_fd;
    rt::poll_desc* pd = rt::poll_open(reused);
    ASSERT_NE(pd, nullptr);
    rt::poll_set_deadline(pd, deadline_in(50ms), rt::poll_mode::read);
    char buf;
    rt::poll_status st;
    EXPECT_EQ(poll_read(pd, reused, &buf, 1, &st), -1) << "read data nobody sent";
    EXPECT_EQ(st, rt::poll_status::timeout);
    (void)peer;
    rt::poll_close(pd);
  });
  EXPECT_EQ(rc, 0);
}

// A plain std::thread waits on a socket in the poller and a goroutine wakes it.
TEST_P(Netpoll, PlainThreadWaits) {
  int rc = goro_test::run_with_godebug(GetParam(), "2", [] {
    sock_pair s;
    rt::poll_desc* pd = rt::poll_open(s.b);
    ASSERT_NE(pd, nullptr);
    std::atomic<ssize_t> got{0};
    std::thread reader([&] {
      char c;
      rt::poll_status st;
      got.store(poll_read(pd, s.b, &c, 1, &st));
    });
    ASSERT_TRUE(goro_test::yield_until([] { return rt::netpoll_waiters() == 1; }));
    char c = 'p';
    EXPECT_EQ(::write(s.a, &c, 1), 1);
    reader.join();
    EXPECT_EQ(got.load(), 1);
    rt::poll_close(pd);
  });
  EXPECT_EQ(rc, 0);
}

// With one P, main blocks on a socket and its M blocks in the poller with no timeout. A plain
// thread then gives main a 10 ms read deadline: adding that timer must interrupt the poll, or
// no M would ever run it. If main is still blocked after 10 s, the thread writes a byte so
// that the test fails instead of hanging.
TEST_P(Netpoll, NewTimerInterruptsBlockedPoller) {
  int rc = goro_test::run_with_godebug(GetParam(), "1", [] {
    sock_pair s;
    rt::poll_desc* pd = rt::poll_open(s.b);
    ASSERT_NE(pd, nullptr);
    std::atomic<std::uint32_t> main_done{0};
    std::thread setter([&] {
      while (rt::netpoll_waiters() == 0 || rt::sched.lastpoll.load() != 0) std::this_thread::yield();
      rt::poll_set_deadline(pd, deadline_in(10ms), rt::poll_mode::read);
      auto until = std::chrono::steady_clock::now() + 10s;
      while (main_done.load() == 0 && std::chrono::steady_clock::now() < until) {
        rt::os::futex_wait(&main_done, 0, 100'000'000);
      }
      if (main_done.load() == 0) {
        char c = 'f';
        EXPECT_EQ(::write(s.a, &c, 1), 1);
      }
    });
    char c;
    rt::poll_status st;
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(poll_read(pd, s.b, &c, 1, &st), -1);
    EXPECT_EQ(st, rt::poll_status::timeout);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "the deadline timer ran late";
    main_done.store(1);
    rt::os::futex_wake(&main_done, 1);
    setter.join();
    rt::poll_close(pd);
  });
  EXPECT_EQ(rc, 0);
}

// With one P, main spins without a scheduling point while a goroutine waits for a socket.
// sysmon must get the reader running (its 10 ms poll queues it and its retake hands the P to
// another M), or main spins until its 10 s limit.
TEST_P(Netpoll, BusyProgramStillSeesSocket) {
  int rc = goro_test::run_with_godebug(GetParam(), "1", [] {
    sock_pair s;
    rt::poll_desc* pd = rt::poll_open(s.b);
    ASSERT_NE(pd, nullptr);
    std::atomic<bool> read_done{false};
    goro::go([&] {
      char c;
      rt::poll_status st;
      EXPECT_EQ(poll_read(pd, s.b, &c, 1, &st), 1);
      read_done.store(true);
    });
    while (rt::netpoll_waiters() == 0) goro::yield();
    char c = 's';
    EXPECT_EQ(::write(s.a, &c, 1), 1);
    auto limit = std::chrono::steady_clock::now() + 10s;
    while (!read_done.load() && std::chrono::steady_clock::now() < limit) {
    }
    EXPECT_TRUE(read_done.load()) << "the reader never ran while main was busy";
    rt::poll_close(pd);
  });
  EXPECT_EQ(rc, 0);
}

INSTANTIATE_TEST_SUITE_P(Godebug, Netpoll, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

// The parent writes to main's socket only after main is blocked on it: a goroutine waiting in
// the poller is not a deadlock.
GORO_CHILD_SCENARIO(main_waits_on_socket) {
  return goro::run(0, nullptr, [] {
    // fd 3 is the socket the parent passed down (GORO_TEST_SOCKET names it).
    int fd = std::atoi(std::getenv("GORO_TEST_SOCKET"));
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    rt::poll_desc* pd = rt::poll_open(fd);
    if (pd == nullptr) return 3;
    std::puts("waiting");
    std::fflush(stdout);
    char c;
    rt::poll_status st;
    ssize_t n = poll_read(pd, fd, &c, 1, &st);
    std::printf("read %zd\n", n);
    rt::poll_close(pd);
    return n == 1 ? 0 : 1;
  });
}

// Polls /proc until a thread of pid sleeps in the kernel's epoll wait, or the time is up.
bool child_thread_in_epoll(pid_t pid, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  while (std::chrono::steady_clock::now() < deadline) {
    if (DIR* d = ::opendir(dir.c_str())) {
      bool found = false;
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream wchan(dir + "/" + e->d_name + "/wchan");
        std::string where;
        std::getline(wchan, where);
        if (where.find("epoll") != std::string::npos) found = true;
      }
      ::closedir(d);
      if (found) return true;
    }
    std::this_thread::sleep_for(1ms);  // polling /proc, not synchronising with the child
  }
  return false;
}

TEST(NetpollDeadlock, SocketWaiterIsNotDeadlocked) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);  // inherited: no CLOEXEC
  goro_test::child_process child("main_waits_on_socket",
                                 {"GOMAXPROCS=1", "GORO_TEST_SOCKET=" + std::to_string(fds[1])});
  ASSERT_TRUE(child.wait_for_stdout("waiting", 20s));
  // Write only once a thread of the child sleeps in epoll_wait, that is, once main is parked
  // and its M has gone idle (where checkdead runs).
  EXPECT_TRUE(child_thread_in_epoll(child.pid(), 20s));
  char c = 'w';
  ASSERT_EQ(::write(fds[0], &c, 1), 1);
  auto r = child.wait(20s);
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 0) << goro_test::describe(r);
  EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << goro_test::describe(r);
}

}  // namespace
