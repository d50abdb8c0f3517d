// The signal queue and goro's changes to signal dispositions. The model is in sigqueue.h.
#include "runtime/os/sigqueue.h"

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sanitizer.h"

namespace goro::rt::os {

namespace {

constexpr int kBitsPerWord = 64;
constexpr int kMaskWords = (kMaxSignal + kBitsPerWord) / kBitsPerWord;

// Signals caught and not yet taken by the receiver, one bit per signal number. Set by the
// handler, cleared by the receiver and by signal_restore.
//
// Memory order: every access to pending_mask and wake_count is seq_cst, because the
// receiver's lost-wake-up argument needs one total order. The handler sets a bit (A) and then
// increments wake_count (B). The receiver loads wake_count (C), exchanges the mask (D) and
// sleeps only while wake_count still equals what C read (E). If D missed A, then A, and so B,
// comes after D, and so after C in that order: E reads a new value and does not sleep.
std::atomic<std::uint64_t> pending_mask[kMaskWords];
std::atomic<std::uint32_t> wake_count{0};

// Signals the receiver has taken from pending_mask and not yet returned (receiver only).
std::uint64_t taken_mask[kMaskWords];

// The change goro made to each signal's disposition, guarded by the caller's serialisation
// (see the header). nrelayed is also read lock-free.
enum class disposition : std::uint8_t { untouched, relayed, ignored };
disposition dispositions[kMaxSignal + 1];
// The sigaction goro replaced, valid while the disposition is not `untouched`.
struct sigaction saved_actions[kMaxSignal + 1];
// Number of signals whose disposition is `relayed`. Written with release under the caller's
// serialisation and read with acquire by checkdead, so that a notify that returned before a
// goroutine parked is seen by the checkdead that the park triggers.
std::atomic<int> nrelayed{0};

// Set once by goro::signal and read at the end of every run. Release/acquire, so that a run
// that loads the hook also observes the state goro::signal set up before storing it.
std::atomic<run_end_hook> run_end{nullptr};

std::uint64_t bit_of(int sig) { return std::uint64_t{1} << (sig % kBitsPerWord); }

// Runs on whatever thread the kernel picked, possibly inside any libc call, so it only
// touches lock-free atomics and makes one system call. errno is saved because futex_wake
// goes through syscall(), which sets it.
void relay_handler(int sig, siginfo_t* info, void* context) {
  (void)info;
  (void)context;
  int saved_errno = errno;
  pending_mask[sig / kBitsPerWord].fetch_or(bit_of(sig), std::memory_order_seq_cst);
  wake_count.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&wake_count, 1);
  errno = saved_errno;
}

void install(int sig, const struct sigaction& action) {
  // The caller rejected every number sigaction rejects, so a failure here is a goro bug.
  if (::sigaction(sig, &action, nullptr) != 0) throw_bug("signal: sigaction failed");
}

// Records the sigaction about to be replaced, unless an earlier change already did.
void save_once(int sig) {
  if (dispositions[sig] != disposition::untouched) return;
  if (::sigaction(sig, nullptr, &saved_actions[sig]) != 0) {
    throw_bug("signal: sigaction query failed");
  }
}

}  // namespace

void signal_relay(int sig) {
  if (dispositions[sig] == disposition::relayed) return;
  save_once(sig);

  struct sigaction action {};
  action.sa_sigaction = &relay_handler;
  // SA_ONSTACK: a goroutine's stack may be nearly full, and each M has an alternate signal
  // stack. SA_RESTART: a caught signal must not make unrelated system calls fail with EINTR.
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
#if defined(GORO_TSAN)
  // ThreadSanitizer (GCC 12's libtsan, as the child-process tests show) runs an asynchronous
  // signal's handler only when the thread that took the signal next enters TSan's runtime
  // (an intercepted call or an instrumented atomic). An idle M sleeps in a raw futex system
  // call, which SA_RESTART would resume, so the handler would wait until something else woke
  // that M. Without SA_RESTART the wait returns EINTR, and the M's next atomic load of its
  // futex word runs the handler.
  action.sa_flags &= ~SA_RESTART;
#endif
  sigemptyset(&action.sa_mask);
  install(sig, action);

  dispositions[sig] = disposition::relayed;
  nrelayed.fetch_add(1, std::memory_order_release);
}

void signal_ignore(int sig) {
  save_once(sig);
  struct sigaction action {};
  action.sa_handler = SIG_IGN;
  sigemptyset(&action.sa_mask);
  install(sig, action);

  if (dispositions[sig] == disposition::relayed) nrelayed.fetch_sub(1, std::memory_order_release);
  dispositions[sig] = disposition::ignored;
  pending_mask[sig / kBitsPerWord].fetch_and(~bit_of(sig), std::memory_order_seq_cst);
}

void signal_restore(int sig) {
  if (dispositions[sig] == disposition::untouched) return;
  install(sig, saved_actions[sig]);

  if (dispositions[sig] == disposition::relayed) nrelayed.fetch_sub(1, std::memory_order_release);
  dispositions[sig] = disposition::untouched;
  pending_mask[sig / kBitsPerWord].fetch_and(~bit_of(sig), std::memory_order_seq_cst);
}

bool signal_ignored(int sig) {
  struct sigaction current {};
  if (::sigaction(sig, nullptr, &current) != 0) return false;
  return (current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_IGN;
}

bool signals_watched() { return nrelayed.load(std::memory_order_acquire) > 0; }

int signal_recv() {
  for (;;) {
    for (int word = 0; word < kMaskWords; ++word) {
      std::uint64_t bits = taken_mask[word];
      if (bits == 0) continue;
      int bit = __builtin_ctzll(bits);
      taken_mask[word] = bits & (bits - 1);
      return word * kBitsPerWord + bit;
    }

    // See pending_mask for why this cannot sleep through a signal.
    std::uint32_t seen = wake_count.load(std::memory_order_seq_cst);
    bool any = false;
    for (int word = 0; word < kMaskWords; ++word) {
      taken_mask[word] = pending_mask[word].exchange(0, std::memory_order_seq_cst);
      any = any || taken_mask[word] != 0;
    }
    if (!any) futex_wait(&wake_count, seen, -1);
  }
}

void set_signal_run_end_hook(run_end_hook hook) {
  run_end.store(hook, std::memory_order_release);
}

void signal_run_end() {
  if (run_end_hook hook = run_end.load(std::memory_order_acquire)) hook();
}

}  // namespace goro::rt::os
