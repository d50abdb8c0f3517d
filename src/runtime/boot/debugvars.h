// GODEBUG, GOTRACEBACK and GOMAXPROCS: the environment knobs read at start-up.
//
// Model: one table (debug_var_table) lists every GODEBUG key goro honours, with its default,
// accepted range and a one-line doc, and names the debug_vars field it sets. Go's runtime keys
// keep Go's names and meanings. goro's own keys start with "goro", a prefix no Go key uses, so
// a GODEBUG string shared with Go programs means the same to both.
//
// Parsing follows Go's parsedebugvars (runtime1.go): GODEBUG is "name=value,name=value", entries
// are applied left to right so a later entry wins, and an entry without '=', with an unknown
// name or with a value that is not a valid number in the key's range is skipped without a
// message. In secure mode (set-user-ID or set-group-ID start, AT_SECURE) goro's own keys are
// skipped, because they change memory layout and scheduling in ways an unprivileged caller
// should not control for a privileged program; Go's keys are still honoured, as in Go.
//
// Nothing here allocates: values are `const char*` from getenv, parsed in place.
//
// Threading: the bootstrap writes `debug` before a second thread exists; afterwards it is
// read-only, so readers need no synchronisation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goro::rt {

// Values of the GODEBUG keys. The defaults here are the `default_value`s of the table, which
// is checked against them at compile time.
struct debug_vars {
  // Go's runtime keys.
  std::int32_t inittrace = 0;           // 1: print one line per init phase
  std::int32_t schedtrace = 0;          // N > 0: print a SCHED line every N ms
  std::int32_t scheddetail = 0;         // 1 with schedtrace: also print every P, M and G
  std::int32_t gctrace = 0;             // 1: print one line per garbage collection
  std::int32_t asyncpreemptoff = 0;     // 1: no signal-based preemption
  std::int32_t madvdontneed = 1;        // 1: MADV_DONTNEED, 0: MADV_FREE for freed memory
  std::int32_t containermaxprocs = 1;   // 1: cgroup CPU quota lowers default GOMAXPROCS
  std::int32_t updatemaxprocs = 1;      // 1: sysmon re-evaluates default GOMAXPROCS
  std::int32_t tracebackancestors = 0;  // N: tracebacks show N creating goroutines' stacks

  // goro's own keys.
  std::int32_t goromigrate = 0;                  // 1: move a goroutine to another thread at every park
  std::int64_t gorostacksize = 256 * 1024;       // default goroutine stack reservation, bytes
  std::int32_t gorolongrun = 0;                  // N > 0: report goroutines running > N ms
  std::int32_t gorostackguard = 2;               // 0 canary, 1 guard page per stack, 2 auto
  std::int32_t goroschedlatency = 0;             // 1: collect scheduler latencies from the start
  std::int64_t gorotracebuf = 64 << 20;         // execution trace buffer limit, bytes
};

// The process's GODEBUG values: defaults until the bootstrap calls parse_godebug.
[[gnu::visibility("hidden")]] extern debug_vars debug;

// The syntax of a key's value.
enum class debug_value_kind : std::uint8_t {
  integer,     // decimal with optional '-', as Go's atoi
  byte_count,  // decimal with an optional suffix: B, K/KiB, M/MiB, G/GiB (binary units)
};

// One GODEBUG key. Exactly one of field32 and field64 is set.
struct debug_var {
  const char* name;
  const char* doc;  // one line: what the value sets, with its unit
  std::int64_t default_value;
  std::int64_t min_value;  // values outside [min_value, max_value] are ignored
  std::int64_t max_value;
  std::int32_t debug_vars::*field32;
  std::int64_t debug_vars::*field64;
  debug_value_kind kind;
  bool goro_only;  // a goro key (name starts with "goro"): ignored in secure mode
};

// Returns the table of GODEBUG keys and stores its length in *count.
const debug_var* debug_var_table(std::size_t* count);

// Sets every field of *vars to its default.
void reset_debug_vars(debug_vars* vars);

// Applies a GODEBUG value (nullptr or "" changes nothing) on top of the current values of
// *vars. Does not reset first: call reset_debug_vars for a fresh start.
void parse_godebug(debug_vars* vars, const char* value, bool secure_mode);

// parse_godebug on the global `debug`.
void parse_godebug(const char* value, bool secure_mode);

// The GOTRACEBACK setting (Go's traceback_cache, decoded).
struct traceback_setting {
  int level = 1;       // 0: no traceback, 1: user frames, 2 or more: also runtime frames
  bool all = false;    // print every user goroutine, not only the failing one
  bool crash = false;  // abort with SIGABRT (core dump) after printing
};

// Parses GOTRACEBACK as Go's setTraceback: "none" {0}, "single" or unset or "" {1},
// "all" {1, all}, "system" {2, all}, "crash" {2, all, crash}, and any other text {N, all}
// where N is its value as a non-negative integer, or 0 if it is not one ("0" is therefore
// {0, all}). In secure mode the result is "none" whatever the value, as Go forces
// GOTRACEBACK=none for set-user-ID programs.
traceback_setting parse_gotraceback(const char* value, bool secure_mode = false);

// Returns the GOMAXPROCS environment value if it is a decimal int32 greater than 0, else 0
// (unset, empty, "0", negative, not a number or too large: the default applies).
int parse_gomaxprocs_env(const char* value);

}  // namespace goro::rt
