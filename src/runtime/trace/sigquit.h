// SIGQUIT's default behaviour, as Go's: print every goroutine, then exit with status 2.
// See sigquit.cc.
#pragma once

#include <atomic>

#include "runtime/sched/runtime2.h"

namespace goro::rt {

// Installs the SIGQUIT handler (once per run, at boot) and restores the previous disposition
// at the end of the run.
void install_sigquit_handler();
void restore_sigquit_handler();

// Set by the handler when a dumper thread must print the dump. sysmon polls it every round
// and an idle M after every wake-up, both with acquire loads that pair with the handler's
// store, so the dumper sees the whole record of the signal.
extern std::atomic<bool> sigquit_pending;

// Makes every later SIGQUIT a no-op: called when the process starts dying of a panic, a
// fatal error or a deadlock, whose own report must not interleave with a dump.
void sigquit_ignore();

// On an idle M's g0 after it wakes: prints the dump (and never returns) if the handler picked
// this M because sysmon was not running. One atomic load when no SIGQUIT is pending.
void sigquit_dump_if_idle_dumper(M* mp);

// On sysmon or on an idle M's g0, holding no P and no runtime lock: prints the dump for the
// received SIGQUIT and exits with status 2 (or aborts with GOTRACEBACK=crash).
[[noreturn]] void sigquit_dump(M* mp);

}  // namespace goro::rt
