// goro::signal: which channels watch which signals, and the thread that delivers to them
// (Go's os/signal). The path from the signal handler to this file is in
// runtime/os/sigqueue.h.
//
// The receiver is a plain thread, started by the first notify and kept for the life of the
// process, with every signal blocked. It waits in signal_recv() (a futex wait) and sends
// each signal to the channels watching it with select and a default case. It is a plain
// thread rather than a goroutine in goro::blocking for three reasons. A goroutine would
// belong to one run and have to be stopped and restarted around every run. While parked
// in goro::blocking it would hold an M that shutdown has to wait for. And a goroutine that
// blocks forever in goro::blocking would keep checkdead from ever reporting a deadlock, even
// after every channel stopped watching. The receiver is kept out of checkdead's plain-thread
// count (plain_thread_exclude), and checkdead calls os::signals_watched() instead.
//
// Invariants, under `lock`:
//   * watchers[sig] is the number of registrations whose mask contains sig, and the
//     disposition of sig is the relay handler exactly when watchers[sig] > 0.
//   * Every registration has a non-empty mask.
//   * The receiver delivers only while holding `lock`. So once stop, ignore, reset or the
//     end of a run releases it, no channel they removed receives anything more, and no
//     goroutine of an ended run is readied.
// Lock order: signal `lock`, then a channel's lock, then sched.lock.
#include "goro/signal.hpp"

#include <pthread.h>

#include <bitset>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "runtime/os/sigqueue.h"
#include "runtime/sched/lock.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/waiter.h"

namespace goro::signal {

namespace {

using rt::os::kMaxSignal;
using signal_set = std::bitset<kMaxSignal + 1>;

// Linux's first real-time signal. glibc keeps 32 and 33 for its threads, so its SIGRTMIN is
// 34 and sigaction rejects 32 and 33.
constexpr int kFirstRealtimeSignal = 32;

struct registration {
  chan<int> channel;
  signal_set signals;
};

struct registry {
  // Guards every field below, and orders deliveries against changes (see the invariants).
  rt::runtime_lock lock;
  std::vector<registration> channels;
  int watchers[kMaxSignal + 1] = {};
  bool receiver_started = false;
};

// Never destroyed: the receiver thread may still use it while static destructors run.
registry& state() {
  static registry* instance = new registry;
  return *instance;
}

// "SIGINT" for SIGINT, "signal 32" where glibc has no abbreviation.
std::string signal_name(int sig) {
  const char* abbreviation = sig >= 1 && sig <= kMaxSignal ? sigabbrev_np(sig) : nullptr;
  if (abbreviation == nullptr) return "signal " + std::to_string(sig);
  return std::string("SIG") + abbreviation;
}

// Returns why sig may not be watched or ignored, or nullptr if it may.
const char* rejection_reason(int sig) {
  switch (sig) {
    case SIGKILL:
    case SIGSTOP:
      return "cannot be caught or ignored: the kernel always applies its default action; use "
             "SIGTERM or SIGINT to ask a program to shut down";
    case SIGSEGV:
    case SIGBUS:
      return "is reserved: the goro runtime reports invalid memory accesses and stack "
             "overflows with it";
    case SIGFPE:
    case SIGILL:
      return "is reserved: the faulting instruction raises it and would run again after a "
             "handler that only queues the signal";
    case SIGPROF:
      return "is reserved for the CPU profiler";
    default:
      break;
  }
  if (sig >= kFirstRealtimeSignal && sig < SIGRTMIN) {
    return "is reserved by glibc for its thread implementation; real-time signals start at "
           "SIGRTMIN";
  }
  return nullptr;
}

void check_range(const char* function, int sig) {
  if (sig >= 1 && sig <= kMaxSignal) return;
  throw std::invalid_argument(std::string(function) + ": invalid signal number " +
                              std::to_string(sig) + "; Linux signals are 1 to " +
                              std::to_string(kMaxSignal));
}

// The signals a call to notify or ignore acts on: the list, or every signal that is not
// rejected if it is empty. Throws std::invalid_argument before anything changes.
signal_set settable_signals(const char* function, std::initializer_list<int> sigs) {
  signal_set selected;
  if (sigs.size() == 0) {
    for (int sig = 1; sig <= kMaxSignal; ++sig) {
      if (rejection_reason(sig) == nullptr) selected.set(static_cast<std::size_t>(sig));
    }
    return selected;
  }
  for (int sig : sigs) {
    check_range(function, sig);
    if (const char* reason = rejection_reason(sig)) {
      throw std::invalid_argument(std::string(function) + ": " + signal_name(sig) +
                                  " (signal " + std::to_string(sig) + ") " + reason);
    }
    selected.set(static_cast<std::size_t>(sig));
  }
  return selected;
}

registration* find_locked(registry& r, const chan<int>& c) {
  for (registration& entry : r.channels) {
    if (entry.channel == c) return &entry;
  }
  return nullptr;
}

// Removes one registration's watch of sig, and restores sig once no channel watches it.
void unwatch_locked(registry& r, int sig) {
  if (--r.watchers[sig] == 0) rt::os::signal_restore(sig);
}

// Stops delivering sig to every channel, without touching its disposition, and drops the
// registrations left watching nothing.
void cancel_locked(registry& r, int sig) {
  for (registration& entry : r.channels) entry.signals.reset(static_cast<std::size_t>(sig));
  r.watchers[sig] = 0;
  std::erase_if(r.channels, [](const registration& entry) { return entry.signals.none(); });
}

// Wakes an idle M to run checkdead again after a change that may have left no signal
// watched. checkdead skipped its report while signals were watched, and if every M is idle
// now, none would run it again by itself. Called under `lock`, so that it cannot run after
// the end of the run freed the Ms.
void recheck_deadlock_locked() {
  if (!rt::os::signals_watched() && rt::runtime_running()) rt::poke_idle_m();
}

void deliver_locked(registry& r, int sig) {
  for (const registration& entry : r.channels) {
    if (!entry.signals.test(static_cast<std::size_t>(sig))) continue;
    // Go's non-blocking send: a full channel misses this signal.
    goro::select(goro::on_send(entry.channel, sig, [] {}), goro::on_default([] {}));
  }
}

[[noreturn]] void receive_loop() {
  rt::plain_thread_exclude();
  registry& r = state();
  for (;;) {
    int sig = rt::os::signal_recv();
    std::lock_guard<rt::runtime_lock> guard(r.lock);
    deliver_locked(r, sig);
  }
}

// Drops every channel at the end of a run, as if stop had been called for each.
void drop_run_channels() {
  registry& r = state();
  std::lock_guard<rt::runtime_lock> guard(r.lock);
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (r.watchers[sig] == 0) continue;
    r.watchers[sig] = 0;
    rt::os::signal_restore(sig);
  }
  r.channels.clear();
}

// NOTE: a child made by fork() without exec inherits the handlers but not this thread, so
// watched signals there are caught and never delivered.
void start_receiver_locked(registry& r) {
  if (r.receiver_started) return;
  rt::os::set_signal_run_end_hook(&drop_run_channels);

  // The thread inherits the creator's signal mask, so block everything around its creation:
  // signals then go to threads that may be running code, never to the receiver.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread receiver(&receive_loop);
    // Shown by ps, top and gdb. Set here rather than by the thread, so that the name is in
    // place when notify returns.
    pthread_setname_np(receiver.native_handle(), "goro-signal");
    receiver.detach();
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  r.receiver_started = true;
}

// Stops delivering each selected signal to every channel, then applies `change` to its
// disposition.
void change_dispositions(const signal_set& selected, void (*change)(int sig)) {
  registry& r = state();
  std::lock_guard<rt::runtime_lock> guard(r.lock);
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (!selected.test(static_cast<std::size_t>(sig))) continue;
    cancel_locked(r, sig);
    change(sig);
  }
  recheck_deadlock_locked();
}

}  // namespace

void notify(chan<int> c, std::initializer_list<int> sigs) {
  if (c == chan<int>::nil()) {
    throw panic_error("goro::signal::notify: nil channel; pass a channel with a buffer, such "
                      "as goro::chan<int>(1)");
  }
  signal_set selected = settable_signals("goro::signal::notify", sigs);

  registry& r = state();
  std::lock_guard<rt::runtime_lock> guard(r.lock);
  // Checked under the lock: the end of the run takes it to drop every channel, so a channel
  // added here is either dropped by it or rejected after it.
  if (!rt::runtime_running()) {
    throw panic_error("goro::signal::notify: called outside goro::run; call it from the "
                      "program's goroutines");
  }
  start_receiver_locked(r);

  registration* entry = find_locked(r, c);
  if (entry == nullptr) entry = &r.channels.emplace_back(registration{std::move(c), {}});
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    auto bit = static_cast<std::size_t>(sig);
    if (!selected.test(bit) || entry->signals.test(bit)) continue;
    entry->signals.set(bit);
    if (r.watchers[sig]++ == 0) rt::os::signal_relay(sig);
  }
}

void stop(const chan<int>& c) {
  registry& r = state();
  std::lock_guard<rt::runtime_lock> guard(r.lock);
  registration* entry = find_locked(r, c);
  if (entry == nullptr) return;

  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (entry->signals.test(static_cast<std::size_t>(sig))) unwatch_locked(r, sig);
  }
  r.channels.erase(r.channels.begin() + (entry - r.channels.data()));
  recheck_deadlock_locked();
}

void ignore(std::initializer_list<int> sigs) {
  signal_set selected = settable_signals("goro::signal::ignore", sigs);

  change_dispositions(selected, &rt::os::signal_ignore);
}

bool ignored(int sig) {
  check_range("goro::signal::ignored", sig);
  return rt::os::signal_ignored(sig);
}

void reset(std::initializer_list<int> sigs) {
  signal_set selected;
  if (sigs.size() == 0) selected.set();
  for (int sig : sigs) {
    check_range("goro::signal::reset", sig);
    selected.set(static_cast<std::size_t>(sig));
  }

  change_dispositions(selected, &rt::os::signal_restore);
}

std::pair<context, cancel_function> notify_context(const context& parent,
                                                   std::initializer_list<int> sigs) {
  auto [ctx, cancel] = with_cancel(parent);
  chan<int> arrived(1);
  try {
    notify(arrived, sigs);
  } catch (...) {
    cancel();
    throw;
  }

  // Cancels ctx on the first signal, and exits as soon as ctx is done for any reason.
  try {
    goro::go([arrived, ctx = ctx, cancel = cancel] {
      goro::select(goro::on_recv(arrived, [&](std::optional<int>) { cancel(); }),
                   goro::on_recv(ctx.done(), [](std::optional<done_signal>) {}));
    });
  } catch (...) {
    stop(arrived);
    cancel();
    throw;
  }

  cancel_function stop_watching = [arrived, cancel = cancel] {
    cancel();
    stop(arrived);
  };
  return {ctx, std::move(stop_watching)};
}

std::string to_string(int sig) {
  const char* description =
      sig >= 1 && sig < kFirstRealtimeSignal ? sigdescr_np(sig) : nullptr;
  if (description == nullptr) return "signal " + std::to_string(sig);

  // Go's text is glibc's description with a lower-case first letter ("Interrupt" becomes
  // "interrupt"), except where the first word is an abbreviation ("CPU time limit exceeded").
  std::string text(description);
  if (text.size() > 1 && text[0] >= 'A' && text[0] <= 'Z' && !(text[1] >= 'A' && text[1] <= 'Z') &&
      text[1] != '/') {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

}  // namespace goro::signal
