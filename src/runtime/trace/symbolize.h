// Symbolisation and Go-format printing of captured stacks.
//
// Model: a physical frame (one return address) expands into one or more logical frames, one
// per function inlined at that address plus the function that contains it, innermost first,
// as Go's traceback shows them. Each logical frame prints as two lines:
//
//   ns::worker(int)
//   	/path/to/file.cc:42 +0x1c
//
// The first line is the demangled function name without its return type. The second has the
// file and line of the call (or of the interrupted instruction in a signal frame) and, for
// the physical frame only, `+0x<pc - function entry>` with pc the return address, as Go
// prints it. At traceback level 2 and above the physical frame's line also ends with
// ` fp=0x.. sp=0x.. pc=0x..`, and runtime frames (`is_runtime_frame`) are shown. Below level
// 2 they are hidden, and so is the kernel's signal-return trampoline. A stack of more than
// 100 printed frames shows the innermost 50, `...N frames elided...` and the outermost 50.
// A C function's name, which has no parameter list, gets `()` as in Go. A function that cannot
// be named prints as `0x<pc>()`, and an unknown file as `?:0`.
//
// Sources, in order: GCC's libbacktrace, linked statically when cmake/backtrace.cmake finds
// it, reads DWARF for names, files, lines and inlining, and the ELF symbol table for names and
// entries. dladdr then supplies names and entries of exported symbols. Names are demangled
// with libstdc++'s demangler (see demangle).
//
// Invariants and costs:
//   * Nothing is set up at start-up. The first symbolisation creates the libbacktrace state
//     (threaded, shared by all threads, never freed) and reads the debug information with
//     mmap. That took about 0.1 s for goro's debug test binaries and grows with binary size.
//   * Nothing here throws, and printing takes no lock, so concurrent tracebacks interleave by
//     line. libbacktrace allocates with mmap, not malloc.
//   * Nothing here calls malloc where libstdc++ is linked statically (the default for
//     executables), so a fault inside malloc, which holds the arena lock, still gets its
//     traceback. NOTE: with the shared libstdc++ (sanitizer builds, GORO_STATIC_LIBSTDCXX=OFF)
//     names are demangled with abi::__cxa_demangle, which calls malloc, and such a traceback
//     can deadlock.
//   * Printing uses about 9 KiB of stack itself (GCC 12 -O2, -fstack-usage), plus what
//     libbacktrace and the demangler use, which grows with the length of a mangled name. An
//     alternate signal stack that prints tracebacks should have 64 KiB or more.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/trace/print.h"
#include "runtime/trace/unwind.h"

namespace goro::rt {

// One logical frame: what symbolisation found for a code address.
struct symbol_info {
  // Long template names are cut to fit, and printing marks nothing about the cut.
  static constexpr std::size_t kFunctionCapacity = 1024;
  static constexpr std::size_t kFileCapacity = 512;

  char function[kFunctionCapacity];  // demangled, without return type; "" if unknown
  char file[kFileCapacity];          // source path as recorded in DWARF; "" if unknown
  int line;                          // 1-based; 0 if unknown
  std::uintptr_t entry;              // first instruction of the physical function; 0 if unknown
  bool inlined;                      // this function was inlined into another one at the address
};

// Fills `out` for the innermost logical frame at `pc` (an instruction address: pass
// `lookup_pc(frame)` for a captured frame) and returns true if a function name, a file or an
// entry was found. `out` is always fully written, with empty fields for what is unknown.
bool symbolize_pc(std::uintptr_t pc, symbol_info* out);

// Calls visit(symbol, context) for each logical frame at `pc`, innermost first: one per
// function inlined there, then the physical function (the only call with `inlined` false).
// Every call gets a fully written symbol_info, with empty fields for what is unknown.
void symbolize_pc_frames(std::uintptr_t pc, void (*visit)(const symbol_info& symbol, void* context),
                         void* context);

// Returns true for frames that Go hides below traceback level 2: functions in goro::rt or
// goro::detail, and the runtime's C-linkage entry points (prefix goro_rt_, such as the
// goroutine trampoline).
bool is_runtime_frame(const symbol_info& symbol);

// Writes frames[0..n) to fd in Go's traceback format, one line at a time through `out`,
// which is flushed after each line (text already in `out` goes first). traceback_level is GOTRACEBACK's level: 1 (single, all)
// hides runtime frames, 2 (system, crash) shows them with fp, sp and pc.
void print_frames(line_buffer& out, int fd, const frame_record* frames, int n,
                  int traceback_level);

// Writes Go's creator lines for a goroutine created by the call that returns to `creator_pc`:
//   created by ns::spawner() in goroutine 1
//   	/path/to/file.cc:10 +0x88
// parent_goid 0 leaves out " in goroutine N". Nothing is printed for a runtime creator below
// level 2. Go also leaves out the lines for goroutine 1; that is the caller's choice.
void print_created_by(line_buffer& out, int fd, std::uintptr_t creator_pc,
                      std::int64_t parent_goid, int traceback_level);

// Captures and prints the calling thread's stack to fd. With skip == 0 the first frame is the
// caller of print_current_stack. Safe in a std::terminate handler and, given enough stack, in
// a signal handler. Prints no goroutine header.
void print_current_stack(int fd, int skip, int traceback_level);

// Demangles an Itanium C++ ABI name into out (always NUL-terminated, cut to capacity) and
// removes the return type that the mangling of a function template specialisation carries.
// A name that is not mangled is copied as it is.
void demangle_function_name(const char* name, char* out, std::size_t capacity);

// Demangles an Itanium C++ ABI name, a function's (_Z prefix) or a type's (typeid's name),
// into out, always NUL-terminated and cut to capacity. Returns false, with out empty, for a
// name that is not a valid mangling. Allocates nothing where libstdc++ is linked statically;
// with the shared libstdc++ it calls abi::__cxa_demangle, which uses malloc.
bool demangle(const char* mangled, char* out, std::size_t capacity);

// Returns true when goro was built with libbacktrace. Without it, dladdr names only exported
// symbols, so functions local to the executable print as addresses, and no frame has a file
// or line.
bool symbolizer_has_libbacktrace();

}  // namespace goro::rt
