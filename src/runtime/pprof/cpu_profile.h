// The CPU profiler: SIGPROF samples of every goro thread (M), aggregated by stack and
// goroutine, and encoded as a pprof CPU profile.
//
// Model: while a profile runs, each registered M has a POSIX timer on its own thread CPU
// clock (timer_create with the clock of pthread_getcpuclockid and SIGEV_THREAD_ID), as Go has
// done since 1.18. Each timer sends SIGPROF to its own thread after every 1/hz s of CPU
// time that thread uses. The handler walks the interrupted stack by frame pointers into a
// preallocated lock-free slot buffer, and a reader thread moves full slots into a map
// every kDrainInterval. stop symbolises and encodes that map.
//
// Why per-thread timers and not setitimer(ITIMER_PROF): the process-wide timer sends its
// signal to whichever thread the kernel picks, and expirations that fall due together while
// several threads run merge into one signal, so busy parallel programs lose samples. A timer
// per thread charges each thread exactly its own CPU time.
//
// Invariants:
//   * The signal handler is async-signal-safe: no allocation, no lock, no unwinder. It reads
//     the stack only between the interrupted stack pointer and the top of the goroutine's
//     stack or the M's g0 stack, so a corrupt frame pointer cannot make it fault. Where
//     neither bound is known (m0's own stack) it records the interrupted pc alone.
//   * The buffer is allocated by the first profile and never freed, so a SIGPROF that
//     arrives late (after stop) writes into valid memory. start empties it.
//   * Every M registers when its thread starts and unregisters before the thread exits, under
//     the registry lock, so start and stop never arm or delete a timer of a dead thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/sched/runtime2.h"

namespace goro::rt::pprof {

// Register an M, on its own thread once mp->tid and mp->thread are set, and unregister it
// before that thread exits. A thread that registers during a profile gets its timer at once.
void cpu_profile_add_thread(M* mp);
void cpu_profile_remove_thread(M* mp);

// Starts sampling every registered thread at hz. Returns an error message, or an empty
// string on success. Callers serialise start and stop (pprof/api.cc).
std::string cpu_profile_start(int hz);

// Stops sampling and returns the encoded profile, or nullopt if no profile is running.
std::optional<std::string> cpu_profile_stop();

bool cpu_profile_running();

}  // namespace goro::rt::pprof
