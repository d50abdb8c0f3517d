// The scheduler's data structures: G (goroutine), M (OS thread), P (processor) and the global
// scheduler state. This is goro's runtime2.go.
//
// Model (as Go's): a G runs only on an M that holds a P. There are exactly GOMAXPROCS Ps; an
// M without a P is idle, in a blocking call, or sysmon. Each P owns a local run queue of
// runnable Gs plus a `runnext` slot, a free list of dead Gs with their stacks, a goroutine-id
// batch and a timer heap. Gs that do not fit a local queue go to the global queue.
//
// goro's scheduling is cooperative: a G gives up its M only at scheduling points (runtime
// calls). sysmon compensates for a G that never reaches one by taking its P away, exactly as
// Go retakes the P of a G stuck in a system call (see "P ownership" below).
//
// P ownership. A P's `status` is the arbiter of who may touch the P's local state:
//   idle     on the idle list; owned by whoever holds sched.lock and takes it off.
//   running  its M is inside the runtime (scheduler loop or a runtime call). Only that M
//            touches the P. Nobody else may take it.
//   user     its M is running goroutine code. sysmon or stop-the-world may claim it with a
//            CAS user -> running (retake) or user -> gcstop. The M must win a CAS
//            user -> running before it touches the P again, at its next scheduling point; if
//            it loses, the P is gone and the M proceeds as after a blocking call.
//   syscall  its M is inside goro::blocking(). Claimed the same way as `user`, sooner.
//   gcstop   stopped for stop-the-world.
//   dead     beyond GOMAXPROCS after a resize.
// Every runtime entry point goes through `acquire_p()` (proc.cc) which performs that CAS, and
// every return to goroutine code goes through `release_p_to_user()`.
//
// G status transitions go through casgstatus(), which checks the old state.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <time.h>  // timer_t

#include "runtime/sched/lock.h"
#include "runtime/sched/waitreason.h"
#include "runtime/stack/stack.h"
#include "runtime/trace/latency_histogram.h"
#include "runtime/trace/tracebuf.h"

namespace goro::rt {

struct M;
struct P;

// G status values are Go's, so scheddetail prints the same numbers.
enum class gstatus : std::uint32_t {
  idle = 0,      // just allocated, not yet initialised
  runnable = 1,  // on a run queue (or about to be); not executing; stack owned by no M
  running = 2,   // executing on an M that owns a P (or has just lost it to sysmon)
  syscall = 3,   // executing a goro::blocking() call
  waiting = 4,   // parked; wait_reason gives the cause, and the party that readies it owns that transition
  dead = 6,      // exited; on a free list or in the middle of being reused
};

// Libstdc++'s per-thread exception state (__cxa_eh_globals): the stack of caught exceptions
// and the uncaught count. goro saves and restores it at every switch so that each goroutine
// has its own (see switch.cc).
struct eh_state {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
};

// NOTE: gfget (proc.cc) resets a reused G field by field; a new field needs a line there.
struct G {
  // Saved stack pointer while not running; meaningless while running. Written only by the
  // switch, on the M that runs the G.
  void* sched_sp = nullptr;
  goroutine_stack stack;

  // Atomic: read lock-free by ready() callers, dumps and checkdead; changed only through
  // casgstatus (acq_rel CAS).
  std::atomic<gstatus> status{gstatus::idle};
  std::int64_t goid = 0;

  // The M running this G; valid while running or in syscall. Written by that M.
  M* m = nullptr;
  // Set while the G is wired to an M by lock_os_thread. Written by the G itself.
  M* lockedm = nullptr;
  std::uint32_t locked_external = 0;  // lock_os_thread nesting depth

  // Intrusive link for the global run queue and free lists; protected by whichever lock
  // guards the list the G is on (sched.lock), or owned by the P for P-local lists.
  G* schedlink = nullptr;
  // The previous G in a stack pool's free list, whose next link is schedlink (stack.cc);
  // meaningful only while the G is in that list (stack_lock).
  G* pool_prev = nullptr;
  // The next G in carve order (for_each_stack_slot, stack.cc): stored once, with release,
  // when the next slot is carved, and kept when the G is reused. Gs are never removed while
  // a run lasts.
  std::atomic<G*> alllink{nullptr};

  // Why the G is waiting; written before it parks, read by dumps and checkdead. Relaxed: a
  // reader pairs it with the status, and a goroutine inside goro::blocking (or a plain
  // thread) may ready a G, clearing this, while a dump reads it with the world stopped.
  std::atomic<waitreason> wait_reason{waitreason::zero};
  // nanotime since when the G has waited, stamped lazily as Go's GC scan stamps it: a
  // goroutine dump stamps a waiting G that has none, ready() clears it, so a dump shows
  // minutes only for a wait that an earlier dump already saw. 0 = not stamped. While the G is
  // on a free list it holds the time it was freed (stack scavenger). Relaxed: a stale value
  // only misprints the minutes field.
  std::atomic<std::int64_t> waitsince{0};
  // nanotime when the G last became runnable, while scheduler latencies are collected
  // (schedhooks.cc); 0 otherwise. Written by the thread that makes the G runnable and read
  // by the M that runs it next, ordered by the run queue hand-off between them.
  std::int64_t runnable_since = 0;

  // Entry and closure; the closure lives at the top of the G's own stack.
  void (*entry)(void*) = nullptr;
  void* closure = nullptr;
  // Creation site, for "created by F in goroutine K".
  void* creator_pc = nullptr;
  std::int64_t parent_goid = 0;

  // Thread state that belongs to the goroutine, saved and restored at every switch.
  int saved_errno = 0;
  eh_state eh;

  // The M this G last parked on; with GODEBUG=goromigrate=1 it resumes on another one.
  M* last_m = nullptr;

  // Go's syscallpc and syscallbp: stored by enter_blocking before the status becomes
  // syscall (whose release store publishes them) and read by dumps while the status is
  // syscall. syscall_pc is the return address into enter_blocking's caller, and syscall_fp
  // that caller's frame pointer, from which the frame-pointer chain leads to the goroutine's
  // first frame (trace/syscall_stack.h). syscall_fp is 0 when the caller keeps no frame pointer.
  std::uintptr_t syscall_pc = 0;
  std::uintptr_t syscall_fp = 0;

  // A dumper requests that a parked G unwind its own stack (traceback.cc); set and cleared by the
  // dumper while the world is stopped.
  bool traceback_request = false;
  // Set by sysmon when GODEBUG=gorolongrun reported this G (ns it had run); the G prints its
  // stack at its next scheduling point and clears it.
  std::atomic<std::int64_t> longrun_ns{0};

  // Nesting depth of runtime_mode sections on this G; the P returns to status user when it
  // drops to 0. Owned by the G.
  std::int32_t runtime_depth = 0;
  // Nesting depth of goro::blocking calls; the G is in one while it is above 0 (syscall.cc).
  // Owned by the G.
  std::int32_t blocking_depth = 0;
  // Set while a runtime call made from inside goro::blocking has taken the G out of the
  // blocking state. The end of its outermost runtime section puts it back (syscall.cc).
  // Owned by the G.
  bool blocking_suspended = false;

  bool started = false;    // has run at least once (its stack contains real frames)
  // Must not run on m0 until cleared: set when the G is about to make a blocking call on the
  // thread that called goro::run, which has to stay free to return from it (syscall.cc).
  bool avoid_m0 = false;
  bool is_main = false;    // goroutine 1
  bool is_system = false;  // runtime-created, excluded from num_goroutine and checkdead

  // Sanitizer fiber state (unused in plain builds).
  void* asan_fake_stack = nullptr;
  void* tsan_fiber = nullptr;
};

// Work an M does right after a switch, on the incoming goroutine's stack, because it must
// happen only once the outgoing goroutine's registers are saved. Go does this on g0 with
// park_m/goexit0; goro switches goroutine to goroutine directly and does it here.
enum class after_switch : std::uint8_t {
  none,
  park,     // prev is waiting: run unlockf(prev, unlock_arg); a false result readies it again
  requeue,  // prev yielded: put it at the tail of the local run queue
  requeue_global,  // prev yielded with the P lost or the world stopping: global queue
  exit,     // prev is dead: return it and its stack to the free list
};

using unlock_fn = bool (*)(G* gp, void* arg);

struct M {
  // The M's scheduling goroutine, running on the thread's own stack.
  G g0;
  // The user G this M is running, or nullptr (written by the M itself; read by dumps).
  std::atomic<G*> curg{nullptr};
  // The P this M holds; only the M writes it (sysmon never does; it changes P.status).
  P* p = nullptr;
  // The P an M is handed when started or woken (written by the waker before note wakeup).
  P* nextp = nullptr;
  // The P the M had before a blocking call, tried first when the call returns.
  P* oldp = nullptr;

  std::int64_t id = 0;
  // The goro::run this M belongs to (run_epoch when it was created). An M abandoned at the
  // end of a run (still in goroutine code or a blocking call) that reaches the runtime during
  // a later run must not touch that run's state (stale_m_park, proc.cc).
  std::uint64_t epoch = 0;
  bool spinning = false;      // looking for work, counted in sched.nmspinning
  // Sleeping on `park`; written by the M, read by schedtrace and shutdown (relaxed).
  std::atomic<bool> blocked{false};
  bool is_sysmon = false;
  // The M of the thread that called goro::run (m0). A flag, not a comparison with the global
  // m0, so that an M abandoned at exit never reads that global while shutdown resets it.
  bool is_m0 = false;
  bool exiting = false;       // this thread exits at its next scheduling point

  // The G wired to this M by lock_os_thread, or nullptr.
  G* lockedg = nullptr;

  // Sleep/wakeup for an idle M.
  note park;
  // The runtime_lock this M sleeps on in its slow path, or nullptr. Written by the M itself
  // (release) and read by a freeze (freeze.cc), which treats an M blocked on sched.lock as
  // stopped once sched.lock is held for good.
  std::atomic<const runtime_lock*> lock_wait{nullptr};

  // after_switch work, see above.
  after_switch pending = after_switch::none;
  G* pending_g = nullptr;
  unlock_fn pending_unlock = nullptr;
  void* pending_arg = nullptr;
  // Why a pending requeue yields, as a trace_sched_reason: 0 (yield) unless spawn_turn set
  // it, which it does only while the switch hook is on. hook_switch reports it in the
  // go_sched event and resets it (this M only).
  std::uint8_t requeue_reason = 0;

  // Idle list link (sched.lock) and all-M list link (sched.lock, only grows).
  M* schedlink = nullptr;
  M* alllink = nullptr;

  // Thread identity and signal stack.
  unsigned long thread = 0;  // pthread_t
  int tid = 0;
  void* signal_stack = nullptr;

  // This thread's errno and libstdc++ exception globals (__cxa_eh_globals), whose addresses
  // are fixed for the thread's life. setm() stores them when the thread becomes this M, so a
  // switch swaps a goroutine's thread state without a TLS look-up (switch.cc).
  int* errno_location = nullptr;
  void* cxa_globals = nullptr;

  // Bounds of the g0 stack, for the sanitizers and overflow reports.
  void* g0_stack_lo = nullptr;
  std::size_t g0_stack_size = 0;

  // Per-M random state for steal order.
  std::uint64_t rand_state = 0;

  // CPU profiler state (pprof/cpu_profile.cc), guarded by its thread-registry lock: the
  // registry's list link, and this thread's SIGPROF timer while one is armed.
  M* cpuprof_link = nullptr;
  timer_t cpuprof_timer{};
  bool cpuprof_timer_armed = false;

  // Goroutine switches made by this M while GODEBUG=gorolongrun is on, counted by
  // hook_switch (the M writes, relaxed; sysmon reads). An M whose count does not move while
  // it has a current G is running one goroutine without a scheduling point (longrun.cc).
  std::atomic<std::uint32_t> nswitch{0};
  std::uint32_t sysmon_nswitch = 0;    // sysmon only
  std::int64_t sysmon_switchwhen = 0;  // sysmon only
  bool sysmon_reported = false;        // sysmon only

  // Execution trace buffer (exectrace.cc).
  trace_writer trace;
};

enum class pstatus : std::uint32_t {
  idle = 0,
  running = 1,
  syscall = 2,
  gcstop = 3,
  dead = 4,
  user = 5,  // goro-specific: see "P ownership"; printed as running (1) in scheddetail
};

// Local run queue size; a power of two so indices wrap with a mask (Go: 256).
inline constexpr std::uint32_t kRunqSize = 256;

// A goroutine that starts this many goroutines in a row on its P puts the P in a spawn
// burst (P::spawn_burst). A node of a goroutine tree, starting a few children, does not.
inline constexpr std::uint32_t kSpawnBurst = 16;

// Timer record, embedded in whatever waits (a sleeping G, a goro::timer). See time/timer.h.
struct timer;

// One entry of a P's timer heap, with a copy of the timer's `when` next to the pointer. The
// heap then compares entries in one array instead of loading each timer record, because
// records live in their owners' frames, usually on different goroutine stacks and pages.
// Sorted timer runs per P, beside its heap (see P::timer_run_head).
inline constexpr int kTimerRuns = 4;

struct timer_when {
  std::int64_t when;
  timer* t;
};

// P::state packs the owner M's id above the status byte, so a CAS by the owner fails if the
// P was taken away and handed back to it or to another M in between (no ABA).
inline constexpr std::uint64_t pstate(std::int64_t owner_id, pstatus s) {
  return (static_cast<std::uint64_t>(owner_id) << 8) | static_cast<std::uint64_t>(s);
}

// Owner id in P::state while sysmon holds a P it has just taken from a blocking call or a
// long runner, until handoffp passes it on. M ids count up from 0, so no M has this id, and
// an M that looks for pstate(its own id, running) never takes sysmon's claim for its own
// P. (Owner 0 here made ready() on m0, whose id is 0, queue a G on a P in hand-off.)
inline constexpr std::int64_t kSysmonOwnerId = std::int64_t{1} << 48;

// The queue a spawn loop yields to once it has queued a batch (P::spawn_yield).
enum class spawn_yield_kind : std::uint8_t { none, own_queue, global_queue };

struct P {
  std::int32_t id = 0;
  // Ownership word, see "P ownership" above. CAS acq_rel between owner and claimers;
  // plain stores with release when the owner changes it.
  std::atomic<std::uint64_t> state{pstate(0, pstatus::idle)};
  pstatus status() const {
    return static_cast<pstatus>(state.load(std::memory_order_acquire) & 0xff);
  }
  P* link = nullptr;  // idle list (sched.lock)
  M* m = nullptr;     // owning M; written under the ownership rules above

  // Incremented at every schedule (schedtick) and every blocking call (syscalltick); read by
  // sysmon relaxed to detect a P stuck on one G.
  std::atomic<std::uint32_t> schedtick{0};
  std::atomic<std::uint32_t> syscalltick{0};
  // Set by sysmon when the P's G has run a whole time slice; the G yields at its next
  // scheduling point (release_p_to_user) and clears it. Relaxed: a late observation only
  // delays the yield.
  std::atomic<bool> preempt{false};
  // sysmon's last observation (sysmon only).
  std::uint32_t sysmon_schedtick = 0;
  std::int64_t sysmon_schedwhen = 0;
  std::uint32_t sysmon_syscalltick = 0;
  std::int64_t sysmon_syscallwhen = 0;

  // Local run queue: a lock-free ring. The owner P writes runq_tail; anyone may advance
  // runq_head with a CAS (stealers). See runq.cc for the memory-order argument.
  std::atomic<std::uint32_t> runq_head{0};
  std::atomic<std::uint32_t> runq_tail{0};
  std::atomic<G*> runq[kRunqSize] = {};
  // A G to run next, ahead of the queue (owner writes; stealers may CAS it to nullptr).
  std::atomic<G*> runnext{nullptr};

  // Dead Gs of the default stack size, for reuse; each G lives at the top of its own stack
  // slot, so this is also the P's stack cache (owner P only).
  G* gfree = nullptr;
  std::int32_t gfree_count = 0;

  // Id of the goroutine that made the last goroutines spawned on this P (0 for none), and
  // how many it made in a row (owner P only; newproc_commit). An id is kept because G
  // records are reused at once, so the nodes of a goroutine tree would add up to one run.
  std::int64_t spawner_goid = 0;
  std::uint32_t spawn_run = 0;
  // Set by the owner when a spawn run reaches kSpawnBurst goroutines, cleared by the owner
  // when it finds its queue empty. While it is set, a thief may leave the P's queue alone
  // (burst_is_fast). Relaxed: a stale value costs a thief one watch or lets one steal
  // through early.
  std::atomic<bool> spawn_burst{false};
  // Cost per goroutine of the last spawn batch in nanoseconds, 0 if not measured in this
  // burst. Written by the owner (spawn_turn, findrunnable), read by thieves. Relaxed: an
  // old value only makes one thief decision on older data.
  std::atomic<std::uint32_t> burst_run_ns{0};
  // Timed batches in a row that were long, up to the one that sets burst_run_ns (owner only).
  std::uint32_t burst_long_batches = 0;
  // Set with `preempt` by a spawn loop once the queue contains a batch (owner P only), and
  // cleared by the yield. A loop of short goroutines yields to the tail of this P's queue
  // (spawn_turn), not to the global queue, from where another P would take it and spawn the
  // next batch away from this P's cached stacks. A loop of long ones yields to the global
  // queue, as a goroutine preempted by sysmon does.
  spawn_yield_kind spawn_yield = spawn_yield_kind::none;

  // Goroutine ids handed out in batches (owner P only).
  std::int64_t goid_cache = 0;
  std::int64_t goid_cache_end = 0;

  // Timers (timer.cc): a 4-ary min-heap ordered by `when`, plus kTimerRuns sorted runs,
  // intrusive lists that take a timer whose `when` is not before their tail's (most timers
  // are set for the same duration, so they arrive in order). All guarded by timers_lock,
  // because other Ps steal expired timers and goroutines on other Ps add timers here. A heap
  // entry's `when` equals its timer's `when` while the timer is in the heap.
  runtime_lock timers_lock;
  timer_when* timers = nullptr;
  std::int32_t timers_len = 0;
  std::int32_t timers_cap = 0;
  timer* timer_run_head[kTimerRuns] = {};
  timer* timer_run_tail[kTimerRuns] = {};
  std::int32_t timer_run_len = 0;  // timers in all the runs together
  // Earliest `when` of all the P's timers, 0 if it has none; read lock-free by findrunnable
  // (acquire/release).
  std::atomic<std::int64_t> timer0_when{0};

  // Scheduler latency histogram (latency_histogram.h), counting the Gs this P started while
  // latencies were collected. Only the owner M writes (a relaxed load and store, no locked
  // instruction); goro::metrics::read sums every P's counts with relaxed loads.
  std::atomic<std::uint64_t> latency_counts[kLatencyBuckets] = {};
};

// Global scheduler state, Go's `sched`.
// NOTE: reset_sched (boot.cc) resets it field by field between runs; a new field needs a line
// there.
struct schedt {
  // Guards: midle/nmidle/nmidlelocked, pidle/npidle writes, runq/runqsize, gfree, allm,
  // mnext, nmsys, nmfreed, and the stop-the-world fields.
  runtime_lock lock;

  M* midle = nullptr;
  std::int32_t nmidle = 0;
  std::int32_t nmidlelocked = 0;  // idle Ms waiting for their locked G
  std::int64_t mnext = 0;         // next M id; also the count of Ms ever created
  std::int32_t nmsys = 0;         // Ms that never run goroutines (sysmon)
  std::int32_t nmfreed = 0;       // Ms that exited
  std::int32_t maxmcount = 10000;

  P* pidle = nullptr;
  // Written under lock, read lock-free as a hint (relaxed) by wakep and spinning checks.
  std::atomic<std::int32_t> npidle{0};
  // Spinning Ms; read and written atomically (seq_cst where the "delicate dance" of
  // findrunnable depends on a StoreLoad order, see proc.cc).
  std::atomic<std::int32_t> nmspinning{0};
  std::atomic<bool> needspinning{false};

  // Global run queue (lock).
  G* runq_head = nullptr;
  G* runq_tail = nullptr;
  // Length of the global queue: written under lock, also read lock-free as a hint (relaxed)
  // by schedulers deciding whether to take the lock.
  std::atomic<std::int32_t> runqsize{0};

  // Global free Gs with stacks (lock).
  G* gfree = nullptr;
  std::int32_t gfree_count = 0;

  // Goroutine ids (atomic fetch_add of batches; relaxed, uniqueness is all that matters).
  std::atomic<std::int64_t> goidgen{0};

  // Live user goroutines (relaxed counter; num_goroutine reads it).
  std::atomic<std::int32_t> ngoroutines{0};

  // Gs in goro::blocking() and plain threads alive or blocked in goro primitives: checkdead
  // treats both as possible wakers.
  std::atomic<std::int32_t> nblocking{0};
  std::atomic<std::int32_t> nplain_active{0};

  // Stop-the-world.
  std::atomic<bool> gcwaiting{false};
  std::int32_t stopwait = 0;  // Ps still to stop (lock)
  note stopnote;

  // sysmon.
  std::atomic<bool> sysmon_started{false};
  std::atomic<bool> sysmonwait{false};
  note sysmonnote;
  runtime_lock sysmonlock;

  // Idle M waiting for the earliest timer: its deadline (0 = none). An M adding an earlier
  // timer wakes that M. Guarded by lock.
  M* timer_m = nullptr;
  std::int64_t timer_m_until = 0;

  // Exit of the main goroutine: set once, read by every scheduling point.
  std::atomic<bool> exiting{false};
  int exit_status = 0;
  // m0 wakes it when it leaves the scheduling loop at exit; main_goexit on another M waits.
  note m0_exit_note;

  // All Ms ever created in this run (all Gs: for_each_stack_slot).
  M* allm = nullptr;
  std::atomic<std::int32_t> mcount_alive{0};

  // Ps: allp[0..allp_len). Grown only with the world stopped, but sysmon and stealing Ms
  // read them lock-free: the array is published (release) before the larger length, and
  // readers load the length (acquire) before the array, so a reader that sees a length sees
  // an array at least that long. Old arrays stay allocated until the run ends.
  std::atomic<P**> allp{nullptr};
  std::atomic<std::int32_t> allp_len{0};
  // Pending timers in all heaps (relaxed counter; a hint for findrunnable and checkdead).
  std::atomic<std::int32_t> ntimers{0};
  std::atomic<std::int32_t> gomaxprocs{0};

  std::int64_t start_time = 0;    // nanotime at boot
  // Network poller (netpoll.cc). lastpoll is the nanotime of the last poll, or 0 while an M
  // is blocked in netpoll: the M that swaps it to 0 is the only one that may block there.
  // poll_until is that M's wake-up deadline (0 = none), read by wake_timer_m to decide
  // whether a new timer must interrupt the poll. Both seq_cst, because the poller's check
  // of the timers and a timer adder's check of lastpoll must not both miss each other.
  std::atomic<std::int64_t> lastpoll{0};
  std::atomic<std::int64_t> poll_until{0};
};

// Hidden visibility: only goro's own code refers to these, so in position-independent code
// the compiler reads them directly instead of loading their address from the GOT first, an
// instruction saved at every use on the scheduler's hot path. The other globals read there
// are declared hidden for the same reason.
[[gnu::visibility("hidden")]] extern schedt sched;
[[gnu::visibility("hidden")]] extern M* m0;
// Incremented by every goro::run (relaxed: an abandoned M only compares it with its own).
[[gnu::visibility("hidden")]] extern std::atomic<std::uint64_t> run_epoch;
// The epoch that acquire_p's fast path compares M::epoch with: run_epoch, or kNoFastPathEpoch,
// which no M has, while every runtime entry must take acquire_p_slow (during boot, and with
// GODEBUG=gorolongrun, whose checks live there). One comparison covers both the stale-M test
// and the diagnostic. Relaxed, as run_epoch. The bootstrap sets it.
[[gnu::visibility("hidden")]] extern std::atomic<std::uint64_t> fast_path_epoch;
inline constexpr std::uint64_t kNoFastPathEpoch = ~std::uint64_t{0};

// Upper bound for GOMAXPROCS (Go's is 2^20; goro's Ps carry a 2 KiB run queue each).
inline constexpr std::int32_t kMaxProcs = 1024;

inline std::int32_t allp_count() { return sched.allp_len.load(std::memory_order_acquire); }
inline P* allp_at(std::int32_t i) { return sched.allp.load(std::memory_order_acquire)[i]; }

}  // namespace goro::rt
