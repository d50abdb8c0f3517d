// Child-process scenarios for tests whose subject is a process exit: fatal errors, panics,
// stack overflows, trace output on stderr, closed standard descriptors, idle CPU use.
//
// A test binary registers scenarios with GORO_CHILD_SCENARIO(name) { ... return status; }.
// The parent starts a child_process, which re-executes the test binary (/proc/self/exe) with
// --gtest_filter selecting the hidden test DISABLED_ChildScenario.Run and the environment
// variable GORO_TEST_SCENARIO naming the scenario. That test runs the scenario and exits the
// process with the scenario's return value, so the parent sees the status the scenario (or
// the runtime, for fatal errors) chose. The parent captures stdout and stderr through pipes
// and kills the child if it outlives its timeout.
//
// gtest writes its own progress lines to the child's stdout before the scenario starts, so
// checks on stdout should look for the scenario's own lines rather than compare all of it.
// stderr carries only what the scenario and the runtime write.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

extern char** environ;

namespace goro_test {

// Sets an environment variable for the lifetime of the object and then restores it. A null
// or empty value unsets the variable. goro::run reads GODEBUG, GOMAXPROCS and GOTRACEBACK
// when it starts, so in-process tests set them this way around a run.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    if (old != nullptr) old_ = old;
    had_old_ = old != nullptr;
    if (value == nullptr || *value == '\0') {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;
  ~scoped_env() {
    if (had_old_) {
      ::setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::string old_;
  bool had_old_ = false;
};

// Name of the environment variable that selects the scenario in the child.
inline constexpr const char* kScenarioVariable = "GORO_TEST_SCENARIO";

using scenario_fn = int (*)();

inline std::map<std::string, scenario_fn>& scenario_registry() {
  static std::map<std::string, scenario_fn> registry;
  return registry;
}

struct scenario_registration {
  scenario_registration(const char* name, scenario_fn fn) { scenario_registry()[name] = fn; }
};

// How a child ended and what it wrote.
struct child_result {
  bool exited = false;     // ended through exit(); exit_status is valid
  int exit_status = -1;
  bool signaled = false;   // killed by a signal; term_signal is valid
  int term_signal = 0;
  bool timed_out = false;  // killed by child_process after its timeout
  std::string out;
  std::string err;
};

// Readable summary for assertion messages.
inline std::string describe(const child_result& r) {
  std::string s;
  if (r.timed_out) s += "timed out and was killed; ";
  if (r.exited) s += "exit status " + std::to_string(r.exit_status) + "; ";
  if (r.signaled) s += "killed by signal " + std::to_string(r.term_signal) + "; ";
  s += "stdout:\n" + r.out + "\nstderr:\n" + r.err;
  return s;
}

// Selects the constructor of child_process that runs another program.
struct program_tag {};

// A running child that executes one registered scenario, or another program.
class child_process {
 public:
  // Starts the scenario with the parent's environment, where each "KEY=VALUE" entry of `env`
  // replaces or adds a variable and each bare "KEY" entry removes one.
  explicit child_process(const std::string& scenario, const std::vector<std::string>& env = {}) {
    spawn({"/proc/self/exe", "--gtest_filter=DISABLED_ChildScenario.Run",
           "--gtest_also_run_disabled_tests"},
          build_environment(scenario, env));
  }

  // Starts the program at path args[0] with arguments args[1...], and the environment
  // changed by `env` as above.
  child_process(program_tag, const std::vector<std::string>& args,
                const std::vector<std::string>& env = {}) {
    spawn(args, build_environment({}, env));
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }

  pid_t pid() const { return pid_; }

  // Reads the child's output until stdout contains `text`. Returns false if the child closed
  // stdout or the timeout passed first.
  bool wait_for_stdout(std::string_view text, std::chrono::milliseconds timeout) {
    return wait_for(result_.out, out_fd_, text, timeout);
  }

  // Reads the child's output until stderr contains `text`, as wait_for_stdout does for stdout.
  bool wait_for_stderr(std::string_view text, std::chrono::milliseconds timeout) {
    return wait_for(result_.err, err_fd_, text, timeout);
  }

  // What the child has written to stdout so far, as read by wait_for_stdout.
  const std::string& stdout_so_far() const { return result_.out; }

  // Kills the child with SIGKILL (it is reaped by wait() or the destructor).
  void kill() {
    if (pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);
  }

  // Collects all output and the exit status; kills the child if it is still running after
  // `timeout`.
  child_result wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out_fd_ >= 0 || err_fd_ >= 0) {
      if (!pump(deadline)) {
        result_.timed_out = true;
        ::kill(pid_, SIGKILL);
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while ((out_fd_ >= 0 || err_fd_ >= 0) && pump(deadline)) {
        }
        break;
      }
    }
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    if (WIFEXITED(status)) {
      result_.exited = true;
      result_.exit_status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result_.signaled = true;
      result_.term_signal = WTERMSIG(status);
    }
    return result_;
  }

 private:
  static std::vector<std::string> build_environment(const std::string& scenario,
                                                    const std::vector<std::string>& env) {
    std::map<std::string, std::string> vars;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      vars[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
    for (const auto& kv : env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos) {
        vars.erase(kv);
      } else {
        vars[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    if (!scenario.empty()) vars[kScenarioVariable] = scenario;
    std::vector<std::string> out;
    for (auto& [k, v] : vars) out.push_back(k + "=" + v);
    return out;
  }

  // Starts args[0] with stdout and stderr on pipes.
  void spawn(std::vector<std::string> args, std::vector<std::string> env_strings) {
    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("child_process: pipe2 failed: ") + std::strerror(errno));
    }

    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // posix_spawn, not fork: it does not copy the parent's mappings, which fails with ENOMEM
    // once a sanitized test process has reserved many goroutine stacks.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      throw std::runtime_error("child_process: posix_spawn of " + args[0] +
                               " failed: " + std::strerror(rc));
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    out_fd_ = out_pipe[0];
    err_fd_ = err_pipe[0];
  }

  // Reads both pipes until `seen` (the text read so far from pipe `fd`) contains `text`.
  bool wait_for(const std::string& seen, const int& fd, std::string_view text,
                std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (seen.find(text) == std::string::npos) {
      if (fd < 0) return false;
      if (!pump(deadline)) return false;
    }
    return true;
  }

  // Waits for output on either pipe and appends it. Returns false on timeout.
  bool pump(std::chrono::steady_clock::time_point deadline) {
    pollfd fds[2];
    int n = 0;
    if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
    if (n == 0) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    int ready = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) return true;
    if (ready <= 0) return false;
    for (int i = 0; i < n; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[4096];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (fds[i].fd == out_fd_ ? result_.out : result_.err).append(buf, static_cast<size_t>(got));
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      ::close(fds[i].fd);
      if (fds[i].fd == out_fd_) out_fd_ = -1;
      else err_fd_ = -1;
    }
    return true;
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  int out_fd_ = -1;
  int err_fd_ = -1;
  child_result result_;
};

// Runs a scenario to completion (or kills it after `timeout`) and returns how it ended.
inline child_result run_child(const std::string& scenario, const std::vector<std::string>& env = {},
                              std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  child_process child(scenario, env);
  return child.wait(timeout);
}

}  // namespace goro_test

// Registers `int scenario_<name>()` as a child scenario named #name.
#define GORO_CHILD_SCENARIO(name)                                                    \
  static int scenario_##name();                                                      \
  static const ::goro_test::scenario_registration scenario_registration_##name{      \
      #name, &scenario_##name};                                                      \
  static int scenario_##name()

// The hidden entry point of child processes: runs the scenario named by GORO_TEST_SCENARIO
// and exits with its result, without returning to gtest (whose exit code would hide it).
TEST(DISABLED_ChildScenario, Run) {
  const char* name = std::getenv(goro_test::kScenarioVariable);
  ASSERT_NE(name, nullptr) << goro_test::kScenarioVariable << " is not set";
  auto& registry = goro_test::scenario_registry();
  auto it = registry.find(name);
  ASSERT_NE(it, registry.end()) << "no child scenario named " << name;
  int status = it->second();
  std::fflush(nullptr);
  ::_exit(status);
}
