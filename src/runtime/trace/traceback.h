// Goroutine tracebacks in Go's format: headers, stacks of the current goroutine and of
// parked ones, and whole-program dumps. See traceback.cc.
#pragma once

#include "runtime/boot/debugvars.h"
#include "runtime/sched/runtime2.h"

namespace goro::rt {

// GOTRACEBACK as parsed at boot (parsedebugvars phase).
extern traceback_setting traceback_env;

// Prints the calling goroutine's stack (frames below the caller, skipping `skip` more).
void print_current_goroutine_stack(G* gp, int skip);

// "goroutine N [status]:" for gp; `running` forces the [running] state.
void print_goroutine_header(G* gp, bool running);

// Prints every user goroutine except `self` (level >= 2 adds runtime goroutines). Parked
// goroutines print their own stacks: the world must be stopped (no other M may switch
// goroutines), and the caller must hold no runtime lock that a woken goroutine could need.
// Goroutines running on other threads print only their header and a note.
void dump_other_goroutines(M* mp, G* self, int level, bool stacks_of_parked);

// Called by a parked goroutine that a dumper switched into (switch.cc).
void traceback_serve(G* gp);

}  // namespace goro::rt
