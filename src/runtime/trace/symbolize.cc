#include "runtime/trace/symbolize.h"

#include <cxxabi.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string_view>

// libbacktrace's C API, as documented in its backtrace.h. GCC installs that header in its
// private include directory, which Clang does not search, so the few declarations used here
// are repeated. The state type stays incomplete; without libbacktrace no state ever exists.
extern "C" {
struct backtrace_state;
}

#if GORO_HAVE_LIBBACKTRACE
extern "C" {
using backtrace_error_callback = void (*)(void* data, const char* message, int error_number);
using backtrace_full_callback = int (*)(void* data, std::uintptr_t pc, const char* filename,
                                        int line, const char* function);
using backtrace_syminfo_callback = void (*)(void* data, std::uintptr_t pc, const char* symbol,
                                            std::uintptr_t value, std::uintptr_t size);

backtrace_state* backtrace_create_state(const char* filename, int threaded,
                                        backtrace_error_callback error_callback, void* data);
int backtrace_pcinfo(backtrace_state* state, std::uintptr_t pc, backtrace_full_callback callback,
                     backtrace_error_callback error_callback, void* data);
int backtrace_syminfo(backtrace_state* state, std::uintptr_t address,
                      backtrace_syminfo_callback callback,
                      backtrace_error_callback error_callback, void* data);
}
#endif

// The callback form of libstdc++'s demangler, the code behind __cxa_demangle: the same text
// (DemangleMatchesCxaDemangle checks), but it allocates nothing, which a traceback printed
// from a fault in malloc needs (the arena lock is then held). It returns 0 on success.
// Only the static libstdc++ defines it; the shared one does not export it. The reference is
// weak so that goro links either way. It resolves when the executable links libstdc++
// statically (GORO_STATIC_LIBSTDCXX, the default for executables), because demangle's own
// call of __cxa_demangle brings in the object that defines it, and is null otherwise.
extern "C" [[gnu::weak]] int __gcclibcxx_demangle_callback(
    const char* mangled, void (*callback)(const char* piece, std::size_t n, void* opaque),
    void* opaque);

namespace goro::rt {
namespace {

// Go's traceback limits (Go 1.21 and later): a stack with more printable frames than the sum
// shows the innermost and outermost ones around a "...N frames elided..." line.
constexpr std::size_t kInnerFrames = 50;
constexpr std::size_t kOuterFrames = 50;

// Capture buffers of print_current_stack. Each side has room for Go's 50 printed frames plus
// 14 hidden runtime frames, and 128 records (4 KiB) stay small enough for a signal stack.
constexpr int kHeadFrames = 64;
constexpr int kTailFrames = 64;

// Line buffer of print_current_stack: a frame line is at most a full function name plus
// "()" and a newline, and a file line is at most a full path plus line, offset and three
// 64-bit hex fields, about 620 bytes.
constexpr std::size_t kLineCapacity = symbol_info::kFunctionCapacity + 64;

// ---- libbacktrace state --------------------------------------------------------------------

#if GORO_HAVE_LIBBACKTRACE
// Lifecycle of the shared libbacktrace state. It is created by the first thread that needs it
// and never freed, as libbacktrace requires. A thread that finds it being created does not
// wait (it may be a signal handler interrupting the creator) and uses dladdr instead.
enum state_phase : int { kStateNone, kStateCreating, kStateReady, kStateFailed };

// Written once by the creating thread before it publishes kStateReady.
backtrace_state* g_backtrace_state = nullptr;
// Release store of kStateReady publishes g_backtrace_state; readers load-acquire.
std::atomic<int> g_state_phase{kStateNone};

// libbacktrace reports missing debug information through this callback. A traceback has
// nowhere to report it, and the fallbacks below cover the frame.
void ignore_backtrace_error(void*, const char*, int) {}

backtrace_state* shared_backtrace_state() {
  int phase = g_state_phase.load(std::memory_order_acquire);
  if (phase == kStateReady) return g_backtrace_state;
  if (phase != kStateNone) return nullptr;
  if (!g_state_phase.compare_exchange_strong(phase, kStateCreating, std::memory_order_acquire,
                                             std::memory_order_acquire)) {
    return phase == kStateReady ? g_backtrace_state : nullptr;
  }
  // threaded = 1: all threads share the state, and libbacktrace synchronises its lazy reads
  // of the debug information with atomics instead of locks.
  g_backtrace_state = backtrace_create_state(nullptr, 1, ignore_backtrace_error, nullptr);
  g_state_phase.store(g_backtrace_state != nullptr ? kStateReady : kStateFailed,
                      std::memory_order_release);
  return g_backtrace_state;
}
#else
backtrace_state* shared_backtrace_state() { return nullptr; }
#endif

// ---- names ---------------------------------------------------------------------------------

// The output of __gcclibcxx_demangle_callback, cut to capacity - 1 characters.
struct demangle_output {
  char* out;
  std::size_t capacity;
  std::size_t length;  // out[0..length) written; out[length] is '\0'
};

void append_demangled(const char* piece, std::size_t n, void* opaque) {
  auto* sink = static_cast<demangle_output*>(opaque);
  const std::size_t room = sink->capacity - 1 - sink->length;
  n = std::min(n, room);
  std::memcpy(sink->out + sink->length, piece, n);
  sink->length += n;
  sink->out[sink->length] = '\0';
}

void copy_truncated(std::string_view text, char* out, std::size_t capacity) {
  const std::size_t n = std::min(text.size(), capacity - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

bool is_mangled_name(std::string_view name) { return name.starts_with("_Z"); }

bool is_identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// True if the keyword `operator` starts at text[i], as in "ns::operator<<".
bool operator_keyword_at(std::string_view text, std::size_t i) {
  constexpr std::string_view kOperator = "operator";
  if (text.compare(i, kOperator.size(), kOperator) != 0) return false;
  if (i > 0 && text[i - 1] != ':' && text[i - 1] != ' ') return false;
  const std::size_t after = i + kOperator.size();
  return after == text.size() || !is_identifier_char(text[after]);
}

// True if the parenthesis at text[i] opens the operand of `decltype`.
bool opens_decltype(std::string_view text, std::size_t i) {
  constexpr std::string_view kDecltype = "decltype";
  std::string_view before = text.substr(0, i);
  while (!before.empty() && before.back() == ' ') before.remove_suffix(1);
  if (!before.ends_with(kDecltype)) return false;
  const std::size_t start = before.size() - kDecltype.size();
  return start == 0 || !is_identifier_char(before[start - 1]);
}

// Returns where the function name starts in a demangled function signature, which is 0 unless
// a return type precedes it. The Itanium mangling encodes the return type of function template
// specialisations only, and the demangler prints it first, separated by a space that is
// outside every bracket: "std::vector<int, std::allocator<int> > make<int>()". The name ends
// at the parameter list, the first top-level '(' that neither opens "(anonymous namespace)"
// nor a decltype operand, or at the keyword `operator`, whose symbol may contain '(' or '<'.
// NOTE: a function returning a function pointer ("void (*f<int>())()") is left unchanged
// after its first '(', so its name keeps part of the return type.
std::size_t function_name_start(std::string_view text) {
  constexpr std::string_view kAnonymousNamespace = "(anonymous namespace)";
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (depth == 0 && operator_keyword_at(text, i)) return start;
    switch (text[i]) {
      case '(':
        if (depth == 0 && text.substr(i).starts_with(kAnonymousNamespace)) {
          i += kAnonymousNamespace.size() - 1;
          break;
        }
        if (depth == 0 && !opens_decltype(text, i)) return start;
        ++depth;
        break;
      case '<':
      case '[':
      case '{':
        ++depth;
        break;
      case ')':
      case '>':
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      case ' ':
        if (depth == 0) start = i + 1;
        break;
      default:
        break;
    }
  }
  // No parameter list: not a function signature, so there is no return type to remove.
  return 0;
}

// ---- logical frames ------------------------------------------------------------------------

using logical_frame_visitor = void (*)(const symbol_info& symbol, void* context);

// State of one expansion of an address into logical frames. libbacktrace reports the frames
// innermost first and does not say which report is the last (the physical function), so each
// report is held back until the next one arrives and proves it inlined.
struct logical_walk {
  symbol_info slots[2];
  bool qualified[2] = {false, false};  // the slot's name came from a mangled name
  int pending = -1;  // slot holding the report not yet passed on, or -1
  logical_frame_visitor visit = nullptr;
  void* context = nullptr;
};

void clear_symbol(symbol_info* symbol) {
  symbol->function[0] = '\0';
  symbol->file[0] = '\0';
  symbol->line = 0;
  symbol->entry = 0;
  symbol->inlined = false;
}

#if GORO_HAVE_LIBBACKTRACE
int on_pcinfo(void* data, std::uintptr_t, const char* filename, int line, const char* function) {
  auto* walk = static_cast<logical_walk*>(data);
  if (walk->pending >= 0) {
    symbol_info& inlined = walk->slots[walk->pending];
    inlined.inlined = true;
    walk->visit(inlined, walk->context);
  }
  walk->pending = walk->pending == 0 ? 1 : 0;
  symbol_info& symbol = walk->slots[walk->pending];
  clear_symbol(&symbol);
  walk->qualified[walk->pending] = function != nullptr && is_mangled_name(function);
  if (function != nullptr) {
    demangle_function_name(function, symbol.function, sizeof symbol.function);
  }
  if (filename != nullptr) {
    copy_truncated(filename, symbol.file, sizeof symbol.file);
    symbol.line = line;
  }
  return 0;
}

// The symbol found for the physical frame's address.
struct physical_symbol {
  symbol_info* symbol;
  bool qualified;  // symbol->function came from a mangled name
};

void on_syminfo(void* data, std::uintptr_t, const char* name, std::uintptr_t value,
                std::uintptr_t) {
  auto* physical = static_cast<physical_symbol*>(data);
  if (name == nullptr) return;
  physical->symbol->entry = value;
  // DWARF names functions with internal linkage (anonymous namespaces, local classes) by
  // their bare name, "helper"; the symbol table has the mangled, qualified name.
  if (physical->symbol->function[0] == '\0' || (!physical->qualified && is_mangled_name(name))) {
    demangle_function_name(name, physical->symbol->function, sizeof physical->symbol->function);
  }
}
#endif

// dladdr reads only the dynamic symbol table: exported functions of shared libraries, and of
// the executable when it is linked with -rdynamic.
void fill_from_dladdr(std::uintptr_t pc, symbol_info* symbol) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(pc), &info) == 0 || info.dli_saddr == nullptr) return;
  if (symbol->entry == 0) symbol->entry = reinterpret_cast<std::uintptr_t>(info.dli_saddr);
  if (symbol->function[0] == '\0' && info.dli_sname != nullptr) {
    demangle_function_name(info.dli_sname, symbol->function, sizeof symbol->function);
  }
}

// Calls visit for each logical frame at the instruction address pc, innermost first. The
// last call is for the physical function and is the only one with `inlined` false and an
// entry.
void for_each_logical_frame([[maybe_unused]] backtrace_state* state, std::uintptr_t pc,
                            logical_frame_visitor visit, void* context) {
  logical_walk walk;
  walk.visit = visit;
  walk.context = context;
#if GORO_HAVE_LIBBACKTRACE
  if (state != nullptr) backtrace_pcinfo(state, pc, on_pcinfo, ignore_backtrace_error, &walk);
#endif
  if (walk.pending < 0) {
    walk.pending = 0;
    clear_symbol(&walk.slots[0]);
  }

  symbol_info& physical = walk.slots[walk.pending];
  physical.inlined = false;
#if GORO_HAVE_LIBBACKTRACE
  if (state != nullptr) {
    physical_symbol found{&physical, walk.qualified[walk.pending]};
    backtrace_syminfo(state, pc, on_syminfo, ignore_backtrace_error, &found);
  }
#endif
  if (physical.entry == 0 || physical.function[0] == '\0') fill_from_dladdr(pc, &physical);
  visit(physical, context);
}

// ---- printing ------------------------------------------------------------------------------

// Ends the line in `out` and writes it. A line cut by the buffer's capacity still gets its
// newline, so the next line does not run into it.
void end_line(line_buffer& out, int fd) {
  out.chr('\n');
  const bool lost_newline = out.truncated();
  out.flush(fd);
  if (lost_newline) write_all("\n", fd);
}

void append_file_line(line_buffer& out, const symbol_info& symbol) {
  if (symbol.file[0] == '\0') {
    out.str("?:0");
  } else {
    out.str(symbol.file).chr(':').dec(symbol.line);
  }
}

void print_logical_frame(line_buffer& out, int fd, const symbol_info& symbol,
                         const frame_record& frame, int traceback_level) {
  if (symbol.function[0] == '\0') {
    out.hex(frame.pc).str("()");
  } else {
    out.str(symbol.function);
    // A C function's name has no parameter list; Go's frame lines always end with one.
    if (std::strchr(symbol.function, '(') == nullptr) out.str("()");
  }
  end_line(out, fd);

  out.chr('\t');
  append_file_line(out, symbol);
  // Go prints the offset and the frame's registers on the physical frame only.
  if (!symbol.inlined) {
    if (symbol.entry != 0 && frame.pc > symbol.entry) out.str(" +").hex(frame.pc - symbol.entry);
    if (traceback_level >= 2) {
      out.str(" fp=").hex(frame.fp).str(" sp=").hex(frame.sp).str(" pc=").hex(frame.pc);
    }
  }
  end_line(out, fd);
}

// A captured stack in traceback order: head, then `gap` frames that were not kept, then tail.
struct frame_sequence {
  const frame_record* head;
  std::size_t head_count;
  std::size_t gap;
  const frame_record* tail;
  std::size_t tail_count;

  std::size_t size() const { return head_count + gap + tail_count; }

  // Returns frame i, or nullptr for a frame in the gap or past the end.
  const frame_record* at(std::size_t i) const {
    if (i < head_count) return &head[i];
    i -= head_count;
    if (i < gap) return nullptr;
    i -= gap;
    return i < tail_count ? &tail[i] : nullptr;
  }
};

// One traceback in progress. It runs twice over the frames: first counting the printable
// logical frames, then printing those that the inner/outer limits keep.
struct traceback_printer {
  backtrace_state* state;
  line_buffer* out;
  int fd;
  int traceback_level;
  bool counting = true;
  std::size_t printable = 0;  // printable logical frames, known after the counting pass
  std::size_t index = 0;      // printable logical frames seen so far in the printing pass
  std::size_t elided = 0;     // frames skipped since the last printed one
  const frame_record* frame = nullptr;

  void flush_elided() {
    if (elided == 0) return;
    out->str("...").udec(elided).str(" frames elided...");
    end_line(*out, fd);
    elided = 0;
  }
};

void visit_printable_frame(const symbol_info& symbol, void* context) {
  auto* printer = static_cast<traceback_printer*>(context);
  if (printer->traceback_level < 2 && is_runtime_frame(symbol)) return;
  if (printer->counting) {
    ++printer->printable;
    return;
  }
  const std::size_t index = printer->index++;
  if (index >= kInnerFrames && index + kOuterFrames < printer->printable) {
    ++printer->elided;
    return;
  }
  printer->flush_elided();
  print_logical_frame(*printer->out, printer->fd, symbol, *printer->frame,
                      printer->traceback_level);
}

void run_traceback_pass(traceback_printer* printer, const frame_sequence& frames) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const frame_record* frame = frames.at(i);
    if (frame == nullptr) {
      // An uncaptured frame counts as one printable frame, since it cannot be symbolised.
      if (printer->counting) {
        ++printer->printable;
      } else {
        ++printer->index;
        ++printer->elided;
      }
      continue;
    }
    // The frame just inside a signal frame is the kernel's signal-return trampoline
    // (__restore_rt on x86-64 glibc). Below level 2 it is hidden, as Go hides sigpanic.
    const frame_record* outer = frames.at(i + 1);
    if (printer->traceback_level < 2 && outer != nullptr && outer->signal_frame) continue;

    printer->frame = frame;
    for_each_logical_frame(printer->state, lookup_pc(*frame), visit_printable_frame, printer);
  }
}

void print_sequence(line_buffer& out, int fd, const frame_sequence& frames, int traceback_level) {
  if (out.size() != 0) out.flush(fd);
  traceback_printer printer{.state = shared_backtrace_state(),
                            .out = &out,
                            .fd = fd,
                            .traceback_level = traceback_level};
  run_traceback_pass(&printer, frames);
  printer.counting = false;
  run_traceback_pass(&printer, frames);
  printer.flush_elided();
}

// Keeps the innermost logical frame and the physical function's entry.
struct innermost_frame {
  symbol_info* out;
  bool seen = false;
};

void keep_innermost_frame(const symbol_info& symbol, void* context) {
  auto* innermost = static_cast<innermost_frame*>(context);
  if (!innermost->seen) {
    *innermost->out = symbol;
    innermost->seen = true;
  }
  if (!symbol.inlined) innermost->out->entry = symbol.entry;
}

}  // namespace

void demangle_function_name(const char* name, char* out, std::size_t capacity) {
  if (out == nullptr || capacity == 0) return;
  out[0] = '\0';
  if (name == nullptr) return;

  // Special names (_ZT: vtables, typeinfo, thunks; _ZG: guard variables, transaction clones)
  // demangle to phrases such as "non-virtual thunk to f()" that have no return type to remove.
  const std::string_view mangled = name;
  const bool is_special = mangled.starts_with("_ZT") || mangled.starts_with("_ZG");
  if (!is_mangled_name(mangled)) {
    copy_truncated(mangled, out, capacity);
    return;
  }

  // Room for a return type before a name that fills `out`.
  char demangled[2 * symbol_info::kFunctionCapacity];
  if (!demangle(name, demangled, sizeof demangled)) {
    // Invalid mangling, or (shared libstdc++ only) malloc failed: the mangled name still
    // identifies the function.
    copy_truncated(mangled, out, capacity);
    return;
  }
  const std::string_view text = demangled;
  copy_truncated(text.substr(is_special ? 0 : function_name_start(text)), out, capacity);
}

bool demangle(const char* mangled, char* out, std::size_t capacity) {
  if (out == nullptr || capacity == 0) return false;
  out[0] = '\0';
  if (mangled == nullptr) return false;

  if (__gcclibcxx_demangle_callback != nullptr) {
    demangle_output sink{out, capacity, 0};
    if (__gcclibcxx_demangle_callback(mangled, &append_demangled, &sink) != 0) {
      out[0] = '\0';
      return false;
    }
    return true;
  }

  int status = 0;
  char* heap = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  if (status != 0 || heap == nullptr) return false;
  copy_truncated(heap, out, capacity);
  std::free(heap);
  return true;
}

bool symbolize_pc(std::uintptr_t pc, symbol_info* out) {
  if (out == nullptr) return false;
  innermost_frame innermost{.out = out};
  for_each_logical_frame(shared_backtrace_state(), pc, keep_innermost_frame, &innermost);
  return out->function[0] != '\0' || out->file[0] != '\0' || out->entry != 0;
}

void symbolize_pc_frames(std::uintptr_t pc, void (*visit)(const symbol_info& symbol, void* context),
                         void* context) {
  for_each_logical_frame(shared_backtrace_state(), pc, visit, context);
}

bool is_runtime_frame(const symbol_info& symbol) {
  const std::string_view name = symbol.function;
  return name.starts_with("goro::rt::") || name.starts_with("goro::detail::") ||
         name.starts_with("goro_rt_");
}

void print_frames(line_buffer& out, int fd, const frame_record* frames, int n,
                  int traceback_level) {
  if (frames == nullptr || n <= 0) return;
  const frame_sequence sequence{frames, static_cast<std::size_t>(n), 0, nullptr, 0};
  print_sequence(out, fd, sequence, traceback_level);
}

void print_created_by(line_buffer& out, int fd, std::uintptr_t creator_pc,
                      std::int64_t parent_goid, int traceback_level) {
  if (creator_pc == 0) return;
  symbol_info symbol;
  // creator_pc is the return address of the call that created the goroutine.
  symbolize_pc(creator_pc - 1, &symbol);
  if (traceback_level < 2 && is_runtime_frame(symbol)) return;

  if (out.size() != 0) out.flush(fd);
  out.str("created by ");
  if (symbol.function[0] == '\0') {
    out.hex(creator_pc);
  } else {
    out.str(symbol.function);
  }
  if (parent_goid != 0) out.str(" in goroutine ").dec(parent_goid);
  end_line(out, fd);

  out.chr('\t');
  append_file_line(out, symbol);
  if (symbol.entry != 0 && creator_pc > symbol.entry) out.str(" +").hex(creator_pc - symbol.entry);
  end_line(out, fd);
}

[[gnu::noinline]] void print_current_stack(int fd, int skip, int traceback_level) {
  frame_record head[kHeadFrames];
  frame_record tail[kTailFrames];
  stack_ends ends{head, kHeadFrames, 0, tail, kTailFrames, 0, 0};
  // One more frame than asked: capture_stack_ends starts at its caller, this function.
  capture_stack_ends(&ends, std::clamp(skip, 0, INT_MAX - 1) + 1);

  const auto head_count = static_cast<std::size_t>(ends.head_count);
  const auto tail_count = static_cast<std::size_t>(ends.tail_count);
  const frame_sequence sequence{head, head_count, ends.depth - head_count - tail_count, tail,
                                tail_count};
  stack_line<kLineCapacity> out;
  print_sequence(out, fd, sequence, traceback_level);
}

bool symbolizer_has_libbacktrace() {
#if GORO_HAVE_LIBBACKTRACE
  return true;
#else
  return false;
#endif
}

}  // namespace goro::rt
