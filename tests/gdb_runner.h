// Running gdb from tests: run a shell command and collect its output, check that gdb is
// installed, and wait for a child's thread to enter read(2) before attaching to it.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace goro_test {

// True once a thread of `pid` is inside read(2) (syscall 0 on x86-64, 63 on AArch64) on fd.
// /proc/<pid>/task/<tid>/syscall gives the number and the arguments in hexadecimal.
inline bool thread_in_read(pid_t pid, int fd) {
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%x ", fd);
#if defined(__aarch64__)
  const std::string prefix = std::string("63 ") + hex;
#else
  const std::string prefix = std::string("0 ") + hex;
#endif
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::ifstream in(task.path() / "syscall");
    std::string line;
    std::getline(in, line);
    if (line.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

inline std::string run_command(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  ::pclose(pipe);
  return output;
}

inline bool have_gdb() { return run_command("command -v gdb").find("gdb") != std::string::npos; }

}  // namespace goro_test
