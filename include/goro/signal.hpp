// Signals as channels: Go's os/signal package.
//
//   goro::chan<int> sigs(1);
//   goro::signal::notify(sigs, {SIGINT, SIGTERM});
//   int sig = *sigs.recv();                        // blocks until SIGINT or SIGTERM arrives
//   std::printf("%s: shutting down\n", goro::signal::to_string(sig).c_str());  // "interrupt"
//
// A channel receives the numbers of the signals it watches (SIGINT, ...), as ints. Delivery is
// a non-blocking send: if the channel is full when a signal arrives, that channel misses it,
// so give it a buffer (1 is enough for one kind of signal). Repeats of one signal that arrive
// before goro delivers the first may be delivered once. Any number of channels may watch one
// signal, and each gets its own copy.
//
// Dispositions. While at least one channel watches a signal, its disposition is goro's
// handler, installed the first time it is needed (nothing is installed at start-up) with
// SA_SIGINFO | SA_ONSTACK | SA_RESTART. ThreadSanitizer builds leave out SA_RESTART, so
// there a system call may fail with EINTR when a watched signal arrives. Once no channel
// watches the signal (after stop, reset, or the end of the run), it gets back the
// disposition it had before goro::signal first changed it. That is the default action,
// SIG_IGN, or another handler, for example the runtime's own SIGQUIT dump. ignore sets
// SIG_IGN instead.
//
// Rejected signals. notify and ignore throw std::invalid_argument, naming the signal and
// changing nothing, for these numbers:
//   * outside 1..64;
//   * SIGKILL and SIGSTOP, which the kernel never lets a process catch or ignore;
//   * SIGSEGV and SIGBUS, which the runtime uses to report invalid memory accesses and
//     stack overflows;
//   * SIGFPE and SIGILL, which a faulting instruction raises, and raises again after a
//     handler that only queues the signal returns;
//   * SIGPROF, which belongs to the profiler;
//   * 32 and 33, which glibc keeps for its threads.
// An empty list means every signal not rejected.
//
// Runs. notify may be called from goroutines and plain threads while goro::run is running.
// When the run ends, every channel is dropped as if stop had been called for it. ignore,
// ignored and reset also work outside goro::run, and a signal ignored with ignore stays
// ignored after the run ends.
//
// Deadlock detection. While any signal is watched, a goroutine blocked on a channel may be
// woken by a signal, so goro does not report "all goroutines are asleep" (Go behaves the
// same).
#pragma once

#include <csignal>
#include <initializer_list>
#include <string>
#include <utility>

#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/export.hpp"

namespace goro::signal {

// Go's signal.Notify: sends each listed signal that arrives to c, without blocking. Adds to
// the signals c already watches. Throws panic_error for a nil channel or a call outside
// goro::run, std::invalid_argument for a rejected signal (see above).
GORO_EXPORT void notify(chan<int> c, std::initializer_list<int> sigs = {});

// Go's signal.Stop: c receives no more signals once stop returns. A signal that no channel
// watches any more gets its previous disposition back. Does nothing for a channel that
// watches nothing.
GORO_EXPORT void stop(const chan<int>& c);

// Go's signal.Ignore: stops delivering the listed signals to every channel and sets their
// disposition to SIG_IGN. An empty list ignores every signal not rejected, SIGCHLD included
// (the kernel then reaps child processes by itself). Throws std::invalid_argument for a
// rejected signal.
GORO_EXPORT void ignore(std::initializer_list<int> sigs = {});

// Go's signal.Ignored: returns true if sig's disposition is SIG_IGN now, set by ignore or
// inherited (a process started by nohup ignores SIGHUP). Throws std::invalid_argument for a number outside
// 1..64.
GORO_EXPORT bool ignored(int sig);

// Go's signal.Reset: stops delivering the listed signals to every channel and gives each the
// disposition it had before goro::signal first changed it. An empty list resets every signal
// goro::signal changed. Throws std::invalid_argument for a number outside 1..64; other
// signals goro::signal never changed are left alone.
GORO_EXPORT void reset(std::initializer_list<int> sigs = {});

// Go's signal.NotifyContext: returns a child of parent that is cancelled when one of the
// listed signals arrives, when parent is cancelled, or when the returned function is called,
// whichever happens first. Call the function once the context is no longer needed: it also
// stops watching the signals, so a second Ctrl-C then has its default effect. Until then,
// later signals are caught and dropped. Uses one goroutine; throws as notify does.
GORO_EXPORT std::pair<context, cancel_function> notify_context(
    const context& parent, std::initializer_list<int> sigs = {});

// Go's Signal.String(): "interrupt" for SIGINT, "terminated" for SIGTERM, "hangup" for
// SIGHUP, "user defined signal 1" for SIGUSR1, and "signal N" for real-time signals and
// numbers outside 1..64.
GORO_EXPORT std::string to_string(int sig);

}  // namespace goro::signal
