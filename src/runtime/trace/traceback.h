// Goroutine tracebacks in Go's format: headers, stacks of the current goroutine and of
// parked ones, and whole-program dumps. See traceback.cc.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/boot/debugvars.h"
#include "runtime/sched/runtime2.h"

namespace goro::rt {

// GOTRACEBACK as parsed at boot (parsedebugvars phase).
extern traceback_setting traceback_env;

// Prints the calling goroutine's stack (frames below the caller, skipping `skip` more).
void print_current_goroutine_stack(G* gp, int skip, int fd = 2);

// Go's header line, "goroutine N [status, M minutes, locked to thread]:", for gp to fd.
// `running` forces the [running] state. The minutes field appears for a waiting goroutine
// whose waitsince a dump has stamped at least a minute before `now` (0 reads the clock).
void print_goroutine_header(G* gp, bool running, int fd = 2, std::int64_t now = 0);

// Writes "created by F in goroutine K" and the creation site's file line for gp, unless gp
// is the main goroutine or has no recorded creator.
void print_goroutine_creator(G* gp, int level, int fd = 2);

// How dump_other_goroutines treats goroutines that are not running.
struct dump_options {
  int level = 1;  // GOTRACEBACK level: 2 and above add runtime goroutines and frames
  int fd = 2;
  // Parked goroutines print their own stacks (see traceback.cc). The world must be stopped
  // (no other M may switch goroutines), and the caller must hold no runtime lock that a
  // goroutine switched into could need.
  bool stacks_of_parked = false;
  // Runnable goroutines whose stacks are saved because they sit in a run queue, sorted by
  // address (see dump_world.h). A runnable goroutine outside this list may still be switching
  // away on another M, so it prints as running elsewhere.
  G* const* queued = nullptr;
  std::size_t queued_count = 0;
  // Goroutines whose status may be waiting although their registers are not saved, sorted by
  // address: after a freeze, those of Ms stopped inside the runtime on their stacks
  // (frozen_world, sched.h). They print as running elsewhere.
  G* const* unsaved = nullptr;
  std::size_t unsaved_count = 0;
  std::int64_t now = 0;  // clock for the minutes field; 0 reads it per header
};

// Prints every user goroutine except `self`, each after a blank line (runtime goroutines too
// at level 2 and above). Goroutines running on other threads print their header and Go's
// "stack unavailable" note.
void dump_other_goroutines(M* mp, G* self, const dump_options& options);

// Returns true when gp's stack is saved and no M can resume it while the world stays stopped:
// it is parked, or runnable in one of options.queued.
bool stack_is_saved(G* gp, const dump_options& options);

// Switches into gp, which must satisfy stack_is_saved, and has it store the return
// addresses of its own stack (innermost first, starting with the frame that called the
// scheduler's switch) in pcs[0..max). Returns how many it stored. Same rules as
// dump_options::stacks_of_parked.
int capture_parked_stack(M* mp, G* gp, std::uintptr_t* pcs, int max);

// Called by a parked goroutine that a dumper switched into (switch.cc).
void traceback_serve(G* gp);

}  // namespace goro::rt
