// Tests for what keeps goro's start-up cheap: direct system calls (raw_syscall.h), profile and
// trace files written without iostreams (output_sink.h), a boot that creates no thread, and
// the static libstdc++ link that executables get from goro::goro (cmake/static_runtime.cmake).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "child_process.h"
#include "goro/goro.hpp"
#include "runtime/os/raw_syscall.h"
#include "runtime/trace/output_sink.h"
#include "temp_dir.h"

namespace {

using goro::rt::file_sink;
using goro::rt::stream_sink;
namespace os = goro::rt::os;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// --- raw_syscall ----------------------------------------------------------------------------

TEST(RawSyscall, GetpidMatchesLibc) { EXPECT_EQ(os::raw_syscall(SYS_getpid), ::getpid()); }

TEST(RawSyscall, FailureReturnsNegatedErrno) {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::close(fd), 0);

  errno = 12345;
  EXPECT_EQ(os::raw_syscall(SYS_fcntl, fd, F_GETFD), -EBADF);
  EXPECT_EQ(errno, 12345) << "raw_syscall must leave errno alone";
}

TEST(RawSyscall, SixArgumentMmapRoundTrip) {
  const std::size_t length = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  long mapped = os::raw_mmap(nullptr, length, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_GT(mapped, 0) << "mmap failed with errno " << -mapped;

  auto* bytes = reinterpret_cast<unsigned char*>(mapped);
  EXPECT_EQ(bytes[0], 0);
  bytes[length - 1] = 0xa5;
  EXPECT_EQ(bytes[length - 1], 0xa5);

  EXPECT_EQ(os::raw_madvise(bytes, length, MADV_DONTNEED), 0);
  EXPECT_EQ(bytes[length - 1], 0) << "MADV_DONTNEED on a private anonymous page refills zeros";
  EXPECT_EQ(os::raw_munmap(bytes, length), 0);
}

TEST(RawSyscall, MmapErrorsAreNegative) {
  EXPECT_EQ(os::raw_mmap(nullptr, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), -EINVAL);
  EXPECT_EQ(os::raw_munmap(reinterpret_cast<void*>(1), 4096), -EINVAL);
}

// --- output sinks ---------------------------------------------------------------------------

TEST(FileSink, WritesAndTruncates) {
  goro_test::temp_dir dir;
  const std::string path = dir.path() + "/out.bin";
  {
    std::ofstream old(path);
    old << "an older and much longer content";
  }

  int error = 0;
  auto sink = file_sink::create(path, error);
  ASSERT_NE(sink, nullptr) << std::strerror(error);
  const std::string text("first\0second", 12);
  EXPECT_TRUE(sink->write(text.data(), 6));
  EXPECT_TRUE(sink->write(text.data() + 6, text.size() - 6));
  EXPECT_TRUE(sink->finish());
  EXPECT_EQ(read_file(path), text);
}

TEST(FileSink, MissingDirectoryFails) {
  int error = 0;
  auto sink = file_sink::create("/nonexistent-goro-directory/out.bin", error);
  EXPECT_EQ(sink, nullptr);
  EXPECT_EQ(error, ENOENT);
}

TEST(FileSink, FullDeviceFails) {
  int error = 0;
  auto sink = file_sink::create("/dev/full", error);
  ASSERT_NE(sink, nullptr) << std::strerror(error);
  const char byte = 'x';
  EXPECT_FALSE(sink->write(&byte, 1));
  EXPECT_FALSE(sink->write(&byte, 1)) << "a failed sink stays failed";
  EXPECT_FALSE(sink->finish());
}

TEST(StreamSink, ReportsStreamState) {
  std::ostringstream good;
  stream_sink to_good(good);
  EXPECT_TRUE(to_good.write("abc", 3));
  EXPECT_TRUE(to_good.finish());
  EXPECT_EQ(good.str(), "abc");

  std::ostringstream bad;
  bad.setstate(std::ios::badbit);
  stream_sink to_bad(bad);
  EXPECT_FALSE(to_bad.write("abc", 3));
  EXPECT_FALSE(to_bad.finish());
}

GORO_CHILD_SCENARIO(startup_empty_main) {
  return goro::run(0, nullptr, [] {});
}

TEST(GorotraceSink, WriteFailureIsReported) {
  auto result = goro_test::run_child("startup_empty_main", {"GOROTRACE=/dev/full"});
  ASSERT_TRUE(result.exited) << goro_test::describe(result);
  EXPECT_EQ(result.exit_status, 0) << goro_test::describe(result);
  EXPECT_NE(result.err.find("goro: writing the execution trace to /dev/full failed"),
            std::string::npos)
      << result.err;
}

TEST(GorocpuprofileSink, WriteFailureIsReported) {
  auto result = goro_test::run_child("startup_empty_main", {"GOROCPUPROFILE=/dev/full"});
  ASSERT_TRUE(result.exited) << goro_test::describe(result);
  EXPECT_EQ(result.exit_status, 0) << goro_test::describe(result);
  EXPECT_NE(result.err.find("goro: GOROCPUPROFILE: pprof: writing the CPU profile to the file "
                            "/dev/full failed"),
            std::string::npos)
      << result.err;
}

// --- no thread at start-up --------------------------------------------------------------------

// Returns the "Threads:" count of /proc/self/status, or -1 if it cannot be read.
int thread_count() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

GORO_CHILD_SCENARIO(startup_thread_count) {
  int before = thread_count();
  int inside = -1;
  int status = goro::run(0, nullptr, [&inside] { inside = thread_count(); });
  std::printf("threads before %d inside %d\n", before, inside);
  return status;
}

TEST(Startup, EmptyRunCreatesNoThread) {
  // Without GOMAXPROCS, and with GOMAXPROCS above 1: neither starts an M or sysmon by itself.
  for (const char* procs : {"", "GOMAXPROCS=4"}) {
    std::vector<std::string> env;
    if (*procs != '\0') env.push_back(procs);
    auto result = goro_test::run_child("startup_thread_count", env);
    ASSERT_TRUE(result.exited) << goro_test::describe(result);
    ASSERT_EQ(result.exit_status, 0) << goro_test::describe(result);
    EXPECT_NE(result.out.find("threads before 1 inside 1\n"), std::string::npos)
        << procs << "\n" << result.out;
  }
}

// --- static libstdc++ -----------------------------------------------------------------------

bool libstdcxx_so_loaded() {
  bool found = false;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        if (info->dlpi_name != nullptr && std::strstr(info->dlpi_name, "libstdc++.so") != nullptr) {
          *static_cast<bool*>(data) = true;
        }
        return 0;
      },
      &found);
  return found;
}

TEST(StaticLibstdcxx, MatchesBuildOption) {
#if GORO_TEST_STATIC_LIBSTDCXX
  EXPECT_FALSE(libstdcxx_so_loaded())
      << "GORO_STATIC_LIBSTDCXX is on, but this test program loaded libstdc++.so";
#else
  EXPECT_TRUE(libstdcxx_so_loaded())
      << "GORO_STATIC_LIBSTDCXX is off (or a sanitizer build), but libstdc++.so is not loaded";
#endif
}

}  // namespace
