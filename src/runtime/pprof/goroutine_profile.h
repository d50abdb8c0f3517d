// The goroutine profile: the stacks of all goroutines, identical stacks grouped into one
// sample whose value is how many goroutines share it (Go's pprof.Lookup("goroutine")).
#pragma once

#include <string>

namespace goro::rt::pprof {

// Stops the world to collect the stacks (trace/snapshot.h), then encodes them. Must be called
// from a goroutine: throws goro::panic_error otherwise.
std::string encode_goroutine_profile();

}  // namespace goro::rt::pprof
