// Execution trace: what the scheduler did, as Chrome trace-event JSON that Perfetto
// (ui.perfetto.dev) and chrome://tracing open. Go's counterpart is runtime/trace.
//
//   goro::trace::start("run.trace.json");
//   ...                                   // the workload
//   goro::trace::stop();                  // writes the file
//
// The trace has one track per P, on which each run of a goroutine is a slice named "G<id>",
// and one track per thread (M) for goroutines that run or block in a call without a P.
// Instant events mark goroutine creation, blocking (with Go's wait reason, such as
// "chan receive"), unblocking, yields, preemption, blocking calls, Ps starting, stopping or
// being taken by sysmon, and threads starting and stopping. Arrows link a goroutine's
// creation and each unblocking to the run that follows. docs/diagnostics.md describes the
// format.
//
// GOROTRACE=path in the environment traces a whole goro::run and writes the file when
// goro::run returns.
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>

#include "goro/export.hpp"

namespace goro::trace {

// Thrown by start and stop when tracing is in the wrong state or the output fails.
class GORO_EXPORT trace_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~trace_error() override;
};

// Starts recording. Events are kept in memory (about 32 bytes each) and written to `out`
// by stop(), or when goro::run returns if stop() is never called, so `out` must outlive
// both. Memory is bounded by GODEBUG=gorotracebuf (64 MiB by default): at the limit the
// trace ends, and stop() prints to stderr how many later events were left out. Throws trace_error if `out` is already in a failed state, if tracing is already
// enabled (by start or GOROTRACE), or if called outside goro::run.
GORO_EXPORT void start(std::ostream& out);

// As start(std::ostream&), writing to the file at `path`, which is created or truncated
// now. Throws trace_error if the file cannot be opened.
GORO_EXPORT void start(const std::string& path);

// Stops recording and writes the trace. Throws trace_error if tracing is not enabled, or
// if writing failed (the trace is discarded).
GORO_EXPORT void stop();

// Returns whether a trace is recording.
GORO_EXPORT bool enabled();

}  // namespace goro::trace
