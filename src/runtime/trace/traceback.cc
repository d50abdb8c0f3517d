// Goroutine tracebacks.
//
// A running goroutine's stack is unwound in place (libgcc's _Unwind_Backtrace, unwind.cc).
// A parked goroutine's stack cannot be unwound from another stack with the standard
// unwinder, which only walks the calling thread's own frames. goro therefore asks the parked
// goroutine to unwind itself: the dumper sets gp->traceback_request and switches to gp; gp
// resumes inside switch_to (switch.cc), sees the request, prints its header and frames, clears
// the flag and switches back to the dumper. The goroutine then stays parked exactly as
// before; its pending wake-up state is untouched. Because the unwinder runs on the
// goroutine's own stack, every frame the program's unwind tables describe is shown, with no
// frame pointers required, and the walk ends at the goroutine's first frame (the trampoline's
// CFI marks the return address undefined).
//
// This is only safe while no other M can ready or run the goroutine: the dumper must have
// stopped the world, or be the deadlock detector (every M idle).
#include "runtime/trace/traceback.h"

#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/waitreason.h"
#include "runtime/stack/stack.h"
#include "runtime/trace/symbolize.h"

namespace goro::rt {

traceback_setting traceback_env;

namespace {

// The G (or g0) waiting for a parked goroutine to finish printing its stack.
G* traceback_requester = nullptr;

std::string_view status_string(const G* gp) {
  switch (gp->status.load(std::memory_order_acquire)) {
    case gstatus::idle: return "idle";
    case gstatus::runnable: return "runnable";
    case gstatus::running: return "running";
    case gstatus::syscall: return "syscall";
    case gstatus::waiting: {
      std::string_view reason = waitreason_string(gp->wait_reason);
      return reason.empty() ? std::string_view("waiting") : reason;
    }
    case gstatus::dead: return "dead";
  }
  return "???";
}

void print_creator(G* gp, int level) {
  if (gp->is_main || gp->creator_pc == nullptr) return;
  stack_line<512> out;
  print_created_by(out, 2, reinterpret_cast<std::uintptr_t>(gp->creator_pc), gp->parent_goid,
                   level);
}

struct dump_state {
  M* mp;
  G* self;
  int level;
  bool stacks;
};

void dump_one(G* gp, void* arg) {
  auto* st = static_cast<dump_state*>(arg);
  if (gp == st->self) return;
  gstatus status = gp->status.load(std::memory_order_acquire);
  if (status == gstatus::dead || status == gstatus::idle) return;
  if (gp->is_system && st->level < 2) return;

  write_all("\n");
  print_goroutine_header(gp, false);
  if (status == gstatus::running || status == gstatus::syscall) {
    write_all("\tgoroutine running on other thread; stack unavailable\n");
  } else if (st->stacks && gp->started && gp->sched_sp != nullptr) {
    // Ask the goroutine to print its own frames (see the comment at the top).
    gp->traceback_request = true;
    traceback_requester = st->mp->curg.load(std::memory_order_relaxed);
    if (traceback_requester == nullptr) traceback_requester = &st->mp->g0;
    st->mp->pending = after_switch::none;
    switch_to(st->mp, traceback_requester, gp);
  }
  print_creator(gp, st->level);
}

}  // namespace

void print_goroutine_header(G* gp, bool running) {
  auto line = print_line();
  line.str("goroutine ").dec(gp->goid);
  if (traceback_env.level >= 2) {
    line.str(" gp=").hex(reinterpret_cast<std::uintptr_t>(gp)).str(" m=");
    if (gp->m != nullptr && running) {
      line.dec(gp->m->id);
    } else {
      line.str("nil");
    }
  }
  line.str(" [").str(running ? std::string_view("running") : status_string(gp));
  if (gp->lockedm != nullptr) line.str(", locked to thread");
  line.str("]:\n").flush();
}

void print_current_goroutine_stack(G* gp, int skip) {
  print_current_stack(2, skip + 1, traceback_env.level);
  if (gp != nullptr) print_creator(gp, traceback_env.level);
}

void dump_other_goroutines(M* mp, G* self, int level, bool stacks_of_parked) {
  dump_state st{mp, self, level, stacks_of_parked};
  for_each_stack_slot(&dump_one, &st);
}

void traceback_serve(G* gp) {
  // Frames: traceback_serve, switch_to, then whatever parked. Runtime frames are hidden
  // below level 2 anyway; skip ours at every level.
  print_current_stack(2, 2, traceback_env.level);
  gp->traceback_request = false;
  M* mp = getm();
  mp->pending = after_switch::none;
  switch_to(mp, gp, traceback_requester);
}

}  // namespace goro::rt
