// Argument parsing and result reporting for every C++ benchmark program, goro's and
// Boost.Fiber's alike. Like the Go peers, a program reads the size N from its first
// argument and prints the one result line that bench/scoreboard parses:
//
//   <workload> <N> <seconds> <check-value>
//
// A program whose check fails still prints its line, explains the failure on stderr and
// returns exit status 1.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdarg>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace bench {

// Returns the workload size from argv[1], or default_n when no argument is given. Exits with
// status 2 when the argument is not a positive integer.
inline std::int64_t size_from_args(int argc, char** argv, std::int64_t default_n) {
  if (argc < 2) {
    return default_n;
  }
  std::string_view text = argv[1];
  std::int64_t n = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc{} || end != text.data() + text.size() || n <= 0) {
    std::fprintf(stderr, "invalid size \"%s\": want a positive integer, e.g. %lld\n", argv[1],
                 static_cast<long long>(default_n));
    std::exit(2);
  }
  return n;
}

// Wall-clock time since construction, on the monotonic clock.
class stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Prints the result line with got as the check value. Returns 0 when got equals want, else
// explains the failure on stderr and returns 1, for the program's exit status.
inline int check(const char* workload, std::int64_t n, double seconds, std::int64_t got,
                 std::int64_t want) {
  std::printf("%s %lld %.6f %lld\n", workload, static_cast<long long>(n), seconds,
              static_cast<long long>(got));
  std::fflush(stdout);
  if (got != want) {
    std::fprintf(stderr, "%s: check failed for N=%lld: got %lld, want %lld\n", workload,
                 static_cast<long long>(n), static_cast<long long>(got),
                 static_cast<long long>(want));
    return 1;
  }
  return 0;
}

// Prints the result line of a workload whose value is a measurement, not a check.
inline int measure(const char* workload, std::int64_t n, double seconds, double value) {
  std::printf("%s %lld %.6f %.1f\n", workload, static_cast<long long>(n), seconds, value);
  std::fflush(stdout);
  return 0;
}

// Reports a failed invariant of workload on stderr, printf-style; returns 1, for the exit
// status.
[[gnu::format(printf, 2, 3)]] inline int fail(const char* workload, const char* format, ...) {
  std::fprintf(stderr, "%s: ", workload);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  return 1;
}

// Returns the process's resident set size in bytes, read from /proc/self/statm; exits with
// status 1 when the file cannot be read.
inline std::int64_t resident_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  long long size_pages = 0;
  long long resident_pages = 0;
  int fields = statm ? std::fscanf(statm, "%lld %lld", &size_pages, &resident_pages) : 0;
  if (statm) {
    std::fclose(statm);
  }
  if (fields != 2) {
    std::fprintf(stderr, "reading /proc/self/statm failed: %s\n",
                 statm ? "unexpected format" : std::strerror(errno));
    std::exit(1);
  }
  return resident_pages * sysconf(_SC_PAGESIZE);
}

// Returns whether n is a power of base (base^0 = 1 included).
inline bool is_power_of(std::int64_t n, std::int64_t base) {
  while (n > 1 && n % base == 0) {
    n /= base;
  }
  return n == 1;
}

}  // namespace bench
