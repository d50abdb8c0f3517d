// The runtime's three error tiers, decided once (Go's panic / fatal / throw):
//
//   panic_error  misuse that Go turns into a recoverable panic (send on a closed channel, a
//                negative wait-group counter): a C++ exception of type goro::panic_error.
//                If nothing catches it, the goroutine's panic report follows (panic.cc).
//   fatal()      unrecoverable errors caused by the program (deadlock, unlock of an unlocked
//                mutex, stack overflow): "fatal error: <msg>", the goroutine tracebacks the
//                GOTRACEBACK level asks for, exit status 2.
//   throw_bug()  a broken runtime invariant: "fatal error: <msg>" with every goroutine at
//                traceback level 2, exit status 2. Messages are constant
//                "function: condition" strings.
//
// Detail lines go out first, with a "runtime: " prefix, through print_line(). Nothing on
// these paths allocates or takes a lock that the failing code might hold.
#pragma once

#include <string_view>

#include "runtime/trace/print.h"

namespace goro::rt {

[[noreturn]] void fatal(std::string_view msg);
[[noreturn]] void throw_bug(std::string_view msg);

// A line buffer on the caller's stack, flushed to fd 2 with .flush().
inline stack_line<512> print_line() { return stack_line<512>{}; }

}  // namespace goro::rt
