// The bootstrap: goro::run's path from the first instruction to the user's main, in Go's
// order. See boot.cc and docs/bootstrap.md.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goro::rt {

struct M;

// Called on the main goroutine just before the user's main (the runtime.main phase).
void runtime_main();
// Computes the default GOMAXPROCS if boot deferred it. In runtime mode, on a goroutine.
void resolve_gomaxprocs(M* mp);
// Bytes and allocations the runtime makes, attributed to the current boot phase by
// GODEBUG=inittrace=1.
void note_alloc(std::size_t bytes);

// Command line and environment as goro::run received them (goargs, goenvs).
int boot_argc();
char** boot_argv();

// True when the program started set-user-ID or set-group-ID (AT_SECURE), read at boot.
bool secure_mode();

}  // namespace goro::rt
