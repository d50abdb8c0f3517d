// GOROCPUPROFILE=path: a CPU profile of a whole goro::run, started at boot and written to
// `path` when goro::run returns. With the variable unset, boot only tests a null pointer.
#pragma once

namespace goro::rt::pprof {

// Starts the profile if `path` (GOROCPUPROFILE's value, null when unset) names a file.
// Ignored in a setuid or setgid program (AT_SECURE), which must not write to a path taken
// from its environment. Prints a warning and carries on without a profile if the file
// cannot be created.
void start_env_cpu_profile(const char* path, bool secure);

// Writes the profile if the one started above is still running.
void stop_env_cpu_profile();

}  // namespace goro::rt::pprof
