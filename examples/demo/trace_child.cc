#include "trace_child.h"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace demo {

namespace {

// The environment with GODEBUG replaced by `godebug`.
std::vector<std::string> environment_with_godebug(const char* godebug) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::string_view(*entry).starts_with("GODEBUG=")) continue;
    env.emplace_back(*entry);
  }
  env.push_back(std::string("GODEBUG=") + godebug);
  return env;
}

}  // namespace

std::string run_self_with_godebug(const char* argument, const char* godebug, int* status) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2 for the child's output");
  }

  // The child writes both stdout and stderr into the one pipe, so the traces (stderr) and
  // the program's own lines (stdout) arrive in a single stream.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);

  std::vector<std::string> env = environment_with_godebug(godebug);
  std::vector<char*> envp;
  for (std::string& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  std::string self = "/proc/self/exe";
  std::string arg = argument;
  char* argv[] = {self.data(), arg.data(), nullptr};

  pid_t pid;
  int err = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (err != 0) {
    ::close(pipe_fds[0]);
    throw std::system_error(err, std::generic_category(), "posix_spawn of /proc/self/exe");
  }

  std::string output;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n > 0) {
      output.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(pipe_fds[0]);

  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  *status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  return output;
}

}  // namespace demo
