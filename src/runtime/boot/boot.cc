// The bootstrap, in Go's order (rt0_go, schedinit, newproc, mstart, runtime.main), one named
// function per phase. GODEBUG=inittrace=1 prints one line per phase in Go's inittrace format,
// with the phase named as Go's function (runtime.osinit, ...):
//
//   init runtime.osinit @0.012 ms, 0.004 ms clock, 0 bytes, 0 allocs
//
// `@` is the phase's start since goro::run was entered, `clock` its duration, and bytes and
// allocs what the runtime allocated on the heap during it (goroutine stacks are reserved with
// mmap and are not counted).
//
// The bootstrap is lazy: goro::run does only what the main goroutine needs. It creates no
// thread (sysmon starts with the second goroutine or the first blocking call, other Ms when a
// goroutine is ready and a P is idle), installs only the SIGSEGV/SIGBUS handlers that report
// stack overflows and the SIGQUIT handler that prints the goroutine dump, and reads the
// cgroup CPU quota only when GOMAXPROCS is not set.
//
// Phases:
//   cpu gate      (rt0_go's GOAMD64 check) exit 1 if the CPU lacks an instruction-set
//                 feature the binary was compiled for, before any other goro code runs.
//   args          auxv: page size, AT_RANDOM, AT_SECURE.
//   osinit        CPU count from the affinity mask; huge page size; vm.max_map_count.
//   cpuinit       CPU features the runtime uses (AES for the hash).
//   alginit       the runtime hash, seeded from AT_RANDOM.
//   stackinit     stack guard policy and default size.
//   mallocinit    nothing yet: goro has no heap of its own at this point.
//   goargs        argc/argv kept for the runtime.
//   goenvs        the environment pointer kept for the runtime.
//   secure        AT_SECURE: GOTRACEBACK=none is forced, goro-only GODEBUG keys ignored.
//   checkfds      fds 0, 1, 2 reopened on /dev/null if closed.
//   parsedebugvars GODEBUG and GOTRACEBACK.
//   gomaxprocs    GOMAXPROCS, else Go 1.25's default (affinity capped by the cgroup quota).
//                 The default is computed when the second goroutine starts (its line is
//                 printed then), since until then one P is all the program can use.
//   procresize    the Ps; m0 takes P 0.
//   newproc       the main goroutine, in P 0's runnext.
//   mstart        m0's signal stack, fault and SIGQUIT handlers, and the scheduling loop.
//   runtime.main  on the main goroutine: the panic handler; sysmon if schedtrace asks.
//   main          the user's main starts.
#include "runtime/boot/boot.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "goro/runtime.hpp"
#include "runtime/boot/debugvars.h"
#include "runtime/netpoll/netpoll.h"
#include "runtime/os/auxv.h"
#include "runtime/os/checkfds.h"
#include "runtime/os/cpu_count.h"
#include "runtime/os/cpu_features.h"
#include "runtime/os/futex.h"
#include "runtime/os/hash.h"
#include "runtime/os/raw_syscall.h"
#include "runtime/os/sigqueue.h"
#include "runtime/os/vm_limits.h"
#include "runtime/pprof/cpu_profile.h"
#include "runtime/pprof/env_profile.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/longrun.h"
#include "runtime/sched/sanitizer.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/sysmon.h"
#include "runtime/stack/overflow.h"
#include "runtime/stack/stack.h"
#include "runtime/trace/sigquit.h"
#include "runtime/trace/exectrace.h"
#include "runtime/trace/schedhooks.h"
#include "runtime/trace/traceback.h"

namespace goro::rt {

void install_panic_handler();
void restore_panic_handler();
G* new_main_goroutine(P* pp, detail::main_entry entry, void* main);

namespace {

// --- inittrace ------------------------------------------------------------------------------

struct phase_trace {
  bool on = false;
  bool requested = false;  // GODEBUG=inittrace=1, for phases that run after main starts
  std::int64_t origin = 0;
  std::int64_t start = 0;
  std::size_t bytes = 0;
  std::size_t allocs = 0;
};
phase_trace trace;

void phase_begin() {
  if (!trace.on) return;
  trace.start = os::nanotime();
  trace.bytes = 0;
  trace.allocs = 0;
}

void phase_end(const char* name) {
  if (!trace.on) return;
  std::int64_t now = os::nanotime();
  print_line().str("init ").str(name).str(" @").ns_as_ms(trace.start - trace.origin)
      .str(" ms, ").ns_as_ms(now - trace.start).str(" ms clock, ").udec(trace.bytes)
      .str(" bytes, ").udec(trace.allocs).str(" allocs\n").flush();
}

template <class F>
void phase(const char* name, F&& f) {
  phase_begin();
  f();
  phase_end(name);
}

// --- Boot state -----------------------------------------------------------------------------

os::auxv_info auxv;
int argc_saved = 0;
char** argv_saved = nullptr;
char** envp_saved = nullptr;
int ncpu = 1;
std::int32_t procs = 1;

// Values of the environment variables boot reads, found in one pass over environ at the
// start of a run. getenv would scan the whole environment once for each of six look-ups,
// which with 37 variables cost about 1 000 of an empty program's 153 000 instructions.
// Each pointer is what getenv would return (the first definition), or null when unset.
struct run_env {
  const char* godebug = nullptr;
  const char* gotraceback = nullptr;
  const char* gomaxprocs = nullptr;
  const char* gorotrace = nullptr;
  const char* gorocpuprofile = nullptr;
};
run_env env;

// Stores in *slot a pointer to the value of `entry` ("NAME=value") if it defines `name` and
// no earlier entry did. It compares in a loop because strncmp would cost a symbol lookup.
inline void take_env(const char* entry, const char* name, std::size_t name_len,
                     const char** slot) {
  if (*slot != nullptr) return;
  for (std::size_t i = 0; i < name_len; ++i) {
    if (entry[i] != name[i]) return;  // also stops at the end of a shorter entry
  }
  if (entry[name_len] == '=') *slot = entry + name_len + 1;
}

void read_env() {
  env = run_env{};
  if (environ == nullptr) return;
  for (char** p = environ; *p != nullptr; ++p) {
    const char* entry = *p;
    if (entry[0] != 'G' || entry[1] != 'O') continue;  // every name below starts with GO
    take_env(entry, "GODEBUG", 7, &env.godebug);
    take_env(entry, "GOTRACEBACK", 11, &env.gotraceback);
    take_env(entry, "GOMAXPROCS", 10, &env.gomaxprocs);
    take_env(entry, "GOROTRACE", 9, &env.gorotrace);
    take_env(entry, "GOROCPUPROFILE", 14, &env.gorocpuprofile);
  }
}

// Reads GODEBUG's inittrace before anything is timed, as current Go reads GODEBUG early.
bool early_inittrace() {
  const char* godebug = env.godebug;
  if (godebug == nullptr) return false;
  const char* p = std::strstr(godebug, "inittrace=");
  while (p != nullptr) {
    if (p == godebug || p[-1] == ',') return p[10] >= '1' && p[10] <= '9';
    p = std::strstr(p + 1, "inittrace=");
  }
  return false;
}

void args() { auxv = os::read_auxv(); }

void osinit() {
  ncpu = os::affinity_cpu_count();
}

// cpuinit's result for alginit: CPUID exits to the hypervisor in a virtual machine, so the
// features are queried once per run.
bool cpu_aes = false;

void cpuinit() { cpu_aes = os::cpu_has_aes(); }

void alginit() { os::alginit(auxv.random16, cpu_aes); }

void stackinit_phase() {
  rt::stackinit(auxv.page_size, debug.gorostackguard,
            static_cast<std::size_t>(debug.gorostacksize));
}

void mallocinit() {}

void goargs(int argc, char** argv) {
  argc_saved = argc;
  argv_saved = argv;
}

void goenvs() { envp_saved = environ; }

void secure() {
  if (auxv.secure) traceback_env = parse_gotraceback("none", true);
}

void parsedebugvars() {
  // GODEBUG was parsed in full before stackinit needed it; here GOTRACEBACK is applied.
  traceback_env = parse_gotraceback(env.gotraceback, auxv.secure);
}

// The default GOMAXPROCS needs the cgroup CPU quota, which costs a walk of
// /proc/self/mountinfo. Until a second goroutine exists one P is all the program can use, so
// the default is computed then (resolve_gomaxprocs), and boot starts with one P. With
// GOMAXPROCS set, or a single CPU, the answer is known at once.
std::atomic<bool> gomaxprocs_pending{false};
runtime_lock gomaxprocs_resolve_lock;

std::int32_t default_gomaxprocs_now() {
  os::cgroup_cpu_limit limit{};
  if (debug.containermaxprocs != 0) limit = os::read_cgroup_cpu_limit("/");
  std::int32_t n = os::default_gomaxprocs(ncpu, limit);
  return n > kMaxProcs ? kMaxProcs : n;
}

void gomaxprocs_phase() {
  int n = parse_gomaxprocs_env(env.gomaxprocs);
  if (n > 0) {
    procs = n > kMaxProcs ? kMaxProcs : n;
  } else if (ncpu <= 1) {
    procs = 1;
  } else {
    procs = 1;
    gomaxprocs_pending.store(true, std::memory_order_release);
  }
}

void procresize_phase() {
  sched.gomaxprocs.store(procs, std::memory_order_relaxed);
  procresize(procs, m0);
}

void mstart_phase() {
  init_g0(m0);
  if (running_under_sanitizer()) {
    // Only the sanitizers need the main thread's stack bounds; reading them costs a parse of
    // /proc/self/maps.
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &m0->g0_stack_lo, &m0->g0_stack_size);
      pthread_attr_destroy(&attr);
    }
  }
  minit_signals(m0);
  install_fault_handlers();
  install_sigquit_handler();
  pprof::cpu_profile_add_thread(m0);
}

// --- Run lifecycle --------------------------------------------------------------------------

std::atomic<bool> run_active{false};

// Resets the scheduler state for a new run, field by field. An M abandoned by the previous
// run (see shutdown) may still touch sched's atomics on its way to stale_m_park, so those get
// atomic stores; re-constructing the object would rewrite them with plain stores. The locks
// and notes are already released. nplain_active is kept: plain threads stay registered for
// the life of the thread, across runs.
void reset_sched() {
  constexpr auto relaxed = std::memory_order_relaxed;
  sched.midle = nullptr;
  sched.nmidle = 0;
  sched.nmidlelocked = 0;
  sched.mnext = 0;
  sched.nmsys = 0;
  sched.nmfreed = 0;
  sched.maxmcount = 10000;
  sched.pidle = nullptr;
  sched.npidle.store(0, relaxed);
  sched.nmspinning.store(0, relaxed);
  sched.needspinning.store(false, relaxed);
  sched.runq_head = nullptr;
  sched.runq_tail = nullptr;
  sched.runqsize.store(0, relaxed);
  sched.gfree = nullptr;
  sched.gfree_count = 0;
  sched.goidgen.store(0, relaxed);
  sched.ngoroutines.store(0, relaxed);
  sched.nblocking.store(0, relaxed);
  sched.gcwaiting.store(false, relaxed);
  sched.stopwait = 0;
  sched.stopnote.clear();
  sched.sysmon_started.store(false, relaxed);
  sched.sysmonwait.store(false, relaxed);
  sched.sysmonnote.clear();
  sched.timer_m = nullptr;
  sched.timer_m_until = 0;
  sched.exiting.store(false, relaxed);
  sched.exit_status = 0;
  sched.m0_exit_note.clear();
  sched.allm = nullptr;
  sched.mcount_alive.store(0, relaxed);
  sched.allp.store(nullptr, relaxed);
  sched.allp_len.store(0, relaxed);
  sched.ntimers.store(0, relaxed);
  sched.gomaxprocs.store(0, relaxed);
  sched.start_time = 0;
  sched.lastpoll.store(0, relaxed);
  sched.poll_until.store(0, relaxed);
}

// After main returned: stop every M, wait for those in the scheduler to exit, and free the
// run's memory. Ms still running goroutine code or blocked in goro::blocking() cannot be
// stopped (goro has no preemption); they are abandoned as Go abandons goroutines at exit,
// and the memory they might touch is kept.
void shutdown() {
  // Wake idle Ms and sysmon. Each finds `exiting` set and exits its thread.
  {
    std::lock_guard<runtime_lock> guard(sched.lock);
    for (M* mp = sched.midle; mp != nullptr; mp = mp->schedlink) mp->park.wakeup();
    for (M* mp = sched.allm; mp != nullptr; mp = mp->alllink) {
      if (!mp->is_m0 && mp->blocked.load(std::memory_order_relaxed)) mp->park.wakeup();
    }
  }
  sched.sysmonnote.wakeup();
  netpoll_break();  // an M blocked in the poller

  // Wait for every other M to exit, for at most a second: an M that does not is running
  // goroutine code that never reaches a scheduling point, or is blocked in a call.
  constexpr std::int64_t kShutdownWaitNs = 1'000'000'000;
  std::int64_t deadline = 0;  // read from the clock only if another M is still alive
  auto* alive = reinterpret_cast<std::atomic<std::uint32_t>*>(&sched.mcount_alive);
  for (;;) {
    std::int32_t n = sched.mcount_alive.load(std::memory_order_acquire);
    if (n <= 1) break;
    if (deadline == 0) deadline = os::nanotime() + kShutdownWaitNs;
    std::int64_t left = deadline - os::nanotime();
    if (left <= 0) break;
    os::futex_wait(alive, static_cast<std::uint32_t>(n), left < 10'000'000 ? left : 10'000'000);
  }
  bool abandoned = sched.mcount_alive.load(std::memory_order_acquire) > 1;
  exectrace_run_end();

  restore_fault_handlers();
  restore_sigquit_handler();
  restore_longrun_handler();
  restore_panic_handler();
  pprof::cpu_profile_remove_thread(m0);
  unminit_signals(m0);
  setm(nullptr);

  if (!abandoned) {
    netpoll_shutdown();
    free_all_ps();
    for (M* mp = sched.allm; mp != nullptr;) {
      M* next = mp->alllink;
      if (!mp->is_m0) delete mp;
      mp = next;
    }
    stack_release_all(false);
  } else {
    // NOTE: threads still running abandoned goroutines keep the run's Ps, Ms and stacks
    // alive; that memory is not reused by later runs.
    stack_release_all(true);
  }
  delete m0;
  m0 = nullptr;
}

}  // namespace

void resolve_gomaxprocs(M* mp) {
  if (!gomaxprocs_pending.load(std::memory_order_acquire)) return;
  std::lock_guard<runtime_lock> guard(gomaxprocs_resolve_lock);
  if (!gomaxprocs_pending.load(std::memory_order_relaxed)) return;
  // The caller holds P 0, the only P, so no other M runs goroutines: procresize may grow allp
  // without stopping the world (sysmon reads allp lock-free by design).
  bool traced = trace.requested;
  if (traced) {
    trace.on = true;
    phase_begin();
  }
  std::int32_t n = default_gomaxprocs_now();
  if (n != sched.gomaxprocs.load(std::memory_order_relaxed)) {
    P* runnable = procresize(n, mp);
    if (runnable != nullptr) throw_bug("resolve_gomaxprocs: new P with work");
  }
  gomaxprocs_pending.store(false, std::memory_order_release);
  if (traced) {
    phase_end("runtime.gomaxprocs");
    trace.on = false;
  }
}

void note_alloc(std::size_t bytes) {
  // Allocations after the bootstrap (a later gomaxprocs resize) belong to no phase.
  if (!trace.on) return;
  trace.bytes += bytes;
  trace.allocs++;
}

int boot_argc() { return argc_saved; }
char** boot_argv() { return argv_saved; }
bool secure_mode() { return auxv.secure; }

void runtime_main() {
  phase_begin();
  install_panic_handler();
  if (debug.schedtrace > 0 || debug.gorolongrun > 0) ensure_sysmon();
  phase_end("runtime.main");
  phase_begin();
  phase_end("main");
  trace.on = false;
}

}  // namespace goro::rt

namespace goro::detail {

int run_main(int argc, char** argv, main_entry entry, void* main) {
  using namespace rt;

  // rt0_go's instruction-set gate comes first: nothing compiled for a newer CPU may run.
  os::check_cpu_or_exit();

  if (getm() != nullptr) {
    throw panic_error("goro::run: called from inside goro::run; start goroutines with goro::go");
  }
  bool expected = false;
  if (!run_active.compare_exchange_strong(expected, true)) {
    throw panic_error("goro::run: another thread is already inside goro::run; one runtime "
                      "runs at a time per process");
  }

  reset_sched();
  // No M takes acquire_p's fast path until this run's GODEBUG is known (below).
  fast_path_epoch.store(kNoFastPathEpoch, std::memory_order_relaxed);
  run_epoch.fetch_add(1, std::memory_order_relaxed);
  trace = phase_trace{};
  read_env();
  trace.on = early_inittrace();
  trace.requested = trace.on;
  gomaxprocs_pending.store(false, std::memory_order_relaxed);
  // The clock is read only for inittrace (here) and schedtrace (below). An empty program
  // then never calls clock_gettime, whose first call costs a symbol lookup of about 900
  // instructions.
  trace.origin = trace.on ? os::nanotime() : 0;

  phase("runtime.args", [] { args(); });
  reset_debug_vars(&debug);
  parse_godebug(env.godebug, auxv.secure);
  if (debug.schedtrace > 0) sched.start_time = trace.on ? trace.origin : os::nanotime();
  // Scheduler latency collection (goro::metrics) is off at the start of a run unless
  // GODEBUG=goroschedlatency=1 requests it.
  if (debug.goroschedlatency != 0) {
    latency_collect_since.store(os::nanotime(), std::memory_order_relaxed);
    sched_hooks.fetch_or(kHookLatency, std::memory_order_relaxed);
  } else {
    sched_hooks.fetch_and(~kHookLatency, std::memory_order_relaxed);
  }
  // The other slow-path reasons of this run (schedhooks.h). A dump's waitsince stamps and
  // the stop and exit of the previous run are over.
  sched_hooks.fetch_and(~(kHookLongrun | kHookMigrate | kHookWaitsince | kHookStopTheWorld |
                          kHookExiting),
                        std::memory_order_relaxed);
  if (debug.gorolongrun > 0) sched_hooks.fetch_or(kHookLongrun, std::memory_order_relaxed);
  if (debug.goromigrate != 0) sched_hooks.fetch_or(kHookMigrate, std::memory_order_relaxed);
  // A long runner that sysmon could not capture prints its own stack in acquire_p_slow, so
  // with gorolongrun every runtime entry takes that path.
  fast_path_epoch.store(debug.gorolongrun > 0 ? kNoFastPathEpoch
                                              : run_epoch.load(std::memory_order_relaxed),
                        std::memory_order_relaxed);
  phase("runtime.osinit", [] { osinit(); });
  phase("runtime.cpuinit", [] { cpuinit(); });
  phase("runtime.alginit", [] { alginit(); });
  phase("runtime.stackinit", [] { stackinit_phase(); });
  phase("runtime.mallocinit", [] { mallocinit(); });
  phase("runtime.goargs", [&] { goargs(argc, argv); });
  phase("runtime.goenvs", [] { goenvs(); });
  phase("runtime.secure", [] { secure(); });
  phase("runtime.checkfds", [] { os::checkfds(); });
  phase("runtime.parsedebugvars", [] { parsedebugvars(); });
  phase("runtime.gomaxprocs", [] { gomaxprocs_phase(); });

  m0 = new M;
  m0->id = sched.mnext++;
  m0->is_m0 = true;
  // Debuggers match an M to its thread by this id (tools/goro-gdb.py).
  m0->tid = static_cast<int>(os::raw_syscall(SYS_gettid));
  m0->thread = static_cast<unsigned long>(pthread_self());
  m0->epoch = run_epoch.load(std::memory_order_relaxed);
  m0->alllink = sched.allm;
  sched.allm = m0;
  sched.mcount_alive.store(1, std::memory_order_relaxed);
  setm(m0);
  exectrace_run_begin(env.gorotrace);

  phase("runtime.procresize", [] { procresize_phase(); });
  phase("runtime.newproc", [&] { new_main_goroutine(m0->p, entry, main); });
  phase_begin();
  mstart_phase();
  phase_end("runtime.mstart");
  pprof::start_env_cpu_profile(env.gorocpuprofile, auxv.secure);

  running_flag_set(true);
  schedule_loop(m0);
  running_flag_set(false);

  pprof::stop_env_cpu_profile();
  int status = sched.exit_status;
  // Before shutdown: goro::signal's receiver may still be readying goroutines of this run.
  os::signal_run_end();
  shutdown();
  run_active.store(false);
  return status;
}

}  // namespace goro::detail
