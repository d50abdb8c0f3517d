// Re-running goro-demo as a child process with GODEBUG set, to show goro's traces.
#pragma once

#include <string>

namespace demo {

// Runs this executable (/proc/self/exe) with `argument` as its only argument and GODEBUG set
// to `godebug`, and returns its stdout and stderr, in the order they reached one pipe.
// Stores the exit status in *status (128 + signal number if a signal killed the child).
// Throws std::system_error if the child cannot be started.
std::string run_self_with_godebug(const char* argument, const char* godebug, int* status);

}  // namespace demo
