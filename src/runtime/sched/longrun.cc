// Long-runner reports (GODEBUG=gorolongrun=N).
//
// goro's scheduling is cooperative, so a goroutine that computes for a long time without a
// scheduling point holds its thread (sysmon takes its P after 10 ms, so other goroutines
// still run). Such goroutines are worth knowing about. sysmon notices them, because their
// M's switch count stops moving, and prints the goroutine's id, how long it has run, and
// the stack it is running on at that moment:
//
//     goro: goroutine 7 has run 25ms without a scheduling point
//     goroutine 7 [running]:
//     busy_loop(int)
//     	/src/app.cc:12 +0x3c
//     created by main::{lambda()#1}::operator()() const in goroutine 1
//     	/src/app.cc:30 +0x88
//
// The stack is taken on the goroutine's own thread. sysmon sends that thread SIGURG (the
// signal Go uses to preempt), whose handler captures the interrupted stack's return
// addresses (interrupted_stack.h) and nothing more. sysmon then symbolises and prints them.
// The handler refuses when an exception is unwinding on that thread or a stack walk is already
// running there, because the unwinder must not run inside itself, and in ThreadSanitizer
// builds. Then, or when the goroutine reached a scheduling point before the signal landed,
// the goroutine is flagged instead and prints its own stack at its next scheduling point,
// which shows where the long run ended:
//
//     goro: goroutine 7 ran without a scheduling point; it stopped at:
//     <traceback>
//
// The SIGURG handler is installed with the first report (so a run without gorolongrun
// installs nothing) and removed at the end of the run. A SIGURG that is not sysmon's request
// goes to the handler installed before goro's, if any.
#include "runtime/sched/longrun.h"

#include <csignal>
#include <cerrno>
#include <pthread.h>

#include "runtime/boot/debugvars.h"
#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"
#include "runtime/trace/interrupted_stack.h"
#include "runtime/trace/symbolize.h"
#include "runtime/trace/traceback.h"

namespace goro::rt {

namespace {

// Frames kept of a long runner's stack (Go prints 100 before eliding).
constexpr int kLongrunFrames = 128;
// How long sysmon waits for the signalled thread to capture its stack. A running thread
// takes a signal at its next return to user mode, well within a millisecond on an idle
// machine; 200 ms leaves room for an overloaded one, whose thread may wait for a CPU.
constexpr std::int64_t kCaptureWaitNs = 200'000'000;
constexpr std::int64_t kCapturePollNs = 50'000;
// Long runners reported per sysmon round; the rest wait for the next round.
constexpr int kMaxReportsPerRound = 8;

// States of the capture request, in `request.state`.
enum capture_state : int {
  kIdle = 0,
  kRequested = 1,    // sysmon signalled request.m; the handler may claim it
  kCapturing = 2,    // the handler claimed it and is writing frames
  kCaptured = 3,     // frames hold the stack
  kUnavailable = 4,  // the handler could not capture safely
};

// The one capture in flight. sysmon fills m and g, then publishes kRequested (release). The
// handler claims it with a CAS and publishes its result (release). sysmon cancels an
// unclaimed request with a CAS back to kIdle, so the handler never writes after sysmon gave
// up.
struct capture_request {
  std::atomic<int> state{kIdle};
  M* m = nullptr;
  G* g = nullptr;
  int frame_count = 0;
  frame_record frames[kLongrunFrames];
};
capture_request request;

// Reports made this process (relaxed: a counter for tests and diagnostics).
std::atomic<std::uint64_t> reports_made{0};

struct sigaction old_urg;
bool handler_installed = false;

void chain_to_previous(int sig, siginfo_t* info, void* context) {
  if ((old_urg.sa_flags & SA_SIGINFO) != 0 && old_urg.sa_sigaction != nullptr) {
    old_urg.sa_sigaction(sig, info, context);
  } else if (old_urg.sa_handler != SIG_DFL && old_urg.sa_handler != SIG_IGN &&
             old_urg.sa_handler != nullptr) {
    old_urg.sa_handler(sig);
  }
  // SIGURG's default action is to ignore it.
}

void capture_handler(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  M* mp = getm();
  // Read request.m only after seeing kRequested (acquire), which orders it after sysmon's
  // write.
  int expected = request.state.load(std::memory_order_acquire);
  if (expected != kRequested || mp == nullptr || mp != request.m ||
      !request.state.compare_exchange_strong(expected, kCapturing, std::memory_order_acquire)) {
    chain_to_previous(sig, info, context);
    errno = saved_errno;
    return;
  }

  int n = 0;
  if (mp->curg.load(std::memory_order_relaxed) == request.g &&
      interrupted_outside_switch(mp, context)) {
    n = capture_interrupted_stack(request.frames, kLongrunFrames);
  }
  request.frame_count = n;
  request.state.store(n > 0 ? kCaptured : kUnavailable, std::memory_order_release);
  errno = saved_errno;
}

void install_capture_handler() {
  if (handler_installed) return;
  struct sigaction sa {};
  sa.sa_sigaction = &capture_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGURG, &sa, &old_urg);
  handler_installed = true;
}

// Asks mp's thread for gp's stack. Returns true with request.frames filled, or false if the
// handler could not capture it in time (request.state is then back to kIdle).
bool capture_running_stack(M* mp, G* gp) {
  install_capture_handler();
  request.m = mp;
  request.g = gp;
  request.frame_count = 0;
  request.state.store(kRequested, std::memory_order_release);
  if (::pthread_kill(static_cast<pthread_t>(mp->thread), SIGURG) != 0) {
    request.state.store(kIdle, std::memory_order_relaxed);
    return false;
  }

  const std::int64_t deadline = os::nanotime() + kCaptureWaitNs;
  for (;;) {
    int state = request.state.load(std::memory_order_acquire);
    if (state == kCaptured || state == kUnavailable) {
      request.state.store(kIdle, std::memory_order_relaxed);
      return state == kCaptured;
    }
    if (state == kRequested && os::nanotime() >= deadline &&
        request.state.compare_exchange_strong(state, kIdle, std::memory_order_acquire)) {
      return false;  // the handler never claimed it, and now never will
    }
    os::usleep_ns(kCapturePollNs);
  }
}

struct long_runner {
  M* m;
  G* g;
  std::int64_t ran_ns;
};

void report(const long_runner& runner) {
  print_line().str("goro: goroutine ").dec(runner.g->goid).str(" has run ")
      .ns_as_ms(runner.ran_ns).str("ms without a scheduling point\n").flush();
  if (capture_running_stack(runner.m, runner.g)) {
    print_goroutine_header(runner.g, true);
    stack_line<512> out;
    print_frames(out, 2, request.frames, request.frame_count, traceback_env.level);
    print_goroutine_creator(runner.g, traceback_env.level);
  } else {
    // Let the goroutine print its own stack at its next scheduling point.
    runner.g->longrun_ns.store(runner.ran_ns, std::memory_order_relaxed);
  }
  reports_made.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void longrun_check(std::int64_t now, std::int64_t threshold_ns) {
  // Ms, not Ps: sysmon takes a long runner's P after a time slice, but the goroutine keeps
  // its M, whose switch count stands still until the goroutine reaches a scheduling point.
  long_runner found[kMaxReportsPerRound];
  int nfound = 0;
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    for (M* mp = sched.allm; mp != nullptr && nfound < kMaxReportsPerRound; mp = mp->alllink) {
      if (mp->is_sysmon) continue;
      std::uint32_t n = mp->nswitch.load(std::memory_order_relaxed);
      G* gp = mp->curg.load(std::memory_order_relaxed);
      if (n != mp->sysmon_nswitch || gp == nullptr) {
        mp->sysmon_nswitch = n;
        mp->sysmon_switchwhen = now;
        mp->sysmon_reported = false;
        continue;
      }
      if (mp->sysmon_reported || now - mp->sysmon_switchwhen < threshold_ns) continue;
      if (gp->status.load(std::memory_order_relaxed) != gstatus::running) continue;
      mp->sysmon_reported = true;
      found[nfound++] = long_runner{mp, gp, now - mp->sysmon_switchwhen};
    }
  }

  // Outside sched.lock: the capture waits for another thread.
  for (int i = 0; i < nfound; ++i) report(found[i]);
}

void longrun_note_preempted(P* pp, std::int64_t ran_ns) {
  (void)pp;
  (void)ran_ns;
}

void longrun_report_self(G* gp) {
  std::int64_t ns = gp->longrun_ns.exchange(0, std::memory_order_relaxed);
  if (ns == 0) return;
  print_line().str("goro: goroutine ").dec(gp->goid)
      .str(" ran without a scheduling point; it stopped at:\n").flush();
  print_current_goroutine_stack(gp, 0);
}

std::uint64_t longrun_reports() { return reports_made.load(std::memory_order_relaxed); }

void restore_longrun_handler() {
  if (!handler_installed) return;
  sigaction(SIGURG, &old_urg, nullptr);
  handler_installed = false;
}

}  // namespace goro::rt
