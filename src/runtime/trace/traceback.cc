// Goroutine tracebacks.
//
// A running goroutine's stack is unwound in place (libgcc's _Unwind_Backtrace, unwind.cc).
// A parked goroutine's stack cannot be unwound from another stack with the standard
// unwinder, which only walks the calling thread's own frames. goro therefore asks the parked
// goroutine to unwind itself: the dumper fills `job` (print to an fd, or capture the return
// addresses into a buffer), sets gp->traceback_request and switches to gp; gp resumes inside
// switch_to (switch.cc), sees the request, does the job, clears the flag and switches back
// to the dumper. The goroutine then stays parked exactly as before; its pending wake-up
// state is untouched. Because the unwinder runs on the goroutine's own stack, every frame the
// program's unwind tables describe is shown, with no frame pointers required, and the walk
// ends at the goroutine's first frame (the trampoline's CFI marks the return address
// undefined).
//
// This is only safe while no other M can resume the goroutine and its saved stack pointer is
// final: the dumper must have stopped the world (dump_world.h), or be the deadlock detector
// (every M idle). stack_is_saved() states which goroutines qualify. `job` has one user at a
// time for the same reason.
#include "runtime/trace/traceback.h"

#include <algorithm>

#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/waitreason.h"
#include "runtime/stack/stack.h"
#include "runtime/trace/symbolize.h"
#include "runtime/trace/syscall_stack.h"
#include "runtime/trace/unwind.h"

namespace goro::rt {

traceback_setting traceback_env;

namespace {

// What a parked goroutine does when a dumper switches into it (see the top of the file).
struct traceback_job {
  G* requester = nullptr;         // the G (or g0) to switch back to
  int fd = 2;                     // print mode: where the frames go
  int level = 1;                  // print mode: GOTRACEBACK level
  std::uintptr_t* pcs = nullptr;  // capture mode when set: where the return addresses go
  int max_pcs = 0;
  int stored_pcs = 0;             // capture mode result
};
traceback_job job;

constexpr std::int64_t kNanosPerMinute = 60'000'000'000;

// Frames read of a goroutine inside goro::blocking: Go prints at most 100 (50 innermost and
// 50 outermost), and a deeper stack loses its outermost frames here.
constexpr int kSyscallFrames = 128;

// Go's line for a goroutine whose stack cannot be read.
constexpr const char* kStackUnavailable =
    "\tgoroutine running on other thread; stack unavailable\n";

std::string_view status_string(const G* gp) {
  switch (gp->status.load(std::memory_order_acquire)) {
    case gstatus::idle: return "idle";
    case gstatus::runnable: return "runnable";
    case gstatus::running: return "running";
    case gstatus::syscall: return "syscall";
    case gstatus::waiting: {
      std::string_view reason = waitreason_string(gp->wait_reason.load(std::memory_order_relaxed));
      return reason.empty() ? std::string_view("waiting") : reason;
    }
    case gstatus::dead: return "dead";
  }
  return "???";
}

// Switches into gp with `job` filled in, and returns once gp has done it.
void serve_job_on(M* mp, G* gp) {
  gp->traceback_request = true;
  job.requester = mp->curg.load(std::memory_order_relaxed);
  if (job.requester == nullptr) job.requester = &mp->g0;
  mp->pending = after_switch::none;
  switch_to(mp, job.requester, gp);
}

// Prints the stack of gp, inside goro::blocking, from its saved frame pointer. Returns false
// if gp saved none. The world must be stopped (see syscall_stack.h).
bool print_syscall_stack(const G* gp, const dump_options& options) {
  frame_record frames[kSyscallFrames];
  const int n = capture_syscall_stack(gp, frames, kSyscallFrames);
  if (n == 0) return false;
  stack_line<512> out;
  print_frames(out, options.fd, frames, n, options.level);
  return true;
}

struct dump_state {
  M* mp;
  G* self;
  const dump_options* options;
};

void dump_one(G* gp, void* arg) {
  auto* st = static_cast<dump_state*>(arg);
  const dump_options& options = *st->options;
  if (gp == st->self) return;
  gstatus status = gp->status.load(std::memory_order_acquire);
  if (status == gstatus::dead || status == gstatus::idle) return;
  if (gp->is_system && options.level < 2) return;

  write_all("\n", options.fd);
  print_goroutine_header(gp, false, options.fd, options.now);
  if (status == gstatus::syscall && options.stacks_of_parked) {
    // Walked from the frame pointer it saved at goro::blocking's entry.
    if (!print_syscall_stack(gp, options)) write_all(kStackUnavailable, options.fd);
  } else if (status == gstatus::running || status == gstatus::syscall ||
             (options.stacks_of_parked && !stack_is_saved(gp, options))) {
    // A runnable G that is not queued yet is still switching away on another M.
    write_all(kStackUnavailable, options.fd);
  } else if (options.stacks_of_parked && gp->started && gp->sched_sp != nullptr) {
    job.fd = options.fd;
    job.level = options.level;
    job.pcs = nullptr;
    serve_job_on(st->mp, gp);
  }
  print_goroutine_creator(gp, options.level, options.fd);
}

}  // namespace

void print_goroutine_header(G* gp, bool running, int fd, std::int64_t now) {
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
  const gstatus status = gp->status.load(std::memory_order_acquire);
  line.str(" [").str(running ? std::string_view("running") : status_string(gp));

  // Go prints whole minutes, from 1 up, always with the plural word.
  const std::int64_t since = gp->waitsince.load(std::memory_order_relaxed);
  if (!running && since != 0 && (status == gstatus::waiting || status == gstatus::syscall)) {
    if (now == 0) now = os::nanotime();
    const std::int64_t minutes = (now - since) / kNanosPerMinute;
    if (minutes >= 1) line.str(", ").dec(minutes).str(" minutes");
  }

  if (gp->lockedm != nullptr) line.str(", locked to thread");
  line.str("]:\n").flush(fd);
}

void print_goroutine_creator(G* gp, int level, int fd) {
  if (gp->is_main || gp->creator_pc == nullptr) return;
  stack_line<512> out;
  print_created_by(out, fd, reinterpret_cast<std::uintptr_t>(gp->creator_pc), gp->parent_goid,
                   level);
}

void print_current_goroutine_stack(G* gp, int skip, int fd) {
  print_current_stack(fd, skip + 1, traceback_env.level);
  if (gp != nullptr) print_goroutine_creator(gp, traceback_env.level, fd);
}

bool stack_is_saved(G* gp, const dump_options& options) {
  switch (gp->status.load(std::memory_order_acquire)) {
    case gstatus::waiting:
      // park() changes the status while its M holds a P in status running, so once the
      // world is stopped every parked G has finished switching away. A frozen world may
      // leave such an M blocked on the way (dump_options::unsaved).
      return !std::binary_search(options.unsaved, options.unsaved + options.unsaved_count, gp);
    case gstatus::runnable:
      // A runnable G is switching away until whoever made it runnable has queued it.
      return std::binary_search(options.queued, options.queued + options.queued_count, gp);
    default:
      return false;
  }
}

int capture_parked_stack(M* mp, G* gp, std::uintptr_t* pcs, int max) {
  if (!gp->started || gp->sched_sp == nullptr || pcs == nullptr || max <= 0) return 0;
  job.pcs = pcs;
  job.max_pcs = max;
  job.stored_pcs = 0;
  serve_job_on(mp, gp);
  job.pcs = nullptr;
  return job.stored_pcs;
}

void dump_other_goroutines(M* mp, G* self, const dump_options& options) {
  dump_state st{mp, self, &options};
  for_each_stack_slot(&dump_one, &st);
}

[[gnu::noinline]] void traceback_serve(G* gp) {
  // Frames: traceback_serve, switch_to, then whatever parked. Runtime frames are hidden
  // below level 2 anyway; skip ours at every level.
  constexpr int kOwnFrames = 2;
  if (job.pcs != nullptr) {
    job.stored_pcs = capture_stack(job.pcs, job.max_pcs, kOwnFrames);
  } else {
    print_current_stack(job.fd, kOwnFrames, job.level);
  }
  gp->traceback_request = false;
  M* mp = getm();
  mp->pending = after_switch::none;
  // Back to the dumper. When a later dump or the waker resumes gp, this returns into the
  // loop of the switch_to that gp parked in, which serves the next dump or finishes.
  switch_context(mp, gp, job.requester);
}

}  // namespace goro::rt
