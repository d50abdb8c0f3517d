// Tests for stack capture (unwind.h) and Go-format symbolised tracebacks (symbolize.h).
//
// The functions whose frames the tests look for are noinline, and noipa on GCC so that no
// clone such as "f.constprop.0" replaces them. Each uses its callee's result after the call,
// so no call becomes a tail call and every frame stays on the stack. Each also records the
// source line of its call at run time, so the expected line numbers follow edits of this file.
#include <gtest/gtest.h>

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cxxabi.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "runtime/trace/print.h"
#include "runtime/trace/symbolize.h"
#include "runtime/trace/unwind.h"

#if defined(__SANITIZE_ADDRESS__)
#define SYMBOLIZE_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SYMBOLIZE_TEST_ASAN 1
#endif
#endif
#if defined(SYMBOLIZE_TEST_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__clang__)
#define TEST_FRAME [[gnu::noinline]]
#else
#define TEST_FRAME [[gnu::noipa]]
#endif

using goro::rt::frame_record;
using goro::rt::symbol_info;

namespace {

// Debug builds carry DWARF line tables, so file and line must appear there. Release builds
// may have none, and the tests then check names and offsets only.
#if defined(NDEBUG)
constexpr bool kDebugBuild = false;
#else
constexpr bool kDebugBuild = true;
#endif

// Functions local to the test executable get names from its symbol table, which only
// libbacktrace reads. dladdr reads exported symbols only.
#define SKIP_WITHOUT_LIBBACKTRACE()                                                    \
  do {                                                                                 \
    if (!goro::rt::symbolizer_has_libbacktrace()) {                                    \
      GTEST_SKIP() << "goro was built without libbacktrace, so test functions have no " \
                      "names";                                                         \
    }                                                                                  \
  } while (false)

// Keeps `value` live after a call so that the call cannot be a tail call.
template <class T>
void keep(T& value) {
  asm volatile("" : "+r"(value)::"memory");
}

}  // namespace

// Frames under test live in a named namespace so that their demangled names are predictable.
namespace symbolize_test {

int chain_lines[3];  // source line of the call made by chain_a, chain_b and chain_c

TEST_FRAME int chain_c(frame_record* out, int max) {
  chain_lines[2] = __LINE__ + 1;
  int n = goro::rt::capture_stack_frames(out, max, 0);
  keep(n);
  return n;
}

TEST_FRAME int chain_b(frame_record* out, int max) {
  chain_lines[1] = __LINE__ + 1;
  int n = chain_c(out, max);
  keep(n);
  return n;
}

TEST_FRAME int chain_a(frame_record* out, int max) {
  chain_lines[0] = __LINE__ + 1;
  int n = chain_b(out, max);
  keep(n);
  return n;
}

TEST_FRAME int capture_pcs(std::uintptr_t* pcs, int max, int skip) {
  int n = goro::rt::capture_stack(pcs, max, skip);
  keep(n);
  return n;
}

TEST_FRAME int recurse_and_capture(int depth, frame_record* out, int max) {
  if (depth == 0) {
    int n = goro::rt::capture_stack_frames(out, max, 0);
    keep(n);
    return n;
  }
  int n = recurse_and_capture(depth - 1, out, max);
  keep(n);
  return n;
}

// Both captures of one stack, taken from the same frame.
struct two_captures {
  frame_record full[512];
  int full_count = 0;
  frame_record head[4];
  frame_record tail[4];
  goro::rt::stack_ends ends{head, 4, 0, tail, 4, 0, 0};
};

TEST_FRAME int recurse_and_capture_both(int depth, two_captures* out) {
  if (depth == 0) {
    out->full_count = goro::rt::capture_stack_frames(out->full, 512, 0);
    goro::rt::capture_stack_ends(&out->ends, 0);
    int n = out->full_count;
    keep(n);
    return n;
  }
  int n = recurse_and_capture_both(depth - 1, out);
  keep(n);
  return n;
}

TEST_FRAME int recurse_and_print(int depth, int fd, int skip) {
  if (depth == 0) {
    goro::rt::print_current_stack(fd, skip, 1);
    int n = 0;
    keep(n);
    return n;
  }
  int n = recurse_and_print(depth - 1, fd, skip);
  keep(n);
  return n;
}

int throw_line;  // source line of the throw in throw_c

TEST_FRAME int throw_c(int value) {
  throw_line = __LINE__ + 1;
  if (value >= 0) throw std::runtime_error("symbolize_test: thrown three frames deep");
  keep(value);
  return value;
}

TEST_FRAME int throw_b(int value) {
  int n = throw_c(value);
  keep(n);
  return n;
}

TEST_FRAME int throw_a(int value) {
  int n = throw_b(value);
  keep(n);
  return n;
}

int fault_line;  // source line of the faulting store in fault_here

TEST_FRAME void fault_here(volatile int* address) {
  fault_line = __LINE__ + 1;
  *address = 1;
  asm volatile("" ::: "memory");
}

}  // namespace symbolize_test

// A frame in the runtime's namespace, which tracebacks hide below level 2.
namespace goro::rt::symbolize_test_support {

TEST_FRAME int runtime_capture(frame_record* out, int max) {
  int n = symbolize_test::chain_c(out, max);
  keep(n);
  return n;
}

}  // namespace goro::rt::symbolize_test_support

// run_on_stack(stack_top, fn, arg) calls fn(arg) on another stack, like a goroutine's entry
// trampoline: after switching stacks its CFI marks the return address undefined, so every
// unwinder stops at this frame.
extern "C" void symbolize_test_run_on_stack(void* stack_top, void (*fn)(void*), void* arg);

#if defined(__x86_64__)
asm(R"(
  .text
  .globl symbolize_test_run_on_stack
  .type symbolize_test_run_on_stack, @function
symbolize_test_run_on_stack:
  .cfi_startproc
  pushq %rbp
  .cfi_def_cfa_offset 16
  .cfi_offset %rbp, -16
  movq %rsp, %rbp
  .cfi_def_cfa_register %rbp
  .cfi_remember_state
  movq %rdi, %rsp
  .cfi_undefined %rip
  movq %rdx, %rdi
  callq *%rsi
  .cfi_restore_state
  movq %rbp, %rsp
  popq %rbp
  .cfi_def_cfa %rsp, 8
  retq
  .cfi_endproc
  .size symbolize_test_run_on_stack, .-symbolize_test_run_on_stack
)");
constexpr bool kHaveRunOnStack = true;
#else
// NOTE: only x86-64 has the test trampoline; the tests that need it skip elsewhere.
extern "C" void symbolize_test_run_on_stack(void*, void (*)(void*), void*) {}
constexpr bool kHaveRunOnStack = false;
#endif

namespace {

// One printed logical frame: the function line and the location line without its tab.
struct printed_frame {
  std::string function;
  std::string location;
};

struct elision {
  std::size_t after_frames;  // printed frames before the "...N frames elided..." line
  std::size_t count;         // N
};

struct parsed_traceback {
  std::vector<printed_frame> frames;
  std::vector<elision> elisions;
  std::vector<std::string> malformed;  // lines that fit no traceback line form
};

parsed_traceback parse_traceback(std::string_view text) {
  constexpr std::string_view kElidedPrefix = "...";
  constexpr std::string_view kElidedSuffix = " frames elided...";
  parsed_traceback parsed;
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    if (end == std::string_view::npos) {
      parsed.malformed.emplace_back(text);  // a last line without its newline
      break;
    }
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.starts_with(kElidedPrefix) && line.ends_with(kElidedSuffix)) {
      const std::string_view digits = line.substr(
          kElidedPrefix.size(), line.size() - kElidedPrefix.size() - kElidedSuffix.size());
      std::size_t count = 0;
      const auto result = std::from_chars(digits.data(), digits.data() + digits.size(), count);
      if (result.ec != std::errc() || result.ptr != digits.data() + digits.size()) {
        parsed.malformed.emplace_back(line);
      } else {
        parsed.elisions.push_back({parsed.frames.size(), count});
      }
      continue;
    }
    if (line.empty() || line.front() == '\t' || i + 1 == lines.size() ||
        !lines[i + 1].starts_with('\t')) {
      parsed.malformed.emplace_back(line);
      continue;
    }
    parsed.frames.push_back({std::string(line), std::string(lines[i + 1].substr(1))});
    ++i;
  }
  return parsed;
}

// A location line split into its parts; fields that are absent stay empty or zero.
struct location_parts {
  std::string file;
  int line = -1;
  bool has_offset = false;
  std::uintptr_t offset = 0;
  bool has_registers = false;
  std::uintptr_t fp = 0, sp = 0, pc = 0;
  bool valid = false;
};

// Parses a lower-case 0x-prefixed hex number at the start of text and advances past it.
bool take_hex(std::string_view& text, std::uintptr_t* value) {
  if (!text.starts_with("0x")) return false;
  text.remove_prefix(2);
  std::size_t digits = 0;
  while (digits < text.size() && ((text[digits] >= '0' && text[digits] <= '9') ||
                                  (text[digits] >= 'a' && text[digits] <= 'f'))) {
    ++digits;
  }
  if (digits == 0) return false;
  std::from_chars(text.data(), text.data() + digits, *value, 16);
  text.remove_prefix(digits);
  return true;
}

location_parts parse_location(std::string_view text) {
  location_parts parts;
  std::size_t fields = text.find(' ');
  std::string_view file_line = text.substr(0, fields);
  std::string_view rest = fields == std::string_view::npos ? "" : text.substr(fields);
  const std::size_t colon = file_line.rfind(':');
  if (colon == std::string_view::npos) return parts;
  parts.file = std::string(file_line.substr(0, colon));
  const std::string_view line = file_line.substr(colon + 1);
  if (std::from_chars(line.data(), line.data() + line.size(), parts.line).ptr !=
      line.data() + line.size()) {
    return parts;
  }
  if (rest.starts_with(" +")) {
    rest.remove_prefix(2);
    if (!take_hex(rest, &parts.offset)) return parts;
    parts.has_offset = true;
  }
  if (rest.starts_with(" fp=")) {
    rest.remove_prefix(4);
    if (!take_hex(rest, &parts.fp) || !rest.starts_with(" sp=")) return parts;
    rest.remove_prefix(4);
    if (!take_hex(rest, &parts.sp) || !rest.starts_with(" pc=")) return parts;
    rest.remove_prefix(4);
    if (!take_hex(rest, &parts.pc)) return parts;
    parts.has_registers = true;
  }
  parts.valid = rest.empty();
  return parts;
}

// Reads everything written to a memfd.
class captured_output {
 public:
  captured_output() : fd_(memfd_create("symbolize_test", MFD_CLOEXEC)) {}
  ~captured_output() {
    if (fd_ >= 0) close(fd_);
  }
  captured_output(const captured_output&) = delete;
  captured_output& operator=(const captured_output&) = delete;

  int fd() const { return fd_; }

  std::string text() const {
    std::string result;
    char chunk[4096];
    for (off_t offset = 0;;) {
      const ssize_t n = pread(fd_, chunk, sizeof chunk, offset);
      if (n <= 0) break;
      result.append(chunk, static_cast<std::size_t>(n));
      offset += n;
    }
    return result;
  }

 private:
  int fd_;
};

std::string render(const frame_record* frames, int n, int level) {
  captured_output output;
  EXPECT_GE(output.fd(), 0) << "memfd_create failed: " << std::strerror(errno);
  goro::rt::stack_line<2048> line;
  goro::rt::print_frames(line, output.fd(), frames, n, level);
  return output.text();
}

std::string read_to_end(int fd) {
  std::string result;
  char chunk[4096];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.append(chunk, static_cast<std::size_t>(n));
  }
  return result;
}

bool line_info_expected() {
  if (!goro::rt::symbolizer_has_libbacktrace()) return false;
  if (kDebugBuild) return true;
  symbol_info symbol;
  goro::rt::symbolize_pc(reinterpret_cast<std::uintptr_t>(&symbolize_test::chain_a), &symbol);
  return symbol.file[0] != '\0';
}

std::uintptr_t address_of(int (*function)(frame_record*, int)) {
  return reinterpret_cast<std::uintptr_t>(function);
}

std::size_t find_frame(const parsed_traceback& parsed, std::string_view name_part,
                       std::size_t from = 0) {
  for (std::size_t i = from; i < parsed.frames.size(); ++i) {
    if (parsed.frames[i].function.find(name_part) != std::string::npos) return i;
  }
  return std::string::npos;
}

// A stack for code run by symbolize_test_run_on_stack, unmapped at the end of the test.
class side_stack {
 public:
  static constexpr std::size_t kSize = 256 * 1024;

  side_stack()
      : base_(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {}
  ~side_stack() {
    if (base_ != MAP_FAILED) munmap(base_, kSize);
  }
  side_stack(const side_stack&) = delete;
  side_stack& operator=(const side_stack&) = delete;

  bool valid() const { return base_ != MAP_FAILED; }
  void* bottom() const { return base_; }
  void* top() const { return static_cast<char*>(base_) + kSize; }

 private:
  void* base_;
};

// Runs fn(arg) on `stack`, telling ASan about both stack switches so that it does not
// mistake the other stack for an overflow.
struct side_call {
  void (*fn)(void*);
  void* arg;
  const void* caller_stack_bottom = nullptr;
  std::size_t caller_stack_size = 0;
  void* fake_stack = nullptr;
};

TEST_FRAME void enter_side_call(void* argument) {
  auto* call = static_cast<side_call*>(argument);
#if defined(SYMBOLIZE_TEST_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &call->caller_stack_bottom, &call->caller_stack_size);
#endif
  call->fn(call->arg);
  asm volatile("" ::: "memory");  // keeps this frame: no tail call
#if defined(SYMBOLIZE_TEST_ASAN)
  __sanitizer_start_switch_fiber(nullptr, call->caller_stack_bottom, call->caller_stack_size);
#endif
}

void call_on_stack(const side_stack& stack, void (*fn)(void*), void* arg) {
  side_call call{fn, arg};
#if defined(SYMBOLIZE_TEST_ASAN)
  __sanitizer_start_switch_fiber(&call.fake_stack, stack.bottom(), side_stack::kSize);
#endif
  symbolize_test_run_on_stack(stack.top(), enter_side_call, &call);
#if defined(SYMBOLIZE_TEST_ASAN)
  __sanitizer_finish_switch_fiber(call.fake_stack, nullptr, nullptr);
#endif
}

// ---- capture ---------------------------------------------------------------------------------

TEST(Unwind, CaptureStartsAtCaller) {
  SKIP_WITHOUT_LIBBACKTRACE();
  frame_record frames[64];
  const int n = symbolize_test::chain_a(frames, 64);
  ASSERT_GE(n, 4);

  // frames[0] is chain_c (the caller of capture_stack_frames), then chain_b and chain_a.
  const std::uintptr_t expected_entries[] = {address_of(symbolize_test::chain_c),
                                             address_of(symbolize_test::chain_b),
                                             address_of(symbolize_test::chain_a)};
  for (int i = 0; i < 3; ++i) {
    symbol_info symbol;
    ASSERT_TRUE(goro::rt::symbolize_pc(goro::rt::lookup_pc(frames[i]), &symbol)) << "frame " << i;
    EXPECT_EQ(symbol.entry, expected_entries[i]) << "frame " << i << " is " << symbol.function;
    EXPECT_GT(frames[i].pc, symbol.entry) << "frame " << i;
    EXPECT_FALSE(frames[i].signal_frame) << "frame " << i;
  }
}

TEST(Unwind, StackPointersGrowOutward) {
  frame_record frames[64];
  const int n = symbolize_test::chain_a(frames, 64);
  ASSERT_GE(n, 4);
  const auto test_frame = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(frames[i].sp, 0u) << "frame " << i;
    EXPECT_LT(frames[i].sp, frames[i].fp) << "frame " << i;
    // The next outer frame's sp is this frame's CFA.
    EXPECT_EQ(frames[i].fp, frames[i + 1].sp) << "frame " << i;
    // Every chain frame lies below this test's frame on the same thread stack.
    EXPECT_LT(frames[i].fp, test_frame + 4096) << "frame " << i;
    EXPECT_GT(frames[i].sp + (1u << 20), test_frame) << "frame " << i;
  }
}

TEST(Unwind, CaptureStackPcsHonoursSkipAndMax) {
  SKIP_WITHOUT_LIBBACKTRACE();
  std::uintptr_t pcs[64];
  const int n = symbolize_test::capture_pcs(pcs, 64, 0);
  ASSERT_GE(n, 2);
  symbol_info symbol;
  goro::rt::symbolize_pc(pcs[0] - 1, &symbol);
  EXPECT_EQ(symbol.entry, reinterpret_cast<std::uintptr_t>(&symbolize_test::capture_pcs));

  // skip = 1 drops capture_pcs, so the first frame is this test body, as pcs[1] was.
  std::uintptr_t skipped[64];
  const int m = symbolize_test::capture_pcs(skipped, 64, 1);
  ASSERT_EQ(m, n - 1);
  symbol_info caller;
  goro::rt::symbolize_pc(skipped[0] - 1, &caller);
  goro::rt::symbolize_pc(pcs[1] - 1, &symbol);
  EXPECT_EQ(caller.entry, symbol.entry);
  EXPECT_STREQ(caller.function, symbol.function);

  std::uintptr_t two[2];
  EXPECT_EQ(symbolize_test::capture_pcs(two, 2, 0), 2);
  EXPECT_NE(two[0], 0u);
  EXPECT_EQ(symbolize_test::capture_pcs(two, 0, 0), 0);
  EXPECT_EQ(symbolize_test::capture_pcs(nullptr, 2, 0), 0);
}

TEST(Unwind, CaptureEndsKeepsInnermostAndOutermost) {
  auto capture = std::make_unique<symbolize_test::two_captures>();
  symbolize_test::recurse_and_capture_both(30, capture.get());
  const auto& c = *capture;
  ASSERT_GT(c.full_count, 31);
  ASSERT_LT(c.full_count, 512);
  EXPECT_EQ(c.ends.depth, static_cast<std::size_t>(c.full_count));
  ASSERT_EQ(c.ends.head_count, 4);
  ASSERT_EQ(c.ends.tail_count, 4);
  // Frame 0 differs (two call sites in one function); the frames above it are the same.
  EXPECT_EQ(c.head[0].sp, c.full[0].sp);
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(c.head[i].pc, c.full[i].pc) << "head frame " << i;
    EXPECT_EQ(c.head[i].sp, c.full[i].sp) << "head frame " << i;
  }
  for (int i = 0; i < 4; ++i) {
    const frame_record& expected = c.full[c.full_count - 4 + i];
    EXPECT_EQ(c.tail[i].pc, expected.pc) << "tail frame " << i;
    EXPECT_EQ(c.tail[i].fp, expected.fp) << "tail frame " << i;
  }
}

// The walk ends at a frame whose return address the CFI leaves undefined, as on a goroutine.
frame_record side_frames[64];
int side_frame_count;

void capture_on_side_stack(void*) {
  side_frame_count = symbolize_test::chain_a(side_frames, 64);
}

TEST(Unwind, StopsAtUndefinedReturnAddress) {
  SKIP_WITHOUT_LIBBACKTRACE();
  if (!kHaveRunOnStack) GTEST_SKIP() << "no test trampoline for this architecture";
  side_stack stack;
  ASSERT_TRUE(stack.valid());
  call_on_stack(stack, capture_on_side_stack, nullptr);

  // chain_c, chain_b, chain_a, capture_on_side_stack, enter_side_call, the trampoline.
  ASSERT_EQ(side_frame_count, 6);
  symbol_info last;
  goro::rt::symbolize_pc(goro::rt::lookup_pc(side_frames[5]), &last);
  EXPECT_EQ(last.entry, reinterpret_cast<std::uintptr_t>(&symbolize_test_run_on_stack));
  EXPECT_STREQ(last.function, "symbolize_test_run_on_stack");
  const auto bottom = reinterpret_cast<std::uintptr_t>(stack.bottom());
  const auto top = reinterpret_cast<std::uintptr_t>(stack.top());
  for (int i = 0; i < 5; ++i) {
    EXPECT_GE(side_frames[i].sp, bottom) << "frame " << i;
    EXPECT_LE(side_frames[i].fp, top) << "frame " << i;
  }
}

// ---- symbolisation ---------------------------------------------------------------------------

TEST(Symbolize, PcGivesFunctionFileLineEntry) {
  SKIP_WITHOUT_LIBBACKTRACE();
  frame_record frames[64];
  ASSERT_GE(symbolize_test::chain_a(frames, 64), 4);
  symbol_info symbol;
  ASSERT_TRUE(goro::rt::symbolize_pc(goro::rt::lookup_pc(frames[1]), &symbol));
  EXPECT_STREQ(symbol.function, "symbolize_test::chain_b(goro::rt::frame_record*, int)");
  EXPECT_EQ(symbol.entry, address_of(symbolize_test::chain_b));
  EXPECT_FALSE(symbol.inlined);
  if (!line_info_expected()) GTEST_SKIP() << "no DWARF line tables in this build";
  EXPECT_TRUE(std::string_view(symbol.file).ends_with("symbolize_test.cc")) << symbol.file;
  EXPECT_EQ(symbol.line, symbolize_test::chain_lines[1]);
}

TEST(Symbolize, UnknownAddressIsReportedAsUnknown) {
  symbol_info symbol;
  EXPECT_FALSE(goro::rt::symbolize_pc(0x10, &symbol));
  EXPECT_STREQ(symbol.function, "");
  EXPECT_STREQ(symbol.file, "");
  EXPECT_EQ(symbol.line, 0);
  EXPECT_EQ(symbol.entry, 0u);

  // An address in anonymous memory belongs to no loaded object either.
  void* page = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  const auto anonymous = reinterpret_cast<std::uintptr_t>(page) + 64;
  EXPECT_FALSE(goro::rt::symbolize_pc(anonymous, &symbol));

  const frame_record frames[] = {{0x11, 0}, {anonymous + 1, 0}};
  EXPECT_EQ(render(frames, 2, 1), "0x11()\n\t?:0\n0x" + [&] {
    char digits[32];
    auto end = std::to_chars(digits, digits + sizeof digits, anonymous + 1, 16).ptr;
    return std::string(digits, end);
  }() + "()\n\t?:0\n");
  EXPECT_EQ(render(frames, 1, 2), "0x11()\n\t?:0 fp=0x0 sp=0x0 pc=0x11\n");
  munmap(page, 4096);
}

TEST(Symbolize, DemanglingDropsOnlyReturnType) {
  struct demangle_case {
    const char* mangled;
    const char* expected;
  };
  const demangle_case cases[] = {
      {"_ZN14symbolize_test7chain_bEPN4goro2rt12frame_recordEi",
       "symbolize_test::chain_b(goro::rt::frame_record*, int)"},
      {"_ZZ4mainENKUlvE_clEv", "main::{lambda()#1}::operator()() const"},
      {"_Z4makeIiESt6vectorIT_SaIS1_EEv", "make<int>()"},
      {"_Z3addIiiEDTplfp_fp0_ET_T0_", "add<int, int>(int, int)"},
      {"_Z7deducedIiEDaT_", "deduced<int>(int)"},
      {"_ZN1SIiE3getIlEEPT_v", "S<int>::get<long>()"},
      {"_ZNK1SIiEcviEv", "S<int>::operator int() const"},
      {"_ZltIiEbRK1SIT_ES4_", "operator< <int>(S<int> const&, S<int> const&)"},
      {"_ZSt10destroy_atIiEvPT_", "std::destroy_at<int>(int*)"},
      {"_ZZ3lamIiEvvENKUlvE_clEv", "lam<int>()::{lambda()#1}::operator()() const"},
      {"_ZN12_GLOBAL__N_16helperEi", "(anonymous namespace)::helper(int)"},
      {"_ZN12_GLOBAL__N_13tplIiEEvT_", "(anonymous namespace)::tpl<int>(int)"},
      {"_ZStlsISt11char_traitsIcEERSt13basic_ostreamIcT_ES5_PKc",
       "std::operator<< <std::char_traits<char> >(std::basic_ostream<char, "
       "std::char_traits<char> >&, char const*)"},
      {"_Z3fooi.cold", "foo(int) [clone .cold]"},
      {"_ZThn8_N1D1fEv", "non-virtual thunk to D::f()"},
      {"_ZTV1S", "vtable for S"},
      {"main", "main"},
      {"_Znot_valid", "_Znot_valid"},
  };
  for (const demangle_case& c : cases) {
    char out[256];
    goro::rt::demangle_function_name(c.mangled, out, sizeof out);
    EXPECT_STREQ(out, c.expected) << "mangled: " << c.mangled;
  }

  char small[8];
  goro::rt::demangle_function_name("_ZN14symbolize_test7chain_bEPN4goro2rt12frame_recordEi",
                                   small, sizeof small);
  EXPECT_STREQ(small, "symboli");
}

// demangle gives __cxa_demangle's text for every mangled name in this binary (nm lists them:
// goro's, the test's, GoogleTest's and the static libstdc++'s), for type names as typeid
// gives them, and cuts to capacity.
TEST(Symbolize, DemangleMatchesCxaDemangle) {
  char self[4096];
  const ssize_t length = ::readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(length, 0);
  self[length] = '\0';
  const std::string command =
      std::string("nm --defined-only --format=just-symbols '") + self + "' 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> nm(::popen(command.c_str(), "r"), &::pclose);
  ASSERT_NE(nm, nullptr);
  std::vector<std::string> names;
  char line[4096];
  while (std::fgets(line, sizeof line, nm.get()) != nullptr) {
    std::string_view name = line;
    if (name.ends_with('\n')) name.remove_suffix(1);
    if (name.starts_with("_Z")) names.emplace_back(name);
  }
  names.emplace_back(typeid(std::vector<std::pair<int, std::string>>).name());
  names.emplace_back(typeid(std::runtime_error).name());
  ASSERT_GT(names.size(), 1000u) << "nm listed too few mangled names";

  int compared = 0;
  for (const std::string& name : names) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> expected(
        abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status), &std::free);
    char out[4096];
    const bool ok = goro::rt::demangle(name.c_str(), out, sizeof out);
    if (status != 0) {
      EXPECT_FALSE(ok) << name;
      EXPECT_STREQ(out, "") << name;
      continue;
    }
    ASSERT_TRUE(ok) << name;
    EXPECT_EQ(std::string_view(out), std::string_view(expected.get()).substr(0, sizeof out - 1))
        << name;
    ++compared;
  }
  EXPECT_GT(compared, 1000);

  char small[12];
  ASSERT_TRUE(goro::rt::demangle("St13runtime_error", small, sizeof small));
  EXPECT_STREQ(small, "std::runtim");
  EXPECT_FALSE(goro::rt::demangle("_Znot_valid", small, sizeof small));
  EXPECT_STREQ(small, "");
  EXPECT_FALSE(goro::rt::demangle(nullptr, small, sizeof small));
}

TEST(Symbolize, RuntimeFramePredicate) {
  const char* runtime[] = {"goro::rt::schedule()", "goro::detail::invoke<int>(int)",
                           "goro_rt_trampoline"};
  const char* user[] = {"goro::chan<int>::send(int)", "std::goro::rt::f()", "main()",
                        "worker::goro::rt()", ""};
  symbol_info symbol;
  for (const char* name : runtime) {
    std::strcpy(symbol.function, name);
    EXPECT_TRUE(goro::rt::is_runtime_frame(symbol)) << name;
  }
  for (const char* name : user) {
    std::strcpy(symbol.function, name);
    EXPECT_FALSE(goro::rt::is_runtime_frame(symbol)) << name;
  }
}

// ---- printing --------------------------------------------------------------------------------

TEST(Traceback, ChainPrintsInGoFormat) {
  SKIP_WITHOUT_LIBBACKTRACE();
  frame_record frames[64];
  const int n = symbolize_test::chain_a(frames, 64);
  ASSERT_GE(n, 4);
  const parsed_traceback parsed = parse_traceback(render(frames, n, 1));
  EXPECT_TRUE(parsed.malformed.empty()) << parsed.malformed.front();
  EXPECT_TRUE(parsed.elisions.empty());
  ASSERT_GE(parsed.frames.size(), 4u);

  const char* names[] = {"symbolize_test::chain_c(goro::rt::frame_record*, int)",
                         "symbolize_test::chain_b(goro::rt::frame_record*, int)",
                         "symbolize_test::chain_a(goro::rt::frame_record*, int)"};
  const std::uintptr_t entries[] = {address_of(symbolize_test::chain_c),
                                    address_of(symbolize_test::chain_b),
                                    address_of(symbolize_test::chain_a)};
  const bool lines = line_info_expected();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(parsed.frames[i].function, names[i]);
    const location_parts location = parse_location(parsed.frames[i].location);
    ASSERT_TRUE(location.valid) << parsed.frames[i].location;
    ASSERT_TRUE(location.has_offset) << parsed.frames[i].location;
    EXPECT_EQ(location.offset, frames[i].pc - entries[i]) << parsed.frames[i].location;
    EXPECT_FALSE(location.has_registers) << parsed.frames[i].location;
    if (lines) {
      EXPECT_TRUE(location.file.ends_with("/symbolize_test.cc")) << location.file;
      EXPECT_EQ(location.line, symbolize_test::chain_lines[2 - i]) << parsed.frames[i].location;
    }
  }
  EXPECT_NE(parsed.frames[3].function.find("ChainPrintsInGoFormat"), std::string::npos)
      << parsed.frames[3].function;
  for (const printed_frame& frame : parsed.frames) {
    EXPECT_TRUE(parse_location(frame.location).valid) << frame.location;
  }
}

TEST(Traceback, LevelTwoAddsRegistersAndRuntimeFrames) {
  SKIP_WITHOUT_LIBBACKTRACE();
  frame_record frames[64];
  const int n = goro::rt::symbolize_test_support::runtime_capture(frames, 64);
  ASSERT_GE(n, 3);

  const parsed_traceback level1 = parse_traceback(render(frames, n, 1));
  const parsed_traceback level2 = parse_traceback(render(frames, n, 2));
  ASSERT_TRUE(level1.malformed.empty()) << level1.malformed.front();
  ASSERT_TRUE(level2.malformed.empty()) << level2.malformed.front();

  // Level 1 hides the goro::rt frame; level 2 shows it.
  EXPECT_EQ(find_frame(level1, "runtime_capture"), std::string::npos);
  const std::size_t runtime_index = find_frame(level2, "runtime_capture");
  ASSERT_NE(runtime_index, std::string::npos);
  EXPECT_EQ(runtime_index, 1u);
  EXPECT_EQ(level2.frames.size(), level1.frames.size() + 1);

  // Each frame here is physical (noinline), so each carries fp, sp and pc.
  for (int i = 0; i < 2; ++i) {
    const location_parts location = parse_location(level2.frames[i].location);
    ASSERT_TRUE(location.valid) << level2.frames[i].location;
    ASSERT_TRUE(location.has_registers) << level2.frames[i].location;
    EXPECT_EQ(location.pc, frames[i].pc);
    EXPECT_EQ(location.sp, frames[i].sp);
    EXPECT_EQ(location.fp, frames[i].fp);
  }
  for (const printed_frame& frame : level1.frames) {
    EXPECT_FALSE(parse_location(frame.location).has_registers) << frame.location;
  }
}

// Renders the stack of a recursion `depth` frames deep, captured at its innermost frame.
parsed_traceback render_recursion(int depth, int* captured) {
  std::vector<frame_record> frames(1024);
  *captured = symbolize_test::recurse_and_capture(depth, frames.data(), 1024);
  return parse_traceback(render(frames.data(), *captured, 1));
}

TEST(Traceback, DeepStackElidesMiddle) {
  SKIP_WITHOUT_LIBBACKTRACE();
  // Frames outside the recursion, counted on a stack too shallow for elision.
  int captured = 0;
  const parsed_traceback shallow = render_recursion(9, &captured);
  ASSERT_TRUE(shallow.elisions.empty());
  ASSERT_GT(shallow.frames.size(), 10u);
  const std::size_t outside = shallow.frames.size() - 10;

  const parsed_traceback deep = render_recursion(149, &captured);
  ASSERT_TRUE(deep.malformed.empty()) << deep.malformed.front();
  ASSERT_EQ(deep.frames.size(), 100u);
  ASSERT_EQ(deep.elisions.size(), 1u);
  EXPECT_EQ(deep.elisions[0].after_frames, 50u);
  EXPECT_EQ(deep.elisions[0].count, 150 + outside - 100);
  for (std::size_t i = 0; i < 50; ++i) {
    EXPECT_NE(deep.frames[i].function.find("recurse_and_capture"), std::string::npos) << i;
  }
  // The outermost frames are the same as on the shallow stack.
  for (std::size_t i = 0; i < outside; ++i) {
    EXPECT_EQ(deep.frames[100 - outside + i].function, shallow.frames[10 + i].function) << i;
  }
}

TEST(Traceback, CreatedByNamesCreator) {
  SKIP_WITHOUT_LIBBACKTRACE();
  frame_record frames[64];
  ASSERT_GE(symbolize_test::chain_a(frames, 64), 4);
  const std::uintptr_t creator_pc = frames[2].pc;  // the call in chain_a

  captured_output output;
  goro::rt::stack_line<2048> line;
  goro::rt::print_created_by(line, output.fd(), creator_pc, 7, 1);
  goro::rt::print_created_by(line, output.fd(), creator_pc, 0, 1);
  const std::string text = output.text();

  const std::string name = "symbolize_test::chain_a(goro::rt::frame_record*, int)";
  std::string location_prefix = "\t";
  if (line_info_expected()) {
    const std::size_t tab = text.find('\t');
    ASSERT_NE(tab, std::string::npos) << text;
    const location_parts location = parse_location(text.substr(tab + 1, text.find('\n', tab) - tab - 1));
    EXPECT_TRUE(location.file.ends_with("/symbolize_test.cc")) << text;
    EXPECT_EQ(location.line, symbolize_test::chain_lines[0]) << text;
  }
  EXPECT_EQ(text.find("created by " + name + " in goroutine 7\n\t"), 0u) << text;
  EXPECT_NE(text.find("created by " + name + "\n\t"), std::string::npos) << text;
  char offset[32];
  auto end = std::to_chars(offset, offset + sizeof offset,
                           creator_pc - address_of(symbolize_test::chain_a), 16).ptr;
  EXPECT_NE(text.find(" +0x" + std::string(offset, end) + "\n"), std::string::npos) << text;

  // A runtime creator is hidden below level 2.
  frame_record runtime_frames[64];
  ASSERT_GE(goro::rt::symbolize_test_support::runtime_capture(runtime_frames, 64), 3);
  captured_output hidden;
  goro::rt::print_created_by(line, hidden.fd(), runtime_frames[1].pc, 1, 1);
  EXPECT_EQ(hidden.text(), "");
  goro::rt::print_created_by(line, hidden.fd(), runtime_frames[1].pc, 1, 2);
  EXPECT_EQ(hidden.text().find("created by goro::rt::symbolize_test_support::runtime_capture("),
            0u)
      << hidden.text();
}

TEST(Traceback, CurrentStackStartsAtCallerAndElides) {
  SKIP_WITHOUT_LIBBACKTRACE();
  captured_output shallow_output;
  symbolize_test::recurse_and_print(4, shallow_output.fd(), 0);
  const parsed_traceback shallow = parse_traceback(shallow_output.text());
  ASSERT_TRUE(shallow.malformed.empty()) << shallow.malformed.front();
  ASSERT_TRUE(shallow.elisions.empty());
  ASSERT_GT(shallow.frames.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_NE(shallow.frames[i].function.find("recurse_and_print"), std::string::npos) << i;
  }
  const std::size_t outside = shallow.frames.size() - 5;
  EXPECT_EQ(shallow.frames[5].function.find("recurse_and_print"), std::string::npos);

  captured_output skipped_output;
  symbolize_test::recurse_and_print(4, skipped_output.fd(), 2);
  EXPECT_EQ(parse_traceback(skipped_output.text()).frames.size(), shallow.frames.size() - 2);

  // 300 recursion frames: deeper than print_current_stack's buffers, so the middle of the
  // stack is counted but not kept.
  captured_output deep_output;
  symbolize_test::recurse_and_print(299, deep_output.fd(), 0);
  const parsed_traceback deep = parse_traceback(deep_output.text());
  ASSERT_TRUE(deep.malformed.empty()) << deep.malformed.front();
  ASSERT_EQ(deep.frames.size(), 100u);
  ASSERT_EQ(deep.elisions.size(), 1u);
  EXPECT_EQ(deep.elisions[0].after_frames, 50u);
  EXPECT_EQ(deep.elisions[0].count, 300 + outside - 100);
  for (std::size_t i = 0; i < outside; ++i) {
    EXPECT_EQ(deep.frames[100 - outside + i].function, shallow.frames[5 + i].function) << i;
  }
}

// ---- failure paths -----------------------------------------------------------------------------

sigjmp_buf fault_jump;
frame_record fault_frames[128];
int fault_frame_count;

void capture_fault(int) {
  fault_frame_count = goro::rt::capture_stack_frames(fault_frames, 128, 0);
  siglongjmp(fault_jump, 1);
}

TEST(Traceback, SignalFrameShowsFaultingLine) {
  SKIP_WITHOUT_LIBBACKTRACE();
  void* page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  struct sigaction action {};
  action.sa_handler = capture_fault;
  sigemptyset(&action.sa_mask);
  struct sigaction previous {};
  ASSERT_EQ(sigaction(SIGSEGV, &action, &previous), 0);
  if (sigsetjmp(fault_jump, 1) == 0) {
    symbolize_test::fault_here(static_cast<volatile int*>(page));
  }
  sigaction(SIGSEGV, &previous, nullptr);
  munmap(page, 4096);

  // Find the interrupted frame: the unwinder marks it, and it is fault_here.
  int interrupted = -1;
  for (int i = 0; i < fault_frame_count; ++i) {
    if (fault_frames[i].signal_frame) {
      interrupted = i;
      break;
    }
  }
  ASSERT_GT(interrupted, 0) << "no signal frame among " << fault_frame_count << " frames";
  // The interrupted instruction is looked up as it is, not as a return address.
  EXPECT_EQ(goro::rt::lookup_pc(fault_frames[interrupted]), fault_frames[interrupted].pc);
  symbol_info symbol;
  goro::rt::symbolize_pc(goro::rt::lookup_pc(fault_frames[interrupted]), &symbol);
  EXPECT_STREQ(symbol.function, "symbolize_test::fault_here(int volatile*)");
  EXPECT_EQ(symbol.entry, reinterpret_cast<std::uintptr_t>(&symbolize_test::fault_here));
  if (line_info_expected()) {
    EXPECT_EQ(symbol.line, symbolize_test::fault_line);
  }

  // The signal trampoline just inside the interrupted frame shows at level 2 only.
  const parsed_traceback level1 = parse_traceback(render(fault_frames, fault_frame_count, 1));
  const parsed_traceback level2 = parse_traceback(render(fault_frames, fault_frame_count, 2));
  EXPECT_EQ(level2.frames.size(), level1.frames.size() + 1);
  const std::size_t fault_index = find_frame(level1, "fault_here");
  ASSERT_NE(fault_index, std::string::npos);
  const location_parts location = parse_location(level1.frames[fault_index].location);
  ASSERT_TRUE(location.has_offset);
  EXPECT_EQ(location.offset, fault_frames[interrupted].pc - symbol.entry);
}

// Exit status of the child whose terminate handler printed its stack.
constexpr int kTerminateHandlerExit = 42;

[[noreturn]] void print_stack_and_exit() {
  goro::rt::print_current_stack(STDERR_FILENO, 0, 1);
  _exit(kTerminateHandlerExit);
}

void throw_from_side_stack(void*) {
  const int n = symbolize_test::throw_a(1);
  _exit(n);  // not reached: throw_c throws
}

TEST(Traceback, TerminateHandlerShowsThrowSite) {
  SKIP_WITHOUT_LIBBACKTRACE();
  if (!kHaveRunOnStack) GTEST_SKIP() << "no test trampoline for this architecture";
  // The throw happens on a side stack that ends in an undefined return address, like a
  // goroutine's, so no handler (including GoogleTest's) catches it and std::terminate runs
  // with the throwing frames still on the stack.
  side_stack stack;
  ASSERT_TRUE(stack.valid());
  symbolize_test::throw_c(-1);  // records throw_line here; only the child throws
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << "fork failed: " << std::strerror(errno);
  if (pid == 0) {
    close(pipe_fds[0]);
    dup2(pipe_fds[1], STDERR_FILENO);
    std::set_terminate(print_stack_and_exit);
    call_on_stack(stack, throw_from_side_stack, nullptr);
    _exit(1);
  }
  close(pipe_fds[1]);
  const std::string output = read_to_end(pipe_fds[0]);
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status << ", stderr:\n" << output;
  ASSERT_EQ(WEXITSTATUS(status), kTerminateHandlerExit) << output;

  const parsed_traceback parsed = parse_traceback(output);
  const std::size_t c = find_frame(parsed, "symbolize_test::throw_c(int)");
  const std::size_t b = find_frame(parsed, "symbolize_test::throw_b(int)");
  const std::size_t a = find_frame(parsed, "symbolize_test::throw_a(int)");
  ASSERT_NE(c, std::string::npos) << output;
  ASSERT_NE(b, std::string::npos) << output;
  ASSERT_NE(a, std::string::npos) << output;
  EXPECT_EQ(b, c + 1) << output;
  EXPECT_EQ(a, b + 1) << output;
  EXPECT_EQ(find_frame(parsed, "print_stack_and_exit()"), 0u) << output;
  EXPECT_EQ(parsed.frames.back().function, "symbolize_test_run_on_stack()") << output;
  if (line_info_expected()) {
    const location_parts location = parse_location(parsed.frames[c].location);
    EXPECT_TRUE(location.file.ends_with("/symbolize_test.cc")) << output;
    EXPECT_EQ(location.line, symbolize_test::throw_line) << output;
  }
}

}  // namespace
