// The gdb extension tools/goro-gdb.py, run by a real gdb in batch mode against
// gdbext_program. That program has a goroutine parked in a channel receive, one in a sleep,
// one in a mutex lock, one spinning in a loop, one blocked in read(2) inside goro::blocking,
// and the main goroutine.
//
// The tests check `info goroutines` (ids, states, wait reasons, the function each goroutine
// is in, the '*' mark) and `goroutine N bt` / `goroutine all bt`, whose frames for a parked
// goroutine are unwound from its saved registers down to its first frame. They run on the
// process stopped at a breakpoint, on a core file written by gcore, and on a process that
// gdb attaches to.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "gdb_runner.h"

// Set in ASan and TSan builds (GCC defines __SANITIZE_*__, Clang has __has_feature).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GDBEXT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GDBEXT_SANITIZED 1
#endif
#endif

namespace {

using namespace std::chrono_literals;
using goro_test::have_gdb;
using goro_test::run_command;

// Goroutine ids that gdbext_program prints before it stops ("ready main=1 chan_receive=2 ...").
struct program_ids {
  int main = 0;
  int chan_receive = 0;
  int sleep = 0;
  int mutex_lock = 0;
  int loop = 0;
  int read = 0;
};

// The number after `key` in `line`, or 0 if `key` is missing. (std::regex would do, but
// GCC 12 reports a false -Wmaybe-uninitialized inside it at -O2.)
int number_after(const std::string& line, const std::string& key) {
  auto at = line.find(key);
  if (at == std::string::npos) return 0;
  return std::atoi(line.c_str() + at + key.size());
}

bool parse_ids(const std::string& output, program_ids* ids) {
  auto start = output.find("ready main=");
  if (start == std::string::npos) return false;
  const std::string line = output.substr(start, output.find('\n', start) - start);
  ids->main = number_after(line, " main=");
  ids->chan_receive = number_after(line, " chan_receive=");
  ids->sleep = number_after(line, " sleep=");
  ids->mutex_lock = number_after(line, " mutex_lock=");
  ids->loop = number_after(line, " loop=");
  ids->read = number_after(line, " read=");
  return ids->main != 0 && ids->chan_receive != 0 && ids->sleep != 0 && ids->mutex_lock != 0 &&
         ids->loop != 0 && ids->read != 0;
}

// The environment gdbext_program runs with. gdb 13.1's gcore cannot copy goroutine stacks
// guarded with MADV_GUARD_INSTALL: reading a guard page fails, and gcore leaves the rest of
// that mapping out of the core. The program therefore uses mprotect guard pages, which are
// mappings of their own that gcore skips, unless `default_guards` is set.
// GOMAXPROCS=4 gives the spinning goroutine a P of its own. The test's GODEBUG (for example
// goromigrate=1) is kept.
std::string program_environment(bool default_guards = false) {
  const char* godebug = std::getenv("GODEBUG");
  std::string value = godebug != nullptr ? godebug : "";
  if (!default_guards) value += value.empty() ? "gorostackguard=1" : ",gorostackguard=1";
  return "env GOMAXPROCS=4 GODEBUG=" + value + " ";
}

// Returns why gcore cannot serve a test in this build, or nullptr. gdb 13.1's gcore copies a
// sanitizer's reserved memory, terabytes of address space, into the core: in an ASan build
// it had written 31 GB when the 300 s test timeout struck. The debug build runs the core-file
// tests, and the live tests run in every build.
const char* gcore_unusable_reason() {
#if defined(GDBEXT_SANITIZED)
  return "gcore cannot write a core of a sanitized process in reasonable time";
#else
  return nullptr;
#endif
}

// True if the kernel supports MADV_GUARD_INSTALL (Linux 6.13 and later), so that goro's
// default stack guards are guard regions rather than mprotect guard pages.
bool kernel_has_guard_regions() {
  constexpr int kMadvGuardInstall = 102;  // MADV_GUARD_INSTALL in <linux/mman.h>
  const long page = ::sysconf(_SC_PAGESIZE);
  void* memory = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
  if (memory == MAP_FAILED) return false;
  bool supported = ::madvise(memory, page, kMadvGuardInstall) == 0;
  ::munmap(memory, 2 * page);
  return supported;
}

// Printed by gdb after it loaded the target, so that the frame gdb shows when it opens a
// core file or attaches is not mistaken for the output of the commands.
constexpr const char* kCommandsBegin = "gdbext_test: commands begin";

// Seconds one gdb session may take: a bound for a gdb that hangs, far above the few seconds
// a session takes in the debug build (gcore is the slowest step).
constexpr int kGdbTimeoutSeconds = 120;

// The gdb option that loads the extension by hand.
constexpr const char* kSourceScript = "-ex 'source " GDBEXT_SCRIPT "'";

// Runs gdb in batch mode with the extension loaded by `load_option`, then `commands`, on
// `target` (a program, "PROGRAM CORE" or "-p PID"). Returns what gdb and the program wrote
// after gdb loaded the target.
std::string run_gdb(const std::string& target, const std::vector<std::string>& commands,
                    const std::string& environment = "",
                    const std::string& load_option = kSourceScript) {
  // coreutils' timeout bounds a gdb that hangs, so that the test fails instead.
  std::string line = environment + "timeout " + std::to_string(kGdbTimeoutSeconds) +
                     " gdb -nx -batch -iex 'set debuginfod enabled off'";
  line += " " + load_option;
  line += std::string(" -ex 'echo ") + kCommandsBegin + "\\n'";
  for (const auto& command : commands) {
    if (command.find('\'') != std::string::npos) {
      throw std::invalid_argument("run_gdb: a gdb command contains a single quote: " + command);
    }
    line += " -ex '" + command + "'";
  }
  std::string output = run_command(line + " " + target + " </dev/null 2>&1");
  auto begin = output.find(kCommandsBegin);
  return begin == std::string::npos ? output : output.substr(begin);
}

// Lines of `info goroutines`, by goroutine id. Each line is "M ID STATE FUNCTION", where M
// is '*' or a space.
std::map<int, std::string> goroutine_lines(const std::string& output) {
  static const char* const kStates[] = {"waiting", "running", "runnable", "syscall"};
  std::map<int, std::string> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 4 || (line[0] != '*' && line[0] != ' ') || line[1] != ' ') continue;
    std::size_t digits = line.find_first_not_of(' ', 1);
    std::size_t after = line.find_first_not_of("0123456789", digits);
    if (digits == std::string::npos || after == digits || after == std::string::npos) continue;
    if (line[after] != ' ') continue;
    for (const char* state : kStates) {
      if (line.compare(after + 1, std::strlen(state), state) == 0) {
        lines[std::stoi(line.substr(digits, after - digits))] = line;
        break;
      }
    }
  }
  return lines;
}

// The part of `goroutine all bt` output that belongs to goroutine `id`: from its header
// line up to the next header.
std::string goroutine_section(const std::string& output, int id) {
  const std::string header = "goroutine " + std::to_string(id) + " [";
  auto start = output.find(header);
  if (start == std::string::npos) return "";
  auto end = output.find("\ngoroutine ", start + header.size());
  return output.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The frame lines ("#N ...") of a backtrace.
std::vector<std::string> frame_lines(const std::string& text) {
  std::vector<std::string> frames;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("#", 0) == 0) frames.push_back(line);
  }
  return frames;
}

// Goroutines of gdbext_program once it is ready, main included.
constexpr std::size_t kProgramGoroutines = 6;

// Checks `info goroutines` for the goroutines of gdbext_program stopped in gdbext_ready.
void expect_goroutine_list(const std::string& output, const program_ids& ids) {
  auto lines = goroutine_lines(output);
  ASSERT_EQ(lines.size(), kProgramGoroutines) << output;

  const std::string& main = lines[ids.main];
  EXPECT_EQ(main.rfind("* ", 0), 0u) << "the selected thread runs main: " << main;
  EXPECT_NE(main.find(" running on LWP "), std::string::npos) << main;
  EXPECT_NE(main.find("gdbext_ready"), std::string::npos) << main;

  const std::string& receiver = lines[ids.chan_receive];
  EXPECT_EQ(receiver.rfind("  ", 0), 0u) << receiver;
  EXPECT_NE(receiver.find(" waiting (chan receive) "), std::string::npos) << receiver;
  EXPECT_NE(receiver.find("park_in_chan_receive"), std::string::npos) << receiver;

  const std::string& sleeper = lines[ids.sleep];
  EXPECT_NE(sleeper.find(" waiting (sleep) "), std::string::npos) << sleeper;
  EXPECT_NE(sleeper.find("park_in_sleep"), std::string::npos) << sleeper;

  const std::string& locker = lines[ids.mutex_lock];
  EXPECT_NE(locker.find(" waiting (sync.Mutex.Lock) "), std::string::npos) << locker;
  EXPECT_NE(locker.find("park_in_mutex_lock"), std::string::npos) << locker;

  const std::string& loop = lines[ids.loop];
  EXPECT_NE(loop.find(" running on LWP "), std::string::npos) << loop;
  EXPECT_NE(loop.find("spin_in_loop"), std::string::npos) << loop;

  const std::string& reader = lines[ids.read];
  EXPECT_NE(reader.find(" syscall on LWP "), std::string::npos) << reader;
}

// Checks the backtrace of the goroutine blocked in read(2) inside goro::blocking: the frames
// of the thread that runs it, from #0 in the system call down to its first frame.
void expect_syscall_backtrace(const std::string& text) {
  auto frames = frame_lines(text);
  ASSERT_GE(frames.size(), 3u) << text;
  EXPECT_EQ(frames.front().rfind("#0 ", 0), 0u) << text;
  EXPECT_NE(text.find("goro::blocking<"), std::string::npos) << text;
  EXPECT_NE(text.find("block_in_read"), std::string::npos) << text;
  EXPECT_NE(frames.back().find("goro_rt_trampoline"), std::string::npos) << text;
  EXPECT_EQ(text.find("gdbext_ready"), std::string::npos) << text;
}

// Checks the backtrace of a parked goroutine: it starts in the runtime's switch
// (switch_context, or its body inlined into switch_to), contains
// `function`, ends at the goroutine's first frame, and shows none of the host thread's
// frames (gdbext_ready is where the host thread stopped).
void expect_parked_backtrace(const std::string& text, const std::string& function) {
  auto frames = frame_lines(text);
  ASSERT_GE(frames.size(), 3u) << text;
  EXPECT_EQ(frames.front().rfind("#1 ", 0), 0u) << "frame #0 is the host's and hidden\n" << text;
  EXPECT_NE(frames.front().find("switch_context"), std::string::npos) << text;
  EXPECT_NE(text.find(function), std::string::npos) << text;
  EXPECT_NE(frames.back().find("goro_rt_trampoline"), std::string::npos) << text;
  EXPECT_EQ(text.find("gdbext_ready"), std::string::npos) << text;
  EXPECT_EQ(text.find("corrupt stack"), std::string::npos) << text;
  EXPECT_EQ(text.find("previous frame"), std::string::npos) << text;
}

// A temporary directory, removed with its contents.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gdbext_test.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern + ": " + std::strerror(errno));
    }
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs gdbext_program under gdb to its breakpoint and runs `commands` there.
std::string run_to_breakpoint(const std::vector<std::string>& commands) {
  std::vector<std::string> all = {"break gdbext_ready", "run"};
  all.insert(all.end(), commands.begin(), commands.end());
  all.push_back("kill");
  return run_gdb(GDBEXT_PROGRAM, all, program_environment());
}

TEST(GdbExtension, LiveProcessAtBreakpoint) {
  if (!have_gdb()) GTEST_SKIP() << "gdb is not installed (apt-get install gdb)";
  std::string output = run_to_breakpoint({"info goroutines", "goroutine all bt", "bt 1"});
  program_ids ids;
  ASSERT_TRUE(parse_ids(output, &ids)) << "gdbext_program did not reach its breakpoint\n" << output;
  EXPECT_EQ(output.find("Traceback"), std::string::npos) << "a Python error\n" << output;

  expect_goroutine_list(output, ids);
  expect_parked_backtrace(goroutine_section(output, ids.chan_receive), "park_in_chan_receive");
  expect_parked_backtrace(goroutine_section(output, ids.sleep), "park_in_sleep");
  expect_parked_backtrace(goroutine_section(output, ids.mutex_lock), "park_in_mutex_lock");

  // Running goroutines show the frames of the thread that runs them, from #0.
  std::string loop = goroutine_section(output, ids.loop);
  EXPECT_NE(loop.find("[running on LWP "), std::string::npos) << loop;
  ASSERT_FALSE(frame_lines(loop).empty()) << loop;
  EXPECT_EQ(frame_lines(loop).front().rfind("#0 ", 0), 0u) << loop;
  EXPECT_NE(loop.find("spin_in_loop"), std::string::npos) << loop;
  std::string main = goroutine_section(output, ids.main);
  EXPECT_NE(main.find("#0  gdbext_ready"), std::string::npos) << main;
  // The last goroutine's section runs into the output of `bt 1`, after a blank line.
  std::string reader = goroutine_section(output, ids.read);
  expect_syscall_backtrace(reader.substr(0, reader.find("\n\n")));

  // After the goroutine commands, `bt` shows the selected thread's own frames again.
  auto last_frames = frame_lines(output.substr(output.rfind("\ngoroutine ")));
  ASSERT_FALSE(last_frames.empty()) << output;
  EXPECT_NE(last_frames.back().find("#0  gdbext_ready"), std::string::npos) << output;
}

TEST(GdbExtension, CoreFileFromGcore) {
  if (!have_gdb()) GTEST_SKIP() << "gdb is not installed (apt-get install gdb)";
  if (const char* reason = gcore_unusable_reason()) GTEST_SKIP() << reason;
  temp_dir dir;
  const std::string core = (dir.path() / "gdbext_program.core").string();
  std::string live = run_to_breakpoint({"gcore " + core});
  program_ids ids;
  ASSERT_TRUE(parse_ids(live, &ids)) << "gdbext_program did not reach its breakpoint\n" << live;
  ASSERT_TRUE(std::filesystem::exists(core)) << "gcore wrote no core file\n" << live;

  const std::string target = std::string(GDBEXT_PROGRAM) + " " + core;
  std::string list = run_gdb(target, {"info goroutines"});
  EXPECT_EQ(list.find("Traceback"), std::string::npos) << "a Python error\n" << list;
  EXPECT_EQ(list.find("missing from this core file"), std::string::npos) << list;
  expect_goroutine_list(list, ids);

  const std::pair<int, const char*> parked[] = {{ids.chan_receive, "park_in_chan_receive"},
                                                {ids.sleep, "park_in_sleep"},
                                                {ids.mutex_lock, "park_in_mutex_lock"}};
  for (const auto& [id, function] : parked) {
    std::string bt = run_gdb(target, {"goroutine " + std::to_string(id) + " bt"});
    SCOPED_TRACE("goroutine " + std::to_string(id));
    expect_parked_backtrace(bt, function);
  }
  expect_syscall_backtrace(run_gdb(target, {"goroutine " + std::to_string(ids.read) + " bt"}));

  // `goroutine N frame K` selects frame K of the goroutine's own numbering, then restores
  // the selection: `frame` afterwards is the host thread's frame #0 again.
  std::string bt = run_gdb(target, {"goroutine " + std::to_string(ids.sleep) + " bt"});
  std::string user_frame;
  for (const auto& frame : frame_lines(bt)) {
    if (frame.find("park_in_sleep") != std::string::npos) {
      user_frame = frame.substr(1, frame.find(' ') - 1);
    }
  }
  ASSERT_FALSE(user_frame.empty()) << bt;
  std::string selected =
      run_gdb(target, {"goroutine " + std::to_string(ids.sleep) + " frame " + user_frame, "frame"});
  EXPECT_NE(selected.find("#" + user_frame + " "), std::string::npos) << selected;
  EXPECT_NE(selected.find("park_in_sleep"), std::string::npos) << selected;
  EXPECT_NE(selected.find("#0  gdbext_ready"), std::string::npos) << selected;
}

// Under the default stack guards on a kernel with MADV_GUARD_INSTALL, gcore leaves the stack
// slabs out of the core. `info goroutines` must then print a warning with the fix, instead of
// failing or listing garbage.
TEST(GdbExtension, CoreFileWithGuardRegions) {
  if (!have_gdb()) GTEST_SKIP() << "gdb is not installed (apt-get install gdb)";
  if (const char* reason = gcore_unusable_reason()) GTEST_SKIP() << reason;
  temp_dir dir;
  const std::string core = (dir.path() / "gdbext_program.core").string();
  std::string live = run_gdb(GDBEXT_PROGRAM, {"break gdbext_ready", "run", "gcore " + core, "kill"},
                             program_environment(true));
  program_ids ids;
  ASSERT_TRUE(parse_ids(live, &ids)) << "gdbext_program did not reach its breakpoint\n" << live;
  ASSERT_TRUE(std::filesystem::exists(core)) << "gcore wrote no core file\n" << live;

  std::string list = run_gdb(std::string(GDBEXT_PROGRAM) + " " + core, {"info goroutines"});
  EXPECT_EQ(list.find("Traceback"), std::string::npos) << "a Python error\n" << list;
  if (!kernel_has_guard_regions()) {
    // goro fell back on mprotect guard pages, which gcore handles.
    expect_goroutine_list(list, ids);
    return;
  }
  EXPECT_NE(list.find("goroutine stack slots are missing from this core file"), std::string::npos)
      << list;
  EXPECT_NE(list.find("GODEBUG=gorostackguard=1"), std::string::npos) << list;
  EXPECT_LT(goroutine_lines(list).size(), kProgramGoroutines) << list;
}

TEST(GdbExtension, AutoLoadsNextToProgram) {
  if (!have_gdb()) GTEST_SKIP() << "gdb is not installed (apt-get install gdb)";
  temp_dir dir;
  const auto program = dir.path() / "gdbext_program";
  std::filesystem::copy_file(GDBEXT_PROGRAM, program);
  std::filesystem::copy_file(GDBEXT_SCRIPT, dir.path() / "gdbext_program-gdb.py");

  const std::string safe_path = "-iex 'add-auto-load-safe-path " + dir.path().string() + "'";
  const std::vector<std::string> commands = {"break gdbext_ready", "run", "info goroutines",
                                             "kill"};
  std::string output = run_gdb(program.string(), commands, program_environment(), safe_path);
  program_ids ids;
  ASSERT_TRUE(parse_ids(output, &ids)) << "the program did not reach its breakpoint\n" << output;
  EXPECT_EQ(goroutine_lines(output).size(), kProgramGoroutines)
      << "the script was not auto-loaded\n" << output;
}

TEST(GdbExtension, CommandErrors) {
  if (!have_gdb()) GTEST_SKIP() << "gdb is not installed (apt-get install gdb)";
  std::string no_process = run_gdb(GDBEXT_PROGRAM, {"info goroutines"});
  EXPECT_NE(no_process.find("goro-gdb: no thread selected"), std::string::npos) << no_process;

  std::string output = run_to_breakpoint(
      {"goroutine 999999 bt", "goroutine 1", "info goroutines extra", "goroutine 1 bt 1"});
  EXPECT_NE(output.find("goro-gdb: no live goroutine with id 999999"), std::string::npos) << output;
  EXPECT_NE(output.find("usage: goroutine ID COMMAND"), std::string::npos) << output;
  EXPECT_NE(output.find("`info goroutines` takes no arguments"), std::string::npos) << output;
  // gdb -batch goes on after a failing command: the last one still ran.
  EXPECT_NE(output.find("#0  gdbext_ready"), std::string::npos) << output;
}

// gdbext_program with its stdin on a pipe whose write end it keeps, so its read(2) on stdin
// never returns: the main goroutine stays in a system call until the test kills it.
GORO_CHILD_SCENARIO(program_blocked_on_stdin) {
  int fds[2];
  if (::pipe(fds) != 0 || ::dup2(fds[0], 0) != 0) return 10;
  ::execl(GDBEXT_PROGRAM, GDBEXT_PROGRAM, static_cast<char*>(nullptr));
  return 127;
}

TEST(GdbExtension, AttachedProcess) {
  if (!have_gdb()) GTEST_SKIP() << "gdb is not installed (apt-get install gdb)";
  std::vector<std::string> environment = {"GOMAXPROCS=4"};
  goro_test::child_process child("program_blocked_on_stdin", environment);
  ASSERT_TRUE(child.wait_for_stdout("ready", 60s)) << "gdbext_program never got ready";
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!goro_test::thread_in_read(child.pid(), 0)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the main goroutine never reached read(2)";
    std::this_thread::yield();
  }

  // gdb stops the process in read(), a C function, where C++ names do not parse. `set
  // language c` makes that so even where gdb picks another frame to show.
  std::string output = run_gdb("-p " + std::to_string(child.pid()),
                               {"set language c", "info goroutines", "goroutine all bt"});
  child.kill();
  if (output.find("ptrace: Operation not permitted") != std::string::npos) {
    GTEST_SKIP() << "ptrace attach is not permitted here (kernel.yama.ptrace_scope or no "
                    "CAP_SYS_PTRACE); the other tests run the program under gdb instead\n"
                 << output;
  }
  EXPECT_EQ(output.find("Traceback"), std::string::npos) << "a Python error\n" << output;

  auto lines = goroutine_lines(output);
  ASSERT_EQ(lines.size(), kProgramGoroutines) << output;
  int main_id = 0;
  for (const auto& [id, line] : lines) {
    // Goroutine 1 and the reader are both in read(2), and main is the one created first.
    if (line.find(" syscall on LWP ") != std::string::npos && (main_id == 0 || id < main_id)) {
      main_id = id;
    }
  }
  ASSERT_NE(main_id, 0) << "the main goroutine is in read(2), in state syscall\n" << output;
  // Its stack is the thread's: from read(2) down to the main function's lambda.
  std::string main = goroutine_section(output, main_id);
  EXPECT_NE(main.find("gdbext_program.cc"), std::string::npos) << main;
  EXPECT_NE(main.find("goro_rt_trampoline"), std::string::npos) << main;

  auto section_with = [&](const char* function) {
    for (const auto& [id, line] : lines) {
      if (line.find(function) != std::string::npos) return goroutine_section(output, id);
    }
    return std::string();
  };
  for (const char* function : {"park_in_chan_receive", "park_in_sleep", "park_in_mutex_lock"}) {
    SCOPED_TRACE(function);
    std::string section = section_with(function);
    ASSERT_FALSE(section.empty()) << output;
    auto frames = frame_lines(section);
    ASSERT_FALSE(frames.empty()) << section;
    EXPECT_NE(frames.back().find("goro_rt_trampoline"), std::string::npos) << section;
    EXPECT_EQ(section.find("corrupt stack"), std::string::npos) << section;
  }
}

}  // namespace
