// Profiles in the pprof format, with the names of Go's runtime/pprof: a CPU profile sampled
// by SIGPROF, a goroutine profile, and block and mutex contention profiles. Every profile is
// an uncompressed profile.proto message that `go tool pprof` reads directly. Function names,
// files and lines are resolved when the profile is written, so pprof needs no binary:
//
//     std::ofstream out("cpu.pprof", std::ios::binary);
//     goro::pprof::start_cpu_profile(out);
//     work();
//     goro::pprof::stop_cpu_profile();  // writes the profile to `out`
//
//     $ go tool pprof -top cpu.pprof
//
// With the environment variable GOROCPUPROFILE=path, goro::run profiles the whole run and
// writes the profile to `path` when it returns. docs/diagnostics.md lists the details.
//
// Every function but write_goroutine_profile may be called from goroutines and from plain
// threads, inside or outside goro::run. The CPU profile samples only goro::run's threads (Ms).
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>

#include "goro/export.hpp"

namespace goro::pprof {

// A profile could not be started or written. what() names the profile, what failed and, for
// a file, its path and the system error.
class GORO_EXPORT profile_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~profile_error() override;
};

// Starts the CPU profile: every goro thread gets a SIGPROF timer on its own CPU clock, at
// the rate set by set_cpu_profile_rate (100 Hz by default). Samples are kept in memory and
// written to `out` by stop_cpu_profile, so `out` must stay valid until then. Throws
// profile_error "cpu profiling already in use" if a CPU profile is running, and profile_error
// if `out` is in a failed state.
GORO_EXPORT void start_cpu_profile(std::ostream& out);

// Same as above, writing to the file at `path` (created or truncated now). Throws
// profile_error if the file cannot be opened.
GORO_EXPORT void start_cpu_profile(const std::string& path);

// Stops the CPU profile and writes it. Does nothing if no CPU profile is running, as Go's
// StopCPUProfile. Throws profile_error if writing fails; the profile is stopped either way.
GORO_EXPORT void stop_cpu_profile();

// Sets the sampling rate, in samples per second of CPU time per thread, for the next
// start_cpu_profile. Throws goro::panic_error for hz outside 1..1000000, and profile_error
// if a CPU profile is running (Go: "cannot set cpu profile rate until previous profile has
// finished").
GORO_EXPORT void set_cpu_profile_rate(int hz);

// Writes the stacks of all goroutines, identical stacks grouped with a count (Go's
// pprof.Lookup("goroutine")). Stops the world while it collects them. Must be called from a
// goroutine: throws goro::panic_error otherwise. Throws profile_error if writing fails.
GORO_EXPORT void write_goroutine_profile(std::ostream& out);

// Writes the block profile: where goroutines and threads waited on a channel, select,
// mutex, wait group or condition variable, and for how long. Recording is off until
// set_block_profile_rate turns it on. Throws profile_error if writing fails.
GORO_EXPORT void write_block_profile(std::ostream& out);

// Writes the mutex profile: the stacks that unlocked a contended goro::mutex and how long
// the waiters they released had waited. Recording is off until set_mutex_profile_fraction
// turns it on. Throws profile_error if writing fails.
GORO_EXPORT void write_mutex_profile(std::ostream& out);

// Go's runtime.SetBlockProfileRate: records on average one blocking event per `rate`
// nanoseconds spent blocked. 1 records every event, 0 or less turns recording off (the
// default). Events already recorded stay in the profile.
GORO_EXPORT void set_block_profile_rate(int rate);

// Go's runtime.SetMutexProfileFraction: records on average 1 in `fraction` contention
// events; 0 turns recording off (the default), and a negative value changes nothing.
// Returns the previous fraction.
GORO_EXPORT int set_mutex_profile_fraction(int fraction);

}  // namespace goro::pprof
