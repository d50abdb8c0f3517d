// Goroutine profile; see goroutine_profile.h.
#include "runtime/pprof/goroutine_profile.h"

#include "goro/pprof.hpp"

namespace goro::rt::pprof {

std::string encode_goroutine_profile() {
  // TODO: build from rt::snapshot_goroutines() (trace/snapshot.h) once it exists.
  throw goro::pprof::profile_error("pprof: the goroutine profile is not implemented yet");
}

}  // namespace goro::rt::pprof
