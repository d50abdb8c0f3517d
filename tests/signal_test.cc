// Tests for goro::signal. Real signals sent with kill(2) to this process or to a child
// process reach the channels that watch them with Go's semantics: non-blocking delivery, one
// copy per channel, and stop, ignore and reset changing dispositions as sigaction(2) shows.
// Deadlock detection stays quiet exactly while a signal is watched.
#include <gtest/gtest.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "child_process.h"
#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/signal.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "goro_fixture.h"
#include "runtime/sched/sanitizer.h"

namespace {

using namespace std::chrono_literals;

// How long a test waits for a signal before it fails instead of hanging.
constexpr auto kDeliveryLimit = 20s;

class Signal : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(F&& main) {
    return goro_test::run_with_godebug(GetParam(), "4", std::forward<F>(main));
  }
};

INSTANTIATE_TEST_SUITE_P(Godebug, Signal, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

struct sigaction current_action(int sig) {
  struct sigaction action {};
  EXPECT_EQ(::sigaction(sig, nullptr, &action), 0) << "sigaction query of signal " << sig;
  return action;
}

bool is_default(int sig) {
  struct sigaction action = current_action(sig);
  return (action.sa_flags & SA_SIGINFO) == 0 && action.sa_handler == SIG_DFL;
}

void set_default(int sig) {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(::sigaction(sig, &action, nullptr), 0);
}

void send_to_self(int sig) { ASSERT_EQ(::kill(::getpid(), sig), 0) << "kill signal " << sig; }

// Receives from c, or returns std::nullopt after kDeliveryLimit.
std::optional<int> receive_signal(const goro::chan<int>& c) {
  std::optional<int> got;
  goro::select(goro::on_recv(c, [&](std::optional<int> v) { got = v; }),
               goro::on_recv(goro::after(kDeliveryLimit), [](auto) {}));
  return got;
}

// Receives from c without blocking.
std::optional<int> poll_channel(const goro::chan<int>& c) {
  std::optional<int> got;
  goro::select(goro::on_recv(c, [&](std::optional<int> v) { got = v; }), goro::on_default([] {}));
  return got;
}

// A handler in place of another owner of a signal (a library, the runtime's SIGQUIT dump).
// It counts its calls.
std::atomic<int> other_handler_calls{0};
void other_handler(int sig, siginfo_t* info, void* context) {
  (void)sig;
  (void)info;
  (void)context;
  other_handler_calls.fetch_add(1);
}

void install_other_handler(int sig) {
  struct sigaction action {};
  action.sa_sigaction = &other_handler;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(::sigaction(sig, &action, nullptr), 0);
}

bool other_handler_installed(int sig) {
  struct sigaction action = current_action(sig);
  return (action.sa_flags & SA_SIGINFO) != 0 && action.sa_sigaction == &other_handler;
}

template <class F>
std::string invalid_argument_message(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument was thrown";
  return "";
}

TEST_P(Signal, DeliversToOneChannel) {
  run([] {
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGUSR1});
    send_to_self(SIGUSR1);
    EXPECT_EQ(receive_signal(c), SIGUSR1);
    goro::signal::stop(c);
    EXPECT_TRUE(is_default(SIGUSR1));
  });
}

TEST_P(Signal, HandlerFlagsAreGos) {
  run([] {
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGUSR1});
    struct sigaction action = current_action(SIGUSR1);
    EXPECT_NE(action.sa_flags & SA_SIGINFO, 0);
    EXPECT_NE(action.sa_flags & SA_ONSTACK, 0);
#if defined(GORO_TSAN)
    EXPECT_EQ(action.sa_flags & SA_RESTART, 0) << "left out under TSan so idle Ms take signals";
#else
    EXPECT_NE(action.sa_flags & SA_RESTART, 0);
#endif
    goro::signal::stop(c);
  });
}

TEST_P(Signal, EachWatchingChannelGetsACopy) {
  run([] {
    goro::chan<int> hangup_only(1);
    goro::chan<int> hangup_too(1);
    goro::chan<int> both(2);
    goro::signal::notify(hangup_only, {SIGHUP});
    goro::signal::notify(hangup_too, {SIGHUP});
    goro::signal::notify(both, {SIGINT});
    goro::signal::notify(both, {SIGHUP});  // adds to what `both` watches

    send_to_self(SIGHUP);
    EXPECT_EQ(receive_signal(hangup_only), SIGHUP);
    EXPECT_EQ(receive_signal(hangup_too), SIGHUP);
    EXPECT_EQ(receive_signal(both), SIGHUP);

    send_to_self(SIGINT);
    EXPECT_EQ(receive_signal(both), SIGINT);
    EXPECT_EQ(poll_channel(hangup_only), std::nullopt);
    EXPECT_EQ(poll_channel(hangup_too), std::nullopt);

    goro::signal::stop(hangup_only);
    goro::signal::stop(hangup_too);
    goro::signal::stop(both);
    EXPECT_TRUE(is_default(SIGHUP));
    EXPECT_TRUE(is_default(SIGINT));
  });
}

TEST_P(Signal, FullChannelMissesSignal) {
  run([] {
    goro::chan<int> full(1);
    full.send(0);  // the buffer's only slot is taken
    goro::chan<int> witness(1);
    goro::signal::notify(full, {SIGUSR1});
    goro::signal::notify(witness, {SIGUSR1});

    send_to_self(SIGUSR1);
    EXPECT_EQ(receive_signal(witness), SIGUSR1);
    // stop waits for the delivery pass that reached the witness to finish, so `full` has
    // been offered the signal by now: a blocking send would never have let this test finish.
    goro::signal::stop(witness);
    EXPECT_EQ(full.size(), 1u);
    EXPECT_EQ(poll_channel(full), 0);
    EXPECT_EQ(poll_channel(full), std::nullopt);
    goro::signal::stop(full);
  });
}

TEST_P(Signal, StopRestoresPreviousHandler) {
  run([] {
    install_other_handler(SIGUSR2);
    other_handler_calls.store(0);
    goro::chan<int> first(1);
    goro::chan<int> second(1);
    goro::signal::notify(first, {SIGUSR2});
    goro::signal::notify(second, {SIGUSR2});
    EXPECT_FALSE(other_handler_installed(SIGUSR2));

    // One channel still watches: goro keeps the signal, and only that channel receives it.
    goro::signal::stop(first);
    EXPECT_FALSE(other_handler_installed(SIGUSR2));
    send_to_self(SIGUSR2);
    EXPECT_EQ(receive_signal(second), SIGUSR2);
    EXPECT_EQ(poll_channel(first), std::nullopt);
    EXPECT_EQ(other_handler_calls.load(), 0);

    // No channel watches: the previous handler is back and gets the next signal.
    goro::signal::stop(second);
    EXPECT_TRUE(other_handler_installed(SIGUSR2));
    send_to_self(SIGUSR2);
    goro_test::yield_until([] { return other_handler_calls.load() == 1; });
    EXPECT_EQ(poll_channel(second), std::nullopt);

    goro::signal::stop(second);  // a second stop does nothing
    EXPECT_TRUE(other_handler_installed(SIGUSR2));
    set_default(SIGUSR2);
  });
}

TEST_P(Signal, ResetGivesSigquitBackToItsOwner) {
  run([] {
    install_other_handler(SIGQUIT);
    other_handler_calls.store(0);
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGQUIT});
    send_to_self(SIGQUIT);
    EXPECT_EQ(receive_signal(c), SIGQUIT);
    EXPECT_EQ(other_handler_calls.load(), 0);

    goro::signal::reset({SIGQUIT});
    EXPECT_TRUE(other_handler_installed(SIGQUIT));
    send_to_self(SIGQUIT);
    goro_test::yield_until([] { return other_handler_calls.load() == 1; });
    EXPECT_EQ(poll_channel(c), std::nullopt);
    set_default(SIGQUIT);
  });
}

TEST_P(Signal, IgnoreSetsSigIgnAndResetUndoesIt) {
  run([] {
    EXPECT_FALSE(goro::signal::ignored(SIGUSR1));
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGUSR1});

    goro::signal::ignore({SIGUSR1});
    EXPECT_TRUE(goro::signal::ignored(SIGUSR1));
    EXPECT_EQ(current_action(SIGUSR1).sa_handler, SIG_IGN);
    // The kernel discards an ignored signal when it is sent, so nothing can arrive later.
    send_to_self(SIGUSR1);
    EXPECT_EQ(poll_channel(c), std::nullopt);

    goro::signal::reset({SIGUSR1});
    EXPECT_FALSE(goro::signal::ignored(SIGUSR1));
    EXPECT_TRUE(is_default(SIGUSR1));
  });
}

TEST_P(Signal, NotifyAfterIgnoreCatchesAgain) {
  run([] {
    goro::signal::ignore({SIGUSR2});
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGUSR2});
    EXPECT_FALSE(goro::signal::ignored(SIGUSR2));
    send_to_self(SIGUSR2);
    EXPECT_EQ(receive_signal(c), SIGUSR2);
    // Back to the disposition from before goro first changed it, not to SIG_IGN.
    goro::signal::stop(c);
    EXPECT_TRUE(is_default(SIGUSR2));
  });
}

TEST_P(Signal, ResetStopsDelivery) {
  run([] {
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGHUP, SIGUSR1});
    goro::signal::reset({SIGHUP});
    EXPECT_TRUE(is_default(SIGHUP));
    EXPECT_FALSE(is_default(SIGUSR1));

    send_to_self(SIGUSR1);
    EXPECT_EQ(receive_signal(c), SIGUSR1);

    goro::signal::reset();
    EXPECT_TRUE(is_default(SIGUSR1));
    goro::signal::reset({SIGWINCH});  // never changed: left alone
    EXPECT_TRUE(is_default(SIGWINCH));
  });
}

TEST_P(Signal, EmptyListWatchesEveryAllowedSignal) {
  run([] {
    struct sigaction segv_before = current_action(SIGSEGV);
    struct sigaction prof_before = current_action(SIGPROF);
    goro::chan<int> c(4);
    goro::signal::notify(c);
    send_to_self(SIGUSR2);
    EXPECT_EQ(receive_signal(c), SIGUSR2);
    send_to_self(SIGWINCH);
    EXPECT_EQ(receive_signal(c), SIGWINCH);
    send_to_self(SIGRTMIN + 1);
    EXPECT_EQ(receive_signal(c), SIGRTMIN + 1);

    EXPECT_EQ(current_action(SIGSEGV).sa_sigaction, segv_before.sa_sigaction);
    EXPECT_EQ(current_action(SIGPROF).sa_sigaction, prof_before.sa_sigaction);
    goro::signal::stop(c);
    EXPECT_TRUE(is_default(SIGUSR2));
    EXPECT_TRUE(is_default(SIGRTMIN + 1));
  });
}

TEST_P(Signal, NotifyContextCancelsOnSigterm) {
  run([] {
    auto [ctx, stop] = goro::signal::notify_context(goro::background(), {SIGTERM});
    EXPECT_FALSE(ctx.err());
    send_to_self(SIGTERM);
    bool done = false;
    goro::select(goro::on_recv(ctx.done(), [&](auto) { done = true; }),
                 goro::on_recv(goro::after(kDeliveryLimit), [](auto) {}));
    EXPECT_TRUE(done);
    EXPECT_EQ(ctx.err(), goro::context_errc::canceled);

    // Until stop, SIGTERM stays caught; afterwards it has its default action again.
    EXPECT_FALSE(is_default(SIGTERM));
    stop();
    EXPECT_TRUE(is_default(SIGTERM));
    goro_test::yield_until([] { return goro::num_goroutine() == 1; });
  });
}

TEST_P(Signal, NotifyContextStopCancels) {
  run([] {
    auto [ctx, stop] = goro::signal::notify_context(goro::background(), {SIGTERM});
    stop();
    EXPECT_FALSE(ctx.done().recv().has_value());
    EXPECT_EQ(ctx.err(), goro::context_errc::canceled);
    EXPECT_TRUE(is_default(SIGTERM));
    stop();  // safe to call again
    goro_test::yield_until([] { return goro::num_goroutine() == 1; });
  });
}

TEST_P(Signal, NotifyContextFollowsParent) {
  run([] {
    auto [parent, cancel_parent] = goro::with_cancel(goro::background());
    auto [ctx, stop] = goro::signal::notify_context(parent, {SIGTERM});
    cancel_parent();
    EXPECT_FALSE(ctx.done().recv().has_value());
    EXPECT_EQ(ctx.err(), goro::context_errc::canceled);
    stop();
    EXPECT_TRUE(is_default(SIGTERM));
    // The watching goroutine exits once ctx is done. An abandoned one would leak its closure.
    goro_test::yield_until([] { return goro::num_goroutine() == 1; });
  });
}

TEST_P(Signal, RejectsUncatchableAndReservedSignals) {
  run([] {
    goro::chan<int> c(1);
    auto notify_message = [&](int sig) {
      return invalid_argument_message([&] { goro::signal::notify(c, {sig}); });
    };
    EXPECT_NE(notify_message(SIGKILL).find("SIGKILL (signal 9) cannot be caught"),
              std::string::npos)
        << notify_message(SIGKILL);
    EXPECT_NE(notify_message(SIGSTOP).find("SIGSTOP"), std::string::npos);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPROF}) {
      std::string message = notify_message(sig);
      EXPECT_NE(message.find("goro::signal::notify: SIG"), std::string::npos) << message;
      EXPECT_NE(message.find("is reserved"), std::string::npos) << message;
    }
    EXPECT_NE(notify_message(32).find("glibc"), std::string::npos) << notify_message(32);
    for (int sig : {0, -1, 65}) {
      std::string message = notify_message(sig);
      EXPECT_NE(message.find("invalid signal number " + std::to_string(sig)), std::string::npos)
          << message;
    }

    // A list with one rejected signal changes nothing.
    invalid_argument_message([&] { goro::signal::notify(c, {SIGUSR1, SIGKILL}); });
    EXPECT_TRUE(is_default(SIGUSR1));

    std::string ignore_message =
        invalid_argument_message([] { goro::signal::ignore({SIGSTOP}); });
    EXPECT_NE(ignore_message.find("goro::signal::ignore: SIGSTOP"), std::string::npos)
        << ignore_message;
    invalid_argument_message([] { goro::signal::ignored(0); });
    invalid_argument_message([] { goro::signal::reset({65}); });
    EXPECT_FALSE(goro::signal::ignored(SIGKILL));
  });
}

TEST_P(Signal, NilChannelPanics) {
  run([] {
    EXPECT_THROW(goro::signal::notify(goro::chan<int>::nil(), {SIGUSR1}), goro::panic_error);
    EXPECT_TRUE(is_default(SIGUSR1));
  });
}

TEST_P(Signal, PlainThreadReceives) {
  run([] {
    goro::chan<int> c(1);
    std::optional<int> got;
    std::thread watcher([&] {
      goro::signal::notify(c, {SIGUSR1});
      // Sent to this plain thread itself: ThreadSanitizer runs a handler for a signal that a
      // thread sends itself before pthread_kill returns, while a process-directed signal that
      // lands on a thread running a goroutine may be dropped (see docs/diagnostics.md).
      ASSERT_EQ(::pthread_kill(::pthread_self(), SIGUSR1), 0);
      got = receive_signal(c);
      goro::signal::stop(c);
    });
    goro::blocking([&] { watcher.join(); });
    EXPECT_EQ(got, SIGUSR1);
    EXPECT_TRUE(is_default(SIGUSR1));
  });
}

TEST(SignalRuns, EndOfRunDropsChannels) {
  goro::chan<int> first_run_channel(1);
  goro::run(0, nullptr, [&] { goro::signal::notify(first_run_channel, {SIGUSR1}); });
  EXPECT_TRUE(is_default(SIGUSR1));

  goro::run(0, nullptr, [&] {
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGUSR1});
    send_to_self(SIGUSR1);
    EXPECT_EQ(receive_signal(c), SIGUSR1);
    goro::signal::stop(c);  // waits for the delivery pass to end
    EXPECT_EQ(first_run_channel.size(), 0u);
  });
  EXPECT_TRUE(is_default(SIGUSR1));
}

TEST(SignalRuns, IgnoreOutlivesRun) {
  goro::run(0, nullptr, [] { goro::signal::ignore({SIGUSR2}); });
  EXPECT_TRUE(goro::signal::ignored(SIGUSR2));
  goro::signal::reset({SIGUSR2});
  EXPECT_TRUE(is_default(SIGUSR2));
}

TEST(SignalRuns, NotifyOutsideRunPanics) {
  goro::chan<int> c(1);
  try {
    goro::signal::notify(c, {SIGUSR1});
    ADD_FAILURE() << "notify outside goro::run did not throw";
  } catch (const goro::panic_error& e) {
    EXPECT_NE(std::string(e.what()).find("outside goro::run"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(is_default(SIGUSR1));
}

TEST(SignalNames, ToStringIsGos) {
  EXPECT_EQ(goro::signal::to_string(SIGINT), "interrupt");
  EXPECT_EQ(goro::signal::to_string(SIGTERM), "terminated");
  EXPECT_EQ(goro::signal::to_string(SIGHUP), "hangup");
  EXPECT_EQ(goro::signal::to_string(SIGQUIT), "quit");
  EXPECT_EQ(goro::signal::to_string(SIGUSR1), "user defined signal 1");
  EXPECT_EQ(goro::signal::to_string(SIGCHLD), "child exited");
  EXPECT_EQ(goro::signal::to_string(SIGTRAP), "trace/breakpoint trap");
  EXPECT_EQ(goro::signal::to_string(SIGXCPU), "CPU time limit exceeded");
  EXPECT_EQ(goro::signal::to_string(SIGIO), "I/O possible");
  EXPECT_EQ(goro::signal::to_string(SIGRTMIN), "signal 34");
  EXPECT_EQ(goro::signal::to_string(0), "signal 0");
}

// --- Child processes ----------------------------------------------------------------------

// Waits until every thread of process pid except thread `skip_tid` sleeps (state S in
// /proc/PID/task/TID/stat), so that its Ms have gone idle and run checkdead. Returns false if
// that takes longer than `limit` or the process is gone.
bool wait_until_asleep(pid_t pid, pid_t skip_tid = 0, std::chrono::seconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  while (std::chrono::steady_clock::now() < deadline) {
    DIR* dir = ::opendir(tasks.c_str());
    if (dir == nullptr) return false;
    bool all_asleep = true;
    int threads = 0;
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.' || std::stoi(entry->d_name) == skip_tid) continue;
      std::ifstream stat(tasks + "/" + entry->d_name + "/stat");
      std::string line;
      std::getline(stat, line);
      // The state follows the command name, which is in parentheses.
      auto close = line.rfind(')');
      if (close == std::string::npos || close + 2 >= line.size()) continue;
      ++threads;
      char state = line[close + 2];
      if (state == 'Z' || state == 'X') {
        ::closedir(dir);
        return false;
      }
      if (state != 'S') all_asleep = false;
    }
    ::closedir(dir);
    if (threads > 0 && all_asleep) return true;
    // Polling the kernel's view of thread states: there is nothing to wait on.
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// Starts a scenario that prints "ready" and then waits for sig, and sends it sig once all its
// threads sleep. Returns how the child ended.
goro_test::child_result signal_child_when_asleep(const std::string& scenario, int sig) {
  goro_test::child_process child(scenario);
  if (!child.wait_for_stdout("ready", 20s)) {
    ADD_FAILURE() << scenario << " never printed ready";
    return child.wait(1s);
  }
  if (!wait_until_asleep(child.pid())) {
    ADD_FAILURE() << scenario << " did not go idle, or exited, before it got the signal";
    return child.wait(1s);
  }
  EXPECT_EQ(::kill(child.pid(), sig), 0);
  return child.wait(20s);
}

// Returns the number of this process's threads named `name` (/proc/self/task/TID/comm).
int count_threads_named(const std::string& name) {
  int threads = 0;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + entry->d_name + "/comm");
    std::string thread_name;
    std::getline(comm, thread_name);
    if (thread_name == name) ++threads;
  }
  ::closedir(dir);
  return threads;
}

GORO_CHILD_SCENARIO(signal_nothing_installed) {
  return goro::run(0, nullptr, [] {
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) {
      struct sigaction action {};
      ::sigaction(sig, nullptr, &action);
      if ((action.sa_flags & SA_SIGINFO) != 0 || action.sa_handler != SIG_DFL) {
        std::printf("signal %d has a handler before notify\n", sig);
        return 3;
      }
    }
    // SIGQUIT is the exception: the runtime's goroutine dump handler owns it from boot.
    struct sigaction quit {};
    ::sigaction(SIGQUIT, nullptr, &quit);
    if ((quit.sa_flags & SA_SIGINFO) == 0) {
      std::printf("SIGQUIT has no dump handler\n");
      return 5;
    }
    int before = count_threads_named("goro-signal");
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGUSR1});
    int after = count_threads_named("goro-signal");
    std::printf("goro-signal threads before notify: %d, after: %d\n", before, after);
    return before == 0 && after == 1 ? 0 : 4;
  });
}

TEST(SignalChild, NothingInstalledBeforeNotify) {
  auto r = goro_test::run_child("signal_nothing_installed");
  EXPECT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 0) << goro_test::describe(r);
}

GORO_CHILD_SCENARIO(signal_default_sigterm) {
  return goro::run(0, nullptr, [] {
    std::printf("ready\n");
    std::fflush(stdout);
    goro::blocking([] {
      for (;;) ::pause();
    });
  });
}

TEST(SignalChild, WithoutNotifySigtermKills) {
  goro_test::child_process child("signal_default_sigterm");
  ASSERT_TRUE(child.wait_for_stdout("ready", 20s)) << goro_test::describe(child.wait(1s));
  ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
  auto r = child.wait(20s);
  EXPECT_TRUE(r.signaled) << goro_test::describe(r);
  EXPECT_EQ(r.term_signal, SIGTERM) << goro_test::describe(r);
}

// A server-shaped program: a worker runs until main closes `quit` on SIGTERM.
GORO_CHILD_SCENARIO(signal_graceful_sigterm) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> sigs(1);
    goro::signal::notify(sigs, {SIGTERM});
    goro::chan<int> quit;
    goro::wait_group workers;
    workers.add(1);
    goro::go([&] {
      quit.recv();
      std::printf("worker stopped\n");
      workers.done();
    });
    std::printf("ready\n");
    std::fflush(stdout);

    int sig = *sigs.recv();
    std::printf("received %s\n", goro::signal::to_string(sig).c_str());
    quit.close();
    workers.wait();
    return 0;
  });
}

TEST(SignalChild, NotifiedSigtermShutsDownCleanly) {
  auto r = signal_child_when_asleep("signal_graceful_sigterm", SIGTERM);
  EXPECT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 0) << goro_test::describe(r);
  EXPECT_NE(r.out.find("received terminated\n"), std::string::npos) << goro_test::describe(r);
  EXPECT_NE(r.out.find("worker stopped\n"), std::string::npos) << goro_test::describe(r);
}

GORO_CHILD_SCENARIO(signal_wait_watched) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGUSR1});
    std::printf("ready\n");
    std::fflush(stdout);
    std::printf("received %s\n", goro::signal::to_string(*c.recv()).c_str());
    return 0;
  });
}

TEST(SignalChild, WaitOnWatchedSignalIsNotDeadlock) {
  auto r = signal_child_when_asleep("signal_wait_watched", SIGUSR1);
  EXPECT_TRUE(r.exited) << goro_test::describe(r);
  EXPECT_EQ(r.exit_status, 0) << goro_test::describe(r);
  EXPECT_NE(r.out.find("received user defined signal 1\n"), std::string::npos)
      << goro_test::describe(r);
}

GORO_CHILD_SCENARIO(signal_wait_unwatched) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> c(1);
    c.recv();
    return 0;
  });
}

GORO_CHILD_SCENARIO(signal_wait_after_stop) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGUSR1});
    goro::signal::stop(c);
    c.recv();
    return 0;
  });
}

// A plain thread stops the last watch while every M is idle: an M must wake to report.
GORO_CHILD_SCENARIO(signal_stop_from_plain_thread) {
  return goro::run(0, nullptr, [] {
    goro::chan<int> c(1);
    goro::signal::notify(c, {SIGUSR1});
    std::thread stopper([c] {
      if (!wait_until_asleep(::getpid(), static_cast<pid_t>(::gettid()))) std::_Exit(5);
      goro::signal::stop(c);
    });
    stopper.detach();
    c.recv();
    return 0;
  });
}

TEST(SignalChild, WaitWithoutWatchedSignalIsDeadlock) {
  for (const char* scenario :
       {"signal_wait_unwatched", "signal_wait_after_stop", "signal_stop_from_plain_thread"}) {
    auto r = goro_test::run_child(scenario, {"GOTRACEBACK"});
    EXPECT_TRUE(r.exited) << scenario << ": " << goro_test::describe(r);
    EXPECT_EQ(r.exit_status, 2) << scenario << ": " << goro_test::describe(r);
    EXPECT_NE(r.err.find("fatal error: all goroutines are asleep - deadlock!"), std::string::npos)
        << scenario << ": " << goro_test::describe(r);
  }
}

}  // namespace
