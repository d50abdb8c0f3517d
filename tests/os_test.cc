// Tests for the Linux system interface under src/runtime/os: kernel text files, cgroup CPU
// limits and the default GOMAXPROCS, affinity, VM limits, auxv, CPU features, checkfds,
// futexes and clocks, and the runtime hash.
//
// File readers run against fake /proc and /sys trees built in a temporary directory. Cases
// that exit the process (checkfds failures, the CPU level check) run in a forked child whose
// exit status and stderr the parent inspects.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/os/auxv.h"
#include "runtime/os/cgroup_cpu.h"
#include "runtime/os/checkfds.h"
#include "runtime/os/cpu_count.h"
#include "runtime/os/cpu_features.h"
#include "runtime/os/futex.h"
#include "runtime/os/hash.h"
#include "runtime/os/kernel_text.h"
#include "runtime/os/vm_limits.h"

namespace os = goro::rt::os;
namespace fs = std::filesystem;

// Counts operator new calls, to check that start-up readers do not allocate.
static std::atomic<std::size_t> g_allocations{0};

// GCC flags free() on memory from operator new once both are inlined; here they pair up.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

// A temporary directory that replaces "/" for the file readers.
class fake_root {
 public:
  fake_root() {
    std::string pattern = (fs::temp_directory_path() / "goro_os_test_XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    const char* made = mkdtemp(buffer.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~fake_root() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fake_root(const fake_root&) = delete;
  fake_root& operator=(const fake_root&) = delete;

  // Writes `content` to <root><relative>, creating directories on the way.
  void write(const std::string& relative, const std::string& content) const {
    fs::path file = path_ + relative;
    fs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out << content;
  }

  const char* c_str() const { return path_.c_str(); }

 private:
  std::string path_;
};

// Result of running a function in a forked child.
struct child_result {
  int exit_status = -1;  // -1 if the child did not exit normally
  std::string stderr_text;
};

// Runs `body` in a forked child whose fd 2 is a pipe; the child exits with body's return
// value unless body exits first.
template <class Body>
child_result run_in_child(Body body) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], 2);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    _exit(body());
  }
  close(pipe_fds[1]);
  child_result result;
  char buffer[512];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof buffer)) > 0) result.stderr_text.append(buffer, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_status = WEXITSTATUS(status);
  return result;
}

// mountinfo lines for the common layouts.
constexpr const char* kRootLine =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n";
constexpr const char* kProcLine = "23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n";
constexpr const char* kCgroup2Line =
    "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";
constexpr const char* kCpuV1Line =
    "35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup "
    "cgroup rw,cpu,cpuacct\n";
constexpr const char* kMemoryV1Line =
    "36 30 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup "
    "cgroup rw,memory\n";

// Builds a cgroup v2 tree with the process in /app and cpu.max = `cpu_max`.
void write_v2_tree(const fake_root& root, const std::string& cpu_max) {
  root.write("/proc/self/cgroup", "0::/app\n");
  root.write("/proc/self/mountinfo", std::string(kRootLine) + kProcLine + kCgroup2Line);
  root.write("/sys/fs/cgroup/app/cpu.max", cpu_max);
}

// Builds a cgroup v1 tree with the process in /docker/abc of the cpu,cpuacct hierarchy.
void write_v1_tree(const fake_root& root, const std::string& quota, const std::string& period) {
  root.write("/proc/self/cgroup",
             "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n");
  root.write("/proc/self/mountinfo",
             std::string(kRootLine) + kProcLine + kMemoryV1Line + kCpuV1Line);
  root.write("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", quota);
  root.write("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", period);
}

// Checks that the tree under `root` yields a CPU limit of `cpus`.
void expect_cpu_limit(const fake_root& root, double cpus) {
  os::cgroup_cpu_limit limit = os::read_cgroup_cpu_limit(root.c_str());
  EXPECT_TRUE(limit.limited) << "expected a limit of " << cpus << " CPUs";
  EXPECT_DOUBLE_EQ(limit.cpus, cpus);
}

std::string cgroup_directory(const fake_root& root) {
  os::cgroup_cpu_location location;
  if (!os::find_cgroup_cpu(root.c_str(), &location)) return "<none>";
  return location.directory;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// kernel_text

TEST(KernelText, JoinPathDropsRootSlashes) {
  char out[64];
  EXPECT_EQ(os::join_path(out, sizeof out, "/", "/proc/x"), 7);
  EXPECT_STREQ(out, "/proc/x");
  EXPECT_EQ(os::join_path(out, sizeof out, "/tmp/r//", "/proc/x"), 13);
  EXPECT_STREQ(out, "/tmp/r/proc/x");
  EXPECT_EQ(os::join_path(out, sizeof out, "", "/a"), 2);
  EXPECT_STREQ(out, "/a");
  EXPECT_EQ(os::join_path(out, 8, "/tmp", "/abcd"), -1) << "9 bytes with NUL do not fit in 8";
}

TEST(KernelText, ParseInt64Table) {
  struct test_case {
    const char* text;
    bool ok;
    std::int64_t value;
  };
  const test_case cases[] = {
      {"0", true, 0},
      {"42", true, 42},
      {"-1", true, -1},
      {"9223372036854775807", true, INT64_MAX},
      {"-9223372036854775808", true, INT64_MIN},
      {"9223372036854775808", false, 0},
      {"-9223372036854775809", false, 0},
      {"", false, 0},
      {"-", false, 0},
      {"+1", false, 0},
      {" 1", false, 0},
      {"1 ", false, 0},
      {"12a", false, 0},
  };
  for (const test_case& c : cases) {
    std::int64_t value = 12345;
    EXPECT_EQ(os::parse_int64(c.text, &value), c.ok) << "text \"" << c.text << "\"";
    if (c.ok) {
      EXPECT_EQ(value, c.value) << "text \"" << c.text << "\"";
    }
  }
}

TEST(KernelText, ReadSmallFileLimits) {
  fake_root root;
  root.write("/f", "12345\n");
  char buffer[8];
  EXPECT_EQ(os::read_small_file(root.c_str(), "/f", buffer, sizeof buffer), 6);
  EXPECT_STREQ(buffer, "12345\n");

  root.write("/big", "1234567");  // fills all 7 usable bytes: cannot tell it from larger
  EXPECT_EQ(os::read_small_file(root.c_str(), "/big", buffer, sizeof buffer), -1);
  EXPECT_EQ(os::read_small_file(root.c_str(), "/missing", buffer, sizeof buffer), -1);
}

TEST(KernelText, LineBlocksKeepLinesWhole) {
  fake_root root;
  std::string text;
  for (int i = 0; i < 200; ++i) text += "line " + std::to_string(i) + "\n";
  text += "last without newline";
  root.write("/lines", text);

  int fd = os::open_under(root.c_str(), "/lines");
  ASSERT_GE(fd, 0);
  char buffer[64];  // many blocks, each cut at a line end
  os::line_block_reader reader(fd, buffer, sizeof buffer);
  std::string joined;
  std::string_view block;
  int blocks = 0;
  while (reader.next(&block)) {
    ++blocks;
    ASSERT_FALSE(block.empty());
    bool at_end = joined.size() + block.size() == text.size();
    if (!at_end) {
      EXPECT_EQ(block.back(), '\n') << "block " << blocks << " ends mid-line";
    }
    joined.append(block);
  }
  close(fd);
  EXPECT_FALSE(reader.failed());
  EXPECT_EQ(reader.skipped_lines(), 0u);
  EXPECT_GT(blocks, 10);
  EXPECT_EQ(joined, text);
}

TEST(KernelText, LineBlocksSkipOverlongLines) {
  fake_root root;
  std::string long_line(300, 'x');
  root.write("/lines", "short\n" + long_line + "\nafter\n" + long_line);

  int fd = os::open_under(root.c_str(), "/lines");
  ASSERT_GE(fd, 0);
  char buffer[64];
  os::line_block_reader reader(fd, buffer, sizeof buffer);
  std::string joined;
  std::string_view block;
  while (reader.next(&block)) joined.append(block);
  close(fd);
  EXPECT_EQ(joined, "short\nafter\n");
  EXPECT_EQ(reader.skipped_lines(), 2u);
  EXPECT_FALSE(reader.failed());
}

// ---------------------------------------------------------------------------------------------
// cgroup CPU limit and default GOMAXPROCS

TEST(CgroupCpu, V2Quotas) {
  struct test_case {
    const char* cpu_max;
    bool limited;
    double cpus;
    int gomaxprocs_on_8;
  };
  const test_case cases[] = {
      {"150000 100000\n", true, 1.5, 2},
      {"50000 100000\n", true, 0.5, 2},
      {"250000 100000\n", true, 2.5, 3},
      {"300000 100000\n", true, 3.0, 3},
      {"1600000 100000\n", true, 16.0, 8},
      {"max 100000\n", false, 0, 8},
      {"150000 100000", true, 1.5, 2},  // no trailing newline
  };
  for (const test_case& c : cases) {
    fake_root root;
    write_v2_tree(root, c.cpu_max);
    os::cgroup_cpu_limit limit = os::read_cgroup_cpu_limit(root.c_str());
    EXPECT_EQ(limit.limited, c.limited) << "cpu.max " << c.cpu_max;
    if (c.limited) {
      EXPECT_DOUBLE_EQ(limit.cpus, c.cpus) << "cpu.max " << c.cpu_max;
    }
    EXPECT_EQ(os::default_gomaxprocs(8, limit), c.gomaxprocs_on_8) << "cpu.max " << c.cpu_max;
  }
}

TEST(CgroupCpu, V2ResolvesDirectory) {
  fake_root root;
  write_v2_tree(root, "max 100000\n");
  EXPECT_EQ(cgroup_directory(root), "/sys/fs/cgroup/app");
}

TEST(CgroupCpu, V1Quotas) {
  struct test_case {
    const char* quota;
    const char* period;
    bool limited;
    double cpus;
    int gomaxprocs_on_8;
  };
  const test_case cases[] = {
      {"150000\n", "100000\n", true, 1.5, 2},
      {"50000\n", "100000\n", true, 0.5, 2},
      {"250000\n", "100000\n", true, 2.5, 3},
      {"-1\n", "100000\n", false, 0, 8},
      {"100000\n", "0\n", false, 0, 8},    // malformed period: no limit
      {"abc\n", "100000\n", false, 0, 8},  // malformed quota: no limit
  };
  for (const test_case& c : cases) {
    fake_root root;
    write_v1_tree(root, c.quota, c.period);
    os::cgroup_cpu_limit limit = os::read_cgroup_cpu_limit(root.c_str());
    EXPECT_EQ(limit.limited, c.limited) << "quota " << c.quota << " period " << c.period;
    if (c.limited) {
      EXPECT_DOUBLE_EQ(limit.cpus, c.cpus) << "quota " << c.quota;
    }
    EXPECT_EQ(os::default_gomaxprocs(8, limit), c.gomaxprocs_on_8) << "quota " << c.quota;
  }
}

TEST(CgroupCpu, V1ControllerAlone) {
  fake_root root;
  root.write("/proc/self/cgroup", "3:cpu:/batch\n2:cpuacct:/batch\n");
  root.write("/proc/self/mountinfo",
             std::string(kRootLine) +
                 "40 30 0:33 / /cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
                 "41 30 0:34 / /cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n");
  root.write("/cgroup/cpu/batch/cpu.cfs_quota_us", "400000\n");
  root.write("/cgroup/cpu/batch/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(cgroup_directory(root), "/cgroup/cpu/batch");
  expect_cpu_limit(root, 4.0);
}

TEST(CgroupCpu, HybridPrefersV1CpuController) {
  fake_root root;
  root.write("/proc/self/cgroup", "0::/user.slice\n4:cpu,cpuacct:/user.slice/job\n");
  root.write("/proc/self/mountinfo",
             std::string(kRootLine) +
                 "31 30 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n" +
                 kCpuV1Line);
  root.write("/sys/fs/cgroup/unified/user.slice/cpu.max", "100000 100000\n");
  root.write("/sys/fs/cgroup/cpu,cpuacct/user.slice/job/cpu.cfs_quota_us", "300000\n");
  root.write("/sys/fs/cgroup/cpu,cpuacct/user.slice/job/cpu.cfs_period_us", "100000\n");

  EXPECT_EQ(cgroup_directory(root), "/sys/fs/cgroup/cpu,cpuacct/user.slice/job");
  expect_cpu_limit(root, 3.0);
}

TEST(CgroupCpu, HybridWithoutV1CpuUsesV2) {
  fake_root root;
  // systemd's named v1 hierarchy carries no controller; the cpu controller is on v2.
  root.write("/proc/self/cgroup", "1:name=systemd:/user.slice\n0::/user.slice\n");
  root.write("/proc/self/mountinfo",
             std::string(kRootLine) +
                 "32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n" +
                 "31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
  root.write("/sys/fs/cgroup/unified/user.slice/cpu.max", "200000 100000\n");
  EXPECT_EQ(cgroup_directory(root), "/sys/fs/cgroup/unified/user.slice");
  expect_cpu_limit(root, 2.0);
}

TEST(CgroupCpu, MountRootIsStripped) {
  // A container without a cgroup namespace: only its own subtree is bind-mounted, and mountinfo
  // shows that subtree as the mount's root while /proc/self/cgroup shows the full path.
  fake_root root;
  root.write("/proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
  root.write("/proc/self/mountinfo",
             std::string(kRootLine) +
                 "50 40 0:26 /kubepods/pod1/ctr /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n");
  root.write("/sys/fs/cgroup/cpu.max", "250000 100000\n");
  EXPECT_EQ(cgroup_directory(root), "/sys/fs/cgroup");
  os::cgroup_cpu_limit limit = os::read_cgroup_cpu_limit(root.c_str());
  EXPECT_TRUE(limit.limited);
  EXPECT_EQ(os::default_gomaxprocs(8, limit), 3);
}

TEST(CgroupCpu, NestedCgroupBelowMountRoot) {
  fake_root root;
  root.write("/proc/self/cgroup", "4:cpu,cpuacct:/kubepods/pod1/ctr/worker\n");
  root.write("/proc/self/mountinfo",
             std::string(kRootLine) +
                 "51 40 0:31 /kubepods/pod1/ctr /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup "
                 "rw,cpu,cpuacct\n");
  root.write("/sys/fs/cgroup/cpu,cpuacct/worker/cpu.cfs_quota_us", "50000\n");
  root.write("/sys/fs/cgroup/cpu,cpuacct/worker/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(cgroup_directory(root), "/sys/fs/cgroup/cpu,cpuacct/worker");
  expect_cpu_limit(root, 0.5);
  EXPECT_EQ(os::default_gomaxprocs(8, os::read_cgroup_cpu_limit(root.c_str())), 2);
}

TEST(CgroupCpu, MountRootPrefixNeedsWholeComponent) {
  fake_root root;
  // "/kube" is a string prefix of "/kubepods/x" but not a path prefix.
  root.write("/proc/self/cgroup", "0::/kubepods/x\n");
  root.write("/proc/self/mountinfo",
             std::string(kRootLine) + "50 40 0:26 /kube /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  EXPECT_EQ(cgroup_directory(root), "/sys/fs/cgroup/kubepods/x");
}

TEST(CgroupCpu, EscapedMountPoint) {
  fake_root root;
  root.write("/proc/self/cgroup", "0::/app\n");
  root.write("/proc/self/mountinfo",
             std::string(kRootLine) + "30 22 0:26 / /my\\040cgroups rw - cgroup2 none rw\n");
  root.write("/my cgroups/app/cpu.max", "100000 100000\n");
  EXPECT_EQ(cgroup_directory(root), "/my cgroups/app");
  EXPECT_TRUE(os::read_cgroup_cpu_limit(root.c_str()).limited);
}

TEST(CgroupCpu, OverlongMountinfoLineIsSkipped) {
  fake_root root;
  std::string overlay = "60 22 0:50 / /var/lib/docker/x rw - overlay overlay rw,lowerdir=" +
                        std::string(40000, 'l') + "\n";
  root.write("/proc/self/cgroup", "0::/app\n");
  root.write("/proc/self/mountinfo", std::string(kRootLine) + overlay + kCgroup2Line);
  root.write("/sys/fs/cgroup/app/cpu.max", "200000 100000\n");
  expect_cpu_limit(root, 2.0);
}

TEST(CgroupCpu, NoLimitCases) {
  {
    fake_root root;  // nothing at all
    EXPECT_FALSE(os::read_cgroup_cpu_limit(root.c_str()).limited);
    EXPECT_EQ(cgroup_directory(root), "<none>");
  }
  {
    fake_root root;  // root cgroup: no cpu.max file exists there
    root.write("/proc/self/cgroup", "0::/\n");
    root.write("/proc/self/mountinfo", std::string(kRootLine) + kCgroup2Line);
    EXPECT_EQ(cgroup_directory(root), "/sys/fs/cgroup");
    EXPECT_FALSE(os::read_cgroup_cpu_limit(root.c_str()).limited);
  }
  {
    fake_root root;  // membership lists a v1 cpu controller, but only a v2 mount exists
    root.write("/proc/self/cgroup", "4:cpu,cpuacct:/x\n");
    root.write("/proc/self/mountinfo", std::string(kRootLine) + kCgroup2Line);
    root.write("/sys/fs/cgroup/x/cpu.max", "100000 100000\n");
    EXPECT_EQ(cgroup_directory(root), "<none>");
    EXPECT_FALSE(os::read_cgroup_cpu_limit(root.c_str()).limited);
  }
  {
    fake_root root;  // a cgroup outside the reader's namespace
    root.write("/proc/self/cgroup", "0::/../../elsewhere\n");
    root.write("/proc/self/mountinfo", std::string(kRootLine) + kCgroup2Line);
    EXPECT_EQ(cgroup_directory(root), "<none>");
  }
  {
    fake_root root;  // malformed /proc/self/cgroup
    root.write("/proc/self/cgroup", "garbage\n");
    root.write("/proc/self/mountinfo", std::string(kRootLine) + kCgroup2Line);
    EXPECT_EQ(cgroup_directory(root), "<none>");
  }
}

TEST(CgroupCpu, ParsersRejectMalformed) {
  os::cgroup_cpu_limit limit;
  EXPECT_FALSE(os::parse_cgroup_v2_cpu_max("", &limit));
  EXPECT_FALSE(os::parse_cgroup_v2_cpu_max("100000", &limit));
  EXPECT_FALSE(os::parse_cgroup_v2_cpu_max("x 100000\n", &limit));
  EXPECT_FALSE(os::parse_cgroup_v2_cpu_max("100000 0\n", &limit));
  EXPECT_FALSE(os::parse_cgroup_v2_cpu_max("100000 100000 1\n", &limit));
  EXPECT_FALSE(os::parse_cgroup_v1_cpu_quota("", "100000", &limit));
  EXPECT_FALSE(os::parse_cgroup_v1_cpu_quota("100000", "-5", &limit));
  ASSERT_TRUE(os::parse_cgroup_v1_cpu_quota("-1\n", "", &limit)) << "no quota needs no period";
  EXPECT_FALSE(limit.limited);
}

TEST(CgroupCpu, RealSystemWithoutAllocation) {
  // Whatever this machine's layout, the readers return sane values without touching the heap.
  std::size_t allocations_before = g_allocations.load();
  os::cgroup_cpu_limit limit = os::read_cgroup_cpu_limit();
  int affinity = os::affinity_cpu_count();
  std::size_t huge_page = os::huge_page_size();
  long map_count = os::max_map_count();
  EXPECT_EQ(g_allocations.load(), allocations_before);

  if (limit.limited) {
    EXPECT_GT(limit.cpus, 0.0);
  }
  EXPECT_GE(map_count, 1);
  if (huge_page != 0) {
    EXPECT_EQ(huge_page & (huge_page - 1), 0u) << "not a power of two";
  }
  int procs = os::default_gomaxprocs(affinity, limit);
  EXPECT_GE(procs, 1);
  EXPECT_LE(procs, os::affinity_cpu_count());
}

TEST(DefaultGomaxprocs, Table) {
  struct test_case {
    int affinity;
    bool limited;
    double cpus;
    int expected;
  };
  const test_case cases[] = {
      {1, false, 0, 1},   {8, false, 0, 8},   {1, true, 0.5, 1}, {1, true, 4, 1},
      {2, true, 0.1, 2},  {8, true, 0.5, 2},  {8, true, 1.0, 2}, {8, true, 1.01, 2},
      {8, true, 2.01, 3}, {8, true, 2.5, 3},  {8, true, 8, 8},   {8, true, 64, 8},
      {4, true, 1e18, 4}, {0, false, 0, 1},
  };
  for (const test_case& c : cases) {
    EXPECT_EQ(os::default_gomaxprocs(c.affinity, {c.limited, c.cpus}), c.expected)
        << "affinity " << c.affinity << " limited " << c.limited << " cpus " << c.cpus;
  }
}

// ---------------------------------------------------------------------------------------------
// Affinity

TEST(AffinityCpuCount, MatchesSchedGetaffinity) {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  ASSERT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
  EXPECT_EQ(os::affinity_cpu_count(), CPU_COUNT(&mask));
}

TEST(AffinityCpuCount, ThreadPinnedToOneCpu) {
  int counted = -1;
  int restored = -1;
  bool pinned = false;
  std::thread worker([&] {
    cpu_set_t original;
    CPU_ZERO(&original);
    if (pthread_getaffinity_np(pthread_self(), sizeof original, &original) != 0) return;
    int first_cpu = 0;
    while (first_cpu < CPU_SETSIZE && !CPU_ISSET(first_cpu, &original)) ++first_cpu;

    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first_cpu, &one);
    pinned = pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
    counted = os::affinity_cpu_count();

    pthread_setaffinity_np(pthread_self(), sizeof original, &original);
    restored = os::affinity_cpu_count();
  });
  worker.join();
  ASSERT_TRUE(pinned) << "pthread_setaffinity_np failed";
  EXPECT_EQ(counted, 1);

  cpu_set_t mask;
  CPU_ZERO(&mask);
  ASSERT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
  EXPECT_EQ(restored, CPU_COUNT(&mask));
}

// ---------------------------------------------------------------------------------------------
// VM limits

TEST(VmLimits, HugePageSize) {
  fake_root root;
  EXPECT_EQ(os::huge_page_size(root.c_str()), 0u) << "absent file";
  root.write("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "2097152\n");
  EXPECT_EQ(os::huge_page_size(root.c_str()), 2097152u);
  root.write("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "big\n");
  EXPECT_EQ(os::huge_page_size(root.c_str()), 0u) << "malformed file";
}

TEST(VmLimits, MaxMapCount) {
  fake_root root;
  EXPECT_EQ(os::max_map_count(root.c_str()), os::kDefaultMaxMapCount) << "absent file";
  root.write("/proc/sys/vm/max_map_count", "262144\n");
  EXPECT_EQ(os::max_map_count(root.c_str()), 262144);
  root.write("/proc/sys/vm/max_map_count", "-3\n");
  EXPECT_EQ(os::max_map_count(root.c_str()), os::kDefaultMaxMapCount) << "negative value";
  EXPECT_GT(os::max_map_count(), 0) << "real system";
}

// ---------------------------------------------------------------------------------------------
// auxv

TEST(Auxv, MatchesGetauxval) {
  os::auxv_info info = os::read_auxv();
  EXPECT_EQ(info.page_size, static_cast<std::size_t>(sysconf(_SC_PAGESIZE)));
  EXPECT_NE(info.random16, nullptr);
  EXPECT_FALSE(info.secure) << "the test binary is not set-user-ID";
  EXPECT_EQ(info.hwcap, static_cast<std::uintptr_t>(getauxval(AT_HWCAP)));
}

// ---------------------------------------------------------------------------------------------
// CPU features

namespace {

os::cpu_feature_set all_of_level(int level) { return os::required_cpu_features(level); }

}  // namespace

TEST(CpuFeatures, MissingFeatureIsNamedInOrder) {
  os::cpu_feature_set v3 = all_of_level(3);
  EXPECT_EQ(os::missing_cpu_feature(3, v3), nullptr);

  os::cpu_feature_set no_avx2 = v3;
  no_avx2.remove(os::cpu_feature::avx2);
  ASSERT_NE(os::missing_cpu_feature(3, no_avx2), nullptr);
  EXPECT_STREQ(os::missing_cpu_feature(3, no_avx2), "AVX2");
  EXPECT_EQ(os::missing_cpu_feature(2, no_avx2), nullptr) << "v2 does not need AVX2";

  os::cpu_feature_set no_popcnt_no_fma = all_of_level(4);
  no_popcnt_no_fma.remove(os::cpu_feature::popcnt).remove(os::cpu_feature::fma);
  EXPECT_STREQ(os::missing_cpu_feature(4, no_popcnt_no_fma), "POPCNT") << "v2 features first";

  os::cpu_feature_set no_os_ymm = v3;
  no_os_ymm.remove(os::cpu_feature::os_ymm_state);
  EXPECT_STREQ(os::missing_cpu_feature(3, no_os_ymm), "OS support for AVX registers");

  os::cpu_feature_set no_zmm = all_of_level(4);
  no_zmm.remove(os::cpu_feature::os_zmm_state);
  EXPECT_STREQ(os::missing_cpu_feature(4, no_zmm), "OS support for AVX-512 registers");

  EXPECT_EQ(os::missing_cpu_feature(1, os::cpu_feature_set{}), nullptr) << "v1 needs nothing";
  EXPECT_STREQ(os::missing_cpu_feature(2, os::cpu_feature_set{}), "CMPXCHG16B");
}

TEST(CpuFeatures, LevelsNest) {
  for (int level = 2; level <= 4; ++level) {
    os::cpu_feature_set lower = all_of_level(level - 1);
    os::cpu_feature_set upper = all_of_level(level);
    EXPECT_EQ(lower.bits & ~upper.bits, 0u) << "level " << level << " drops a lower feature";
    EXPECT_NE(lower.bits, upper.bits) << "level " << level << " adds nothing";
  }
  EXPECT_FALSE(all_of_level(4).has(os::cpu_feature::aes)) << "AES is in no level";
}

TEST(CpuFeatures, CheckExitsWithGoMessage) {
  os::cpu_feature_set no_avx2 = all_of_level(3);
  no_avx2.remove(os::cpu_feature::avx2);
  child_result failed = run_in_child([&] {
    os::check_cpu_features_or_exit(3, no_avx2);
    return 0;
  });
  EXPECT_EQ(failed.exit_status, 1);
  EXPECT_EQ(failed.stderr_text,
            "This program can only be run on AMD64 processors with v3 microarchitecture support "
            "(missing AVX2).\n");

  child_result passed = run_in_child([&] {
    os::check_cpu_features_or_exit(3, all_of_level(3));
    return 0;
  });
  EXPECT_EQ(passed.exit_status, 0);
  EXPECT_EQ(passed.stderr_text, "");
}

TEST(CpuFeatures, ThisBinaryRunsHere) {
  // The test binary is running, so the CPU has every feature its level requires.
  EXPECT_EQ(os::missing_cpu_feature(), nullptr);
  EXPECT_GE(os::compiled_microarchitecture_level(), 1);
  EXPECT_LE(os::compiled_microarchitecture_level(), 4);
}

#if defined(__x86_64__)
TEST(CpuFeatures, AgreesWithProcCpuinfo) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string word;
    while (words >> word) flags.insert(word);
    break;
  }
  if (flags.empty()) GTEST_SKIP() << "/proc/cpuinfo has no flags line";

  struct mapping {
    os::cpu_feature feature;
    const char* flag;
  };
  const mapping mappings[] = {
      {os::cpu_feature::sse3, "pni"},         {os::cpu_feature::ssse3, "ssse3"},
      {os::cpu_feature::sse41, "sse4_1"},     {os::cpu_feature::sse42, "sse4_2"},
      {os::cpu_feature::popcnt, "popcnt"},    {os::cpu_feature::cmpxchg16b, "cx16"},
      {os::cpu_feature::lahf_sahf, "lahf_lm"}, {os::cpu_feature::avx2, "avx2"},
      {os::cpu_feature::bmi1, "bmi1"},        {os::cpu_feature::bmi2, "bmi2"},
      {os::cpu_feature::f16c, "f16c"},        {os::cpu_feature::fma, "fma"},
      {os::cpu_feature::lzcnt, "abm"},        {os::cpu_feature::movbe, "movbe"},
      {os::cpu_feature::avx512f, "avx512f"},  {os::cpu_feature::avx512bw, "avx512bw"},
      {os::cpu_feature::avx512cd, "avx512cd"}, {os::cpu_feature::avx512dq, "avx512dq"},
      {os::cpu_feature::avx512vl, "avx512vl"}, {os::cpu_feature::aes, "aes"},
  };
  os::cpu_feature_set have = os::detect_cpu_features();
  for (const mapping& m : mappings) {
    EXPECT_EQ(have.has(m.feature), flags.count(m.flag) == 1)
        << os::cpu_feature_name(m.feature) << " vs cpuinfo flag " << m.flag;
  }
  // The kernel clears "avx" from cpuinfo when it does not save YMM state.
  EXPECT_EQ(have.has(os::cpu_feature::avx) && have.has(os::cpu_feature::os_ymm_state),
            flags.count("avx") == 1);
}
#endif

// ---------------------------------------------------------------------------------------------
// checkfds

namespace {

bool fd_is_dev_null(int fd) {
  if (fcntl(fd, F_GETFD) < 0) return false;
  char link[64];
  char target[256];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) return false;
  target[n] = '\0';
  return std::strcmp(target, "/dev/null") == 0;
}

}  // namespace

TEST(Checkfds, ReopensClosedStdout) {
  child_result result = run_in_child([] {
    close(1);
    os::checkfds();
    if (!fd_is_dev_null(1)) return 10;
    if (fd_is_dev_null(2)) return 11;  // stderr (the pipe) must be left alone
    int flags = fcntl(1, F_GETFL);
    if ((flags & O_ACCMODE) != O_RDWR) return 12;
    if (fcntl(1, F_GETFD) & FD_CLOEXEC) return 13;
    return 0;
  });
  EXPECT_EQ(result.exit_status, 0) << "10: fd 1 not /dev/null, 11: fd 2 replaced, 12: not "
                                      "O_RDWR, 13: close-on-exec set";
  EXPECT_EQ(result.stderr_text, "");
}

TEST(Checkfds, ReopensAllThree) {
  int keep = dup(2);
  ASSERT_GE(keep, 3);
  pid_t pid = fork();
  if (pid == 0) {
    close(0);
    close(1);
    close(2);
    os::checkfds();
    int code = (fd_is_dev_null(0) ? 0 : 1) | (fd_is_dev_null(1) ? 0 : 2) | (fd_is_dev_null(2) ? 0 : 4);
    _exit(code);
  }
  close(keep);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bit 1: fd 0, bit 2: fd 1, bit 4: fd 2 not /dev/null";
}

TEST(Checkfds, OpenFdsAreUntouched) {
  child_result result = run_in_child([] {
    struct stat before[3];
    for (int fd = 0; fd < 3; ++fd) {
      if (fstat(fd, &before[fd]) != 0) return 20 + fd;
    }
    os::checkfds();
    for (int fd = 0; fd < 3; ++fd) {
      struct stat after;
      if (fstat(fd, &after) != 0) return 30 + fd;
      if (after.st_ino != before[fd].st_ino || after.st_dev != before[fd].st_dev) return 40 + fd;
    }
    return 0;
  });
  EXPECT_EQ(result.exit_status, 0);
}

TEST(Checkfds, FailureMessageAndStatus) {
  child_result result = run_in_child([] {
    close(0);
    os::checkfds("/nonexistent/goro/null");
    return 0;
  });
  EXPECT_EQ(result.exit_status, 2);
  EXPECT_EQ(result.stderr_text,
            "runtime: standard file descriptor 0 closed, unable to open /dev/null, errno=" +
                std::to_string(ENOENT) + "\nfatal error: cannot open standard fds\n");
}

// ---------------------------------------------------------------------------------------------
// futex and clocks

namespace {

// Waits (by polling /proc, without sleeping) until thread `tid` is blocked in futex(2).
bool wait_until_in_futex(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", static_cast<int>(tid));
  std::int64_t deadline = os::nanotime() + 10'000'000'000;
  while (os::nanotime() < deadline) {
    std::ifstream in(path);
    long number = -1;
    if (in >> number && number == SYS_futex) return true;
    sched_yield();
  }
  return false;
}

}  // namespace

TEST(Futex, WaitReturnsAtOnceOnValueMismatch) {
  std::atomic<std::uint32_t> word{7};
  std::int64_t start = os::nanotime();
  EXPECT_EQ(os::futex_wait(&word, 8, 5'000'000'000), 0);
  EXPECT_LT(os::nanotime() - start, 1'000'000'000) << "slept although *addr != expected";
}

TEST(Futex, WaitTimesOut) {
  std::atomic<std::uint32_t> word{0};
  constexpr std::int64_t kTimeout = 20'000'000;  // 20 ms
  std::int64_t start = os::nanotime();
  int result;
  do {
    result = os::futex_wait(&word, 0, kTimeout - (os::nanotime() - start));
  } while (result == 0 && os::nanotime() - start < kTimeout);
  EXPECT_EQ(result, ETIMEDOUT);
  EXPECT_GE(os::nanotime() - start, kTimeout);
}

TEST(Futex, WakeReleasesSleepingThread) {
  std::atomic<std::uint32_t> word{0};
  std::atomic<pid_t> waiter_tid{0};
  std::atomic<int> last_result{-1};
  constexpr std::int64_t kLongTimeout = 30'000'000'000;  // fails the test rather than hanging

  std::thread waiter([&] {
    waiter_tid.store(static_cast<pid_t>(syscall(SYS_gettid)), std::memory_order_release);
    int result = 0;
    while (word.load(std::memory_order_acquire) == 0 && result == 0) {
      result = os::futex_wait(&word, 0, kLongTimeout);
    }
    last_result.store(result, std::memory_order_release);
  });
  while (waiter_tid.load(std::memory_order_acquire) == 0) sched_yield();
  ASSERT_TRUE(wait_until_in_futex(waiter_tid.load())) << "waiter never blocked in futex";

  std::int64_t start = os::nanotime();
  word.store(1, std::memory_order_release);
  os::futex_wake(&word, 1);
  waiter.join();
  EXPECT_EQ(last_result.load(), 0) << "waiter timed out instead of being woken";
  EXPECT_LT(os::nanotime() - start, kLongTimeout);
}

TEST(Futex, WakeWithNoWaitersIsHarmless) {
  std::atomic<std::uint32_t> word{0};
  os::futex_wake(&word, 1);
  os::futex_wake(&word, INT32_MAX);
  EXPECT_EQ(word.load(), 0u);
}

TEST(Clocks, MonotonicWallAndSleep) {
  std::int64_t a = os::nanotime();
  std::int64_t b = os::nanotime();
  EXPECT_LE(a, b);

  timespec real;
  clock_gettime(CLOCK_REALTIME, &real);
  std::int64_t wall = os::walltime_ns();
  EXPECT_LT(std::llabs(wall / 1'000'000'000 - real.tv_sec), 2);

  constexpr std::int64_t kSleep = 2'000'000;  // 2 ms
  std::int64_t start = os::nanotime();
  os::usleep_ns(kSleep);
  EXPECT_GE(os::nanotime() - start, kSleep);

  start = os::nanotime();
  os::usleep_ns(0);
  os::usleep_ns(-5);
  EXPECT_LT(os::nanotime() - start, 1'000'000'000);
}

// ---------------------------------------------------------------------------------------------
// hash

namespace {

using hash_function = std::uint64_t (*)(const void*, std::size_t, std::uint64_t);

std::vector<hash_function> hash_variants() {
  std::vector<hash_function> variants = {&os::memhash_portable, &os::memhash};
  if (os::cpu_has_aes()) variants.push_back(&os::memhash_aes);
  return variants;
}

}  // namespace

TEST(Hash, AlginitSeedsOnce) {
  // This test binary calls alginit only here; the first call wins for the whole process.
  unsigned char random16[16];
  for (int i = 0; i < 16; ++i) random16[i] = static_cast<unsigned char>(i * 37 + 1);
  const char text[] = "goroutine";
  std::uint64_t before = os::memhash(text, sizeof text, 1);

  os::alginit(random16, os::cpu_has_aes());
  EXPECT_EQ(os::hash_uses_aes(), os::cpu_has_aes());
  std::uint64_t seeded = os::memhash(text, sizeof text, 1);
  EXPECT_NE(seeded, before) << "alginit did not change the keys";

  unsigned char other[16] = {};
  os::alginit(other, !os::cpu_has_aes());
  EXPECT_EQ(os::hash_uses_aes(), os::cpu_has_aes()) << "second alginit changed the variant";
  EXPECT_EQ(os::memhash(text, sizeof text, 1), seeded) << "second alginit changed the keys";
}

TEST(Hash, EqualInputsHashEqual) {
  std::vector<unsigned char> a(300);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<unsigned char>(i * 7 + 3);
  std::vector<unsigned char> b = a;  // same bytes at another address
  for (hash_function hash : hash_variants()) {
    for (std::size_t size = 0; size <= a.size(); ++size) {
      EXPECT_EQ(hash(a.data(), size, 99), hash(b.data(), size, 99)) << "size " << size;
    }
  }
}

TEST(Hash, SeedsAndInputsDiffer) {
  for (hash_function hash : hash_variants()) {
    std::set<std::uint64_t> seen;
    std::size_t inserted = 0;
    std::vector<unsigned char> data(96, 0x5a);
    for (std::size_t size = 0; size <= data.size(); ++size) {
      for (std::uint64_t seed : {0ull, 1ull, 2ull, 0xffffffffffffffffull}) {
        seen.insert(hash(data.data(), size, seed));
        ++inserted;
      }
    }
    // Every bit flip of a 32-byte input gives a new value.
    std::vector<unsigned char> base(32, 0);
    for (std::size_t bit = 0; bit < base.size() * 8; ++bit) {
      std::vector<unsigned char> flipped = base;
      flipped[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
      seen.insert(hash(flipped.data(), flipped.size(), 0));
      ++inserted;
    }
    EXPECT_EQ(seen.size(), inserted) << "collisions among distinct sizes, seeds and bit flips";
  }
}

TEST(Hash, ShortInputsAtPageEndAreSafe) {
  long page = sysconf(_SC_PAGESIZE);
  void* mapping = mmap(nullptr, static_cast<std::size_t>(2 * page), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mapping, MAP_FAILED);
  auto* bytes = static_cast<unsigned char*>(mapping);
  ASSERT_EQ(mprotect(bytes + page, static_cast<std::size_t>(page), PROT_NONE), 0);
  unsigned char* page_end = bytes + page;
  for (hash_function hash : hash_variants()) {
    for (std::size_t size = 0; size <= 40; ++size) {
      std::uint64_t at_end = hash(page_end - size, size, 5);  // would fault on an over-read
      std::vector<unsigned char> copy(page_end - size, page_end);
      EXPECT_EQ(at_end, hash(copy.data(), size, 5)) << "size " << size;
    }
  }
  munmap(mapping, static_cast<std::size_t>(2 * page));
}

TEST(Hash, FastrandStreams) {
  std::uint64_t first = os::fastrand();
  std::uint64_t second = os::fastrand();
  EXPECT_NE(first, second);

  std::uint64_t other_thread = 0;
  std::thread([&] { other_thread = os::fastrand(); }).join();
  EXPECT_NE(other_thread, first) << "two threads start the same stream";

  int buckets[8] = {};
  for (int i = 0; i < 8000; ++i) {
    std::uint32_t r = os::fastrandn(8);
    ASSERT_LT(r, 8u);
    ++buckets[r];
  }
  for (int i = 0; i < 8; ++i) {
    // Expected 1000 per bucket; 700 is more than 9 standard deviations below.
    EXPECT_GT(buckets[i], 700) << "bucket " << i;
  }
}
