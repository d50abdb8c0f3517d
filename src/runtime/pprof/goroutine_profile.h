// The goroutine profile: the stacks of all goroutines, identical stacks grouped into one
// sample whose value is how many goroutines share it (Go's pprof.Lookup("goroutine")).
#pragma once

#include <string>

namespace goro::rt::pprof {

// Stops the world to collect the stacks, then encodes them. Returns an empty profile when
// called outside goro::run.
std::string encode_goroutine_profile();

}  // namespace goro::rt::pprof
