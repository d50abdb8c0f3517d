// The signal queue: how a caught signal travels from its handler to the thread that
// delivers it to channels (Go's sigqueue.go). goro::signal (src/lib/signal.cc) is its only
// user.
//
// Model. A signal that goro::signal relays has goro's relay handler as its process-wide
// disposition, installed with SA_SIGINFO | SA_ONSTACK | SA_RESTART (ThreadSanitizer builds
// leave out SA_RESTART, see signal_relay). The handler is async-signal-safe: it sets the
// signal's bit in an atomic pending mask, increments a wake-up counter and futex-wakes the
// receiver, which blocks in signal_recv(). The receiver takes the whole mask at once, so
// repeats of one signal that arrive before it runs are delivered once, as in Go.
//
// Dispositions. The first time goro changes a signal's disposition (to the relay handler or
// to SIG_IGN), it saves the sigaction it replaces. signal_restore() installs that saved
// sigaction again, whatever it was: SIG_DFL, SIG_IGN, or another handler such as the
// runtime's own SIGQUIT dump handler. Nothing is installed at boot.
//
// Thread safety. signal_relay, signal_ignore and signal_restore change process-wide state
// and must be serialised by the caller (goro::signal holds its registry lock). signal_recv
// has a single caller, the receiver thread. signals_watched and signal_ignored may be called
// from any thread.
#pragma once

#include <csignal>

namespace goro::rt::os {

// Signal numbers run from 1 to kMaxSignal (SIGRTMAX on Linux: 64).
inline constexpr int kMaxSignal = _NSIG - 1;

// Installs the relay handler for sig, saving the current sigaction first unless goro already
// changed it. Does nothing if the relay handler is already installed.
void signal_relay(int sig);

// Sets sig's disposition to SIG_IGN, saving the current sigaction first unless goro already
// changed it. A relayed signal stops being relayed.
void signal_ignore(int sig);

// Installs the sigaction saved before goro first changed sig and marks sig unchanged. A
// pending delivery of sig that the receiver has not taken yet is dropped. Does nothing if
// goro never changed sig or already restored it.
void signal_restore(int sig);

// Returns true if sig's disposition is SIG_IGN now, set by goro or by anyone else.
bool signal_ignored(int sig);

// Returns true while the relay handler is installed for at least one signal. A goroutine
// blocked on a channel may then be woken by a signal, so checkdead must not report a
// deadlock. Lock-free.
bool signals_watched();

// Blocks until a relayed signal has arrived and returns its number. Signals taken together
// are returned lowest number first. Called only by goro::signal's receiver thread.
int signal_recv();

// The end-of-run hook of goro::signal. goro::signal sets it the first time it is used, so
// that a program that never uses goro::signal links none of its code.
using run_end_hook = void (*)();
void set_signal_run_end_hook(run_end_hook hook);
// Calls the end-of-run hook, if set. goro::run calls this after the scheduler has stopped
// and before the run's memory is freed.
void signal_run_end();

}  // namespace goro::rt::os
