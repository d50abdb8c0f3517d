// SIGPROF timers, the signal handler's sample buffer and its reader; see cpu_profile.h.
#include "runtime/pprof/cpu_profile.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <ucontext.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/os/futex.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/sched/lock.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/fatal.h"

namespace goro::rt::pprof {

namespace {

// Frames kept per sample, Go's limit for CPU samples.
constexpr int kMaxSampleDepth = 64;
// Slots in the sample buffer. The reader empties it every kDrainInterval, so it overflows
// only if the threads take more than kSampleSlots samples in that time. At 100 Hz a busy
// thread takes 10 samples per drain, so that needs more than 100 threads busy at once.
constexpr std::uint32_t kSampleSlots = 1024;
constexpr std::chrono::milliseconds kDrainInterval{100};
constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

// Slot states. A handler claims an empty slot (CAS empty -> writing, acquire), fills it and
// publishes it (store full, release). The reader takes a full slot (load acquire), copies
// it and hands it back (store empty, release).
constexpr std::uint32_t kSlotEmpty = 0;
constexpr std::uint32_t kSlotWriting = 1;
constexpr std::uint32_t kSlotFull = 2;

struct sample_slot {
  std::atomic<std::uint32_t> state{kSlotEmpty};
  std::uint32_t depth = 0;
  std::int64_t goid = 0;  // 0: no goroutine was running
  std::uintptr_t pcs[kMaxSampleDepth];
};

struct sample_buffer {
  sample_slot slots[kSampleSlots];
  // Next slot to try (relaxed: only spreads writers over the slots).
  std::atomic<std::uint32_t> next{0};
  // Samples dropped because the slot a handler drew was not empty (relaxed counter).
  std::atomic<std::uint64_t> lost{0};
};

// Allocated by the first start and never freed (see the header's invariants).
sample_buffer* buffer = nullptr;

// True while handlers should record. seq_cst with handlers_running: stop stores false, then
// waits for handlers_running to reach 0; a handler increments handlers_running, then loads
// this flag. With a single total order, a handler that saw true is counted before stop
// waits, and one that starts later sees false.
std::atomic<bool> sampling{false};
std::atomic<std::int32_t> handlers_running{0};

// Thread registry and timers (registry_lock).
runtime_lock registry_lock;
M* registered = nullptr;  // list through M::cpuprof_link
bool profiling = false;
std::int64_t period_ns = 0;

// The handler in place before start (set by start, read by the handler while sampling, and
// restored by stop).
struct sigaction previous_action {};

struct sample_key {
  std::int64_t goid;
  std::vector<std::uintptr_t> pcs;
  bool operator<(const sample_key& other) const {
    return goid != other.goid ? goid < other.goid : pcs < other.pcs;
  }
};

// The reader thread and the samples it aggregated. Allocated by the first start and never
// freed, like the buffer: a profile still running when the process exits must not have its
// thread or map destroyed under it by static destructors.
struct reader_state {
  // Written by the reader thread, and by stop once that thread has exited.
  std::map<sample_key, std::int64_t> counts;
  std::uint64_t lost_reported = 0;  // buffer->lost already added to lost_samples
  std::int64_t lost_samples = 0;

  std::thread thread;
  std::mutex mutex;  // guards stop
  std::condition_variable wake;
  bool stop = false;
};
reader_state* reader = nullptr;

std::int64_t start_walltime = 0;
std::int64_t start_nanotime = 0;

// Stands in for samples the buffer had no room for, as Go's lostProfileEvent does: its
// address becomes the one frame of a sample that counts them.
[[gnu::noinline]] void lost_profile_samples() { asm volatile(""); }

// --- Signal handler -------------------------------------------------------------------------

struct interrupted_registers {
  std::uintptr_t pc;
  std::uintptr_t sp;
  std::uintptr_t fp;
};

interrupted_registers registers_of(const ucontext_t* context) {
#if defined(__x86_64__)
  const greg_t* regs = context->uc_mcontext.gregs;
  return {static_cast<std::uintptr_t>(regs[REG_RIP]), static_cast<std::uintptr_t>(regs[REG_RSP]),
          static_cast<std::uintptr_t>(regs[REG_RBP])};
#elif defined(__aarch64__)
  const auto& mc = context->uc_mcontext;
  return {static_cast<std::uintptr_t>(mc.pc), static_cast<std::uintptr_t>(mc.sp),
          static_cast<std::uintptr_t>(mc.regs[29])};
#else
#error "goro's CPU profiler reads registers only on x86-64 and AArch64"
#endif
}

// The top of the stack that `sp` is on, if the M records that stack's bounds, else 0.
std::uintptr_t stack_top(M* mp, G* gp, std::uintptr_t sp) {
  if (gp != nullptr && sp >= gp->stack.lo && sp < gp->stack.hi) return gp->stack.hi;
  const auto g0_lo = reinterpret_cast<std::uintptr_t>(mp->g0_stack_lo);
  if (g0_lo != 0 && sp >= g0_lo && sp < g0_lo + mp->g0_stack_size) {
    return g0_lo + mp->g0_stack_size;
  }
  return 0;
}

// Walks frame pointers from the interrupted frame: on x86-64 and AArch64 a frame record is
// two words, the caller's frame pointer and then the return address. Each record must lie
// in [sp, top) and be above the previous one, so the walk ends at a corrupt or foreign frame
// pointer instead of reading outside the stack. Not instrumented: a frame pointer may point
// at a sanitizer's redzone or at another frame's bytes.
__attribute__((no_sanitize("address", "thread"))) std::uint32_t walk_frames(
    const interrupted_registers& regs, std::uintptr_t top, std::uintptr_t* pcs) {
  std::uint32_t depth = 0;
  pcs[depth++] = regs.pc;
  std::uintptr_t fp = regs.fp;
  std::uintptr_t low = regs.sp;
  while (depth < kMaxSampleDepth && top != 0) {
    if (fp < low || fp % sizeof(std::uintptr_t) != 0 || fp > top - 2 * sizeof(std::uintptr_t)) {
      break;
    }
    const auto* record = reinterpret_cast<const std::uintptr_t*>(fp);
    const std::uintptr_t return_address = record[1];
    if (return_address == 0) break;
    pcs[depth++] = return_address;
    low = fp + 2 * sizeof(std::uintptr_t);
    fp = record[0];
  }
  return depth;
}

void record_sample(M* mp, const ucontext_t* context) {
  sample_buffer* samples = buffer;
  const std::uint32_t index =
      samples->next.fetch_add(1, std::memory_order_relaxed) % kSampleSlots;
  sample_slot& slot = samples->slots[index];
  std::uint32_t expected = kSlotEmpty;
  if (!slot.state.compare_exchange_strong(expected, kSlotWriting, std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
    samples->lost.fetch_add(1, std::memory_order_relaxed);
    return;
  }

  const interrupted_registers regs = registers_of(context);
  // curg is written only by this thread, which the signal interrupted.
  G* gp = mp->curg.load(std::memory_order_relaxed);
  slot.goid = gp != nullptr ? gp->goid : 0;
  slot.depth = walk_frames(regs, stack_top(mp, gp, regs.sp), slot.pcs);
  slot.state.store(kSlotFull, std::memory_order_release);
}

// Passes a SIGPROF that is not a sample of this profiler to the handler installed before it,
// when that was a function. SIG_DFL would end the process, so such a signal is dropped.
void forward_signal(int signo, siginfo_t* info, void* context) {
  if ((previous_action.sa_flags & SA_SIGINFO) != 0) {
    if (previous_action.sa_sigaction != nullptr) previous_action.sa_sigaction(signo, info, context);
    return;
  }
  if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(signo);
  }
}

void sigprof_handler(int signo, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  handlers_running.fetch_add(1, std::memory_order_seq_cst);
  M* mp = getm();
  if (mp != nullptr && info->si_code == SI_TIMER && sampling.load(std::memory_order_seq_cst)) {
    record_sample(mp, static_cast<const ucontext_t*>(context));
  } else {
    forward_signal(signo, info, context);
  }
  handlers_running.fetch_sub(1, std::memory_order_release);
  errno = saved_errno;
}

// --- Timers (registry_lock held) ------------------------------------------------------------

// Arms mp's timer; returns 0 or the errno of the call that failed.
int arm_timer(M* mp) {
  clockid_t clock;
  int err = pthread_getcpuclockid(static_cast<pthread_t>(mp->thread), &clock);
  if (err != 0) return err;
  sigevent event{};
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = SIGPROF;
#ifdef sigev_notify_thread_id
  event.sigev_notify_thread_id = mp->tid;
#else
  // Older glibc (2.36 on Debian 12) has the field but not the name that the man page uses.
  event._sigev_un._tid = mp->tid;
#endif
  timer_t timer;
  if (timer_create(clock, &event, &timer) != 0) return errno;
  itimerspec spec{};
  spec.it_interval.tv_sec = period_ns / kNanosPerSecond;
  spec.it_interval.tv_nsec = period_ns % kNanosPerSecond;
  spec.it_value = spec.it_interval;
  if (timer_settime(timer, 0, &spec, nullptr) != 0) {
    err = errno;
    timer_delete(timer);
    return err;
  }
  mp->cpuprof_timer = timer;
  mp->cpuprof_timer_armed = true;
  return 0;
}

void disarm_timer(M* mp) {
  if (!mp->cpuprof_timer_armed) return;
  timer_delete(mp->cpuprof_timer);
  mp->cpuprof_timer_armed = false;
}

void report_timer_failure(M* mp, int err) {
  print_line().str("runtime: cannot profile thread ").dec(mp->tid).str(" (M").dec(mp->id)
      .str("): timer_create failed: ").str(std::strerror(err)).str("\n").flush();
}

// --- Reader ---------------------------------------------------------------------------------

// The reader, start, stop and the encoding run once per profile or once per kDrainInterval,
// so they are [[gnu::cold]], which makes GCC optimise them for size (1.9 KB less with GCC 12).
// The signal handler and the thread registry, which every M start uses, stay at -O2.

// Moves every full slot into `counts`. Runs on the reader thread, or on stop's thread once
// the reader has exited, never on both at once.
[[gnu::cold]] void drain_buffer() {
  for (sample_slot& slot : buffer->slots) {
    if (slot.state.load(std::memory_order_acquire) != kSlotFull) continue;
    sample_key key{slot.goid, std::vector<std::uintptr_t>(slot.pcs, slot.pcs + slot.depth)};
    slot.state.store(kSlotEmpty, std::memory_order_release);
    ++reader->counts[std::move(key)];
  }
  const std::uint64_t lost = buffer->lost.load(std::memory_order_relaxed);
  reader->lost_samples += static_cast<std::int64_t>(lost - reader->lost_reported);
  reader->lost_reported = lost;
}

[[gnu::cold]] void reader_loop() {
  std::unique_lock<std::mutex> guard(reader->mutex);
  while (!reader->stop) {
    reader->wake.wait_for(guard, kDrainInterval);
    guard.unlock();
    drain_buffer();
    guard.lock();
  }
}

// Starts the reader with every signal blocked, so that no SIGPROF meant for another handler
// lands on it.
[[gnu::cold]] void start_reader() {
  reader->stop = false;
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  reader->thread = std::thread(reader_loop);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

[[gnu::cold]] void stop_reader() {
  {
    std::lock_guard<std::mutex> guard(reader->mutex);
    reader->stop = true;
  }
  reader->wake.notify_one();
  reader->thread.join();
}

[[gnu::cold]] std::string encode_counts(std::int64_t duration_ns) {
  profile_builder builder({{"samples", "count"}, {"cpu", "nanoseconds"}},
                          {"cpu", "nanoseconds"}, period_ns);
  builder.set_time(start_walltime, duration_ns);
  for (const auto& [key, count] : reader->counts) {
    const std::int64_t values[] = {count, count * period_ns};
    if (key.goid != 0) {
      const numeric_label labels[] = {{"goroutine", key.goid}};
      builder.add_sample(key.pcs, true, values, labels);
    } else {
      builder.add_sample(key.pcs, true, values, {});
    }
  }
  if (const std::int64_t lost = reader->lost_samples; lost > 0) {
    // A return address inside lost_profile_samples, so that it symbolises to that function.
    const std::uintptr_t lost_pc = reinterpret_cast<std::uintptr_t>(&lost_profile_samples) + 1;
    const std::int64_t values[] = {lost, lost * period_ns};
    builder.add_sample(std::span<const std::uintptr_t>(&lost_pc, 1), false, values, {});
  }
  return builder.encode();
}

}  // namespace

void cpu_profile_add_thread(M* mp) {
  std::lock_guard<runtime_lock> guard(registry_lock);
  mp->cpuprof_link = registered;
  registered = mp;
  if (profiling) {
    if (int err = arm_timer(mp); err != 0) report_timer_failure(mp, err);
  }
}

void cpu_profile_remove_thread(M* mp) {
  std::lock_guard<runtime_lock> guard(registry_lock);
  disarm_timer(mp);
  for (M** link = &registered; *link != nullptr; link = &(*link)->cpuprof_link) {
    if (*link == mp) {
      *link = mp->cpuprof_link;
      break;
    }
  }
  mp->cpuprof_link = nullptr;
}

bool cpu_profile_running() {
  std::lock_guard<runtime_lock> guard(registry_lock);
  return profiling;
}

[[gnu::cold]] std::string cpu_profile_start(int hz) {
  if (buffer == nullptr) {
    buffer = new sample_buffer;
    reader = new reader_state;
  }
  for (sample_slot& slot : buffer->slots) slot.state.store(kSlotEmpty, std::memory_order_relaxed);
  reader->counts.clear();
  reader->lost_samples = 0;
  reader->lost_reported = buffer->lost.load(std::memory_order_relaxed);

  struct sigaction action {};
  action.sa_sigaction = &sigprof_handler;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGPROF, &action, &previous_action) != 0) {
    return std::string("sigaction(SIGPROF) failed: ") + std::strerror(errno);
  }
  start_reader();
  start_walltime = os::walltime_ns();
  start_nanotime = os::nanotime();
  sampling.store(true, std::memory_order_seq_cst);

  std::lock_guard<runtime_lock> guard(registry_lock);
  profiling = true;
  period_ns = kNanosPerSecond / hz;
  for (M* mp = registered; mp != nullptr; mp = mp->cpuprof_link) {
    if (int err = arm_timer(mp); err != 0) report_timer_failure(mp, err);
  }
  return {};
}

[[gnu::cold]] std::optional<std::string> cpu_profile_stop() {
  {
    std::lock_guard<runtime_lock> guard(registry_lock);
    if (!profiling) return std::nullopt;
    profiling = false;
    for (M* mp = registered; mp != nullptr; mp = mp->cpuprof_link) disarm_timer(mp);
  }
  const std::int64_t duration = os::nanotime() - start_nanotime;

  // Wait for handlers already past the sampling check, so the last drain sees their slots.
  sampling.store(false, std::memory_order_seq_cst);
  while (handlers_running.load(std::memory_order_seq_cst) != 0) sched_yield();
  stop_reader();
  drain_buffer();

  // A SIGPROF still pending from a deleted timer must not end the process, so the default
  // action comes back as "ignore", as Go does.
  struct sigaction restored = previous_action;
  if ((restored.sa_flags & SA_SIGINFO) == 0 && restored.sa_handler == SIG_DFL) {
    restored.sa_handler = SIG_IGN;
  }
  sigaction(SIGPROF, &restored, nullptr);

  return encode_counts(duration);
}

}  // namespace goro::rt::pprof
