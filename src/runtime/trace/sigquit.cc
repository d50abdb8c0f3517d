// SIGQUIT: print every goroutine and exit with status 2, as Go does when the program has not
// asked to receive the signal.
//
// Output, as Go's (the register names are x86-64's):
//
//     SIGQUIT: quit
//     PC=0x55d0c3a1b2c4 m=0 sigcode=0
//
//     goroutine 1 [running]:            the goroutine the signal interrupted, if any
//     main::{lambda()#1}::operator()() const
//     	/src/app.cc:12 +0x3c
//
//     goroutine 7 [chan receive]:       every other goroutine, as goro::stack(true)
//     ...
//
//     rax    0xca
//     ...
//
// The signal may land on any thread, at any point: inside the allocator, or on an M that
// holds sched.lock or a channel lock. So the handler itself takes no lock and prints nothing
// in the common case. It records the signal (code, PC, registers), captures the interrupted
// goroutine's return addresses when unwinding there is safe (interrupted_stack.h), and hands
// the dump to a thread that is outside the runtime:
//   * sysmon, when it runs: it holds no P and takes locks only briefly, and polls
//     sigquit_pending every round (at most 10 ms apart, or woken from its idle sleep).
//   * without sysmon the program has one M, m0, and one goroutine, main. With main running,
//     a signal taken on another thread is forwarded to m0, and the handler there prints the
//     dump itself: main is the only goroutine and the handler interrupted it. With m0 idle,
//     the handler (on any thread) wakes it, and m0 prints the dump (stopm, stoplockedm).
// The dumper stops the world without a P (dump_world.h), prints, and exits, so the world is
// never restarted. kQuitStopTimeoutNs bounds the stop, so that a wedged M cannot hang the
// dump.
//
// The handler chains to no other handler: SIGQUIT belongs to goro while a run lasts, and the
// disposition found at boot comes back when the run ends. A second SIGQUIT while the first
// is being handled is ignored, and so is a SIGQUIT while a panic, fatal error or deadlock
// report is printed (sigquit_ignore).
#include "runtime/trace/sigquit.h"

#include <csignal>
#include <cerrno>
#include <cstdlib>
#include <pthread.h>
#include <ucontext.h>
#include <unistd.h>

#include "runtime/boot/boot.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sanitizer.h"
#include "runtime/sched/sched.h"
#include "runtime/sched/sysmon.h"
#include "runtime/trace/dump_world.h"
#include "runtime/trace/interrupted_stack.h"
#include "runtime/trace/symbolize.h"
#include "runtime/trace/traceback.h"

namespace goro::rt {

std::atomic<bool> sigquit_pending{false};

namespace {

// How long the dumper waits for every P to stop before it prints without parked stacks: an
// M inside the runtime releases its P within microseconds, so a second means it is wedged.
constexpr std::int64_t kQuitStopTimeoutNs = 1'000'000'000;
// Frames kept of the interrupted stack (Go prints 100 before eliding).
constexpr int kQuitFrames = 128;

// The signal as the handler recorded it for the dumper. Written once, by the handler that set
// quit_started, before it publishes sigquit_pending (release).
struct quit_record {
  int code = 0;              // siginfo's si_code: 0 (SI_USER) for kill(2)
  std::uintptr_t pc = 0;     // interrupted instruction
  const M* m = nullptr;      // the signalled thread's M, or nullptr if it is not an M
  G* current = nullptr;      // goroutine running on the signalled thread, or nullptr
  G* interrupted = nullptr;  // `current` once its stack is in `frames`, else nullptr
  bool idle_m = false;       // `frames` contains the stack of an M's scheduler (goroutine 0)
  int frame_count = 0;
  frame_record frames[kQuitFrames];
  bool has_context = false;
  mcontext_t context{};
};
quit_record record;

std::atomic<bool> quit_started{false};
struct sigaction old_quit;
bool installed = false;

std::uintptr_t context_pc(const mcontext_t& context) {
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(context.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(context.pc);
#else
  (void)context;
  return 0;
#endif
}

void record_signal(const siginfo_t* info, const void* context, M* mp) {
  record.code = info != nullptr ? info->si_code : 0;
  if (context != nullptr) {
    record.context = static_cast<const ucontext_t*>(context)->uc_mcontext;
    record.has_context = true;
    record.pc = context_pc(record.context);
  }
  record.m = mp;
  if (mp == nullptr) return;

  G* gp = mp->curg.load(std::memory_order_relaxed);
  record.current = gp;
  if (!interrupted_outside_switch(mp, context)) return;
  record.frame_count = capture_interrupted_stack(record.frames, kQuitFrames);
  if (record.frame_count == 0) return;
  record.interrupted = gp;
  record.idle_m = gp == nullptr;
}

[[noreturn]] void quit_exit() {
  if (traceback_env.crash) ::abort();
  ::_exit(2);
}

// Go's first two lines. In secure mode Go prints only the signal's name and exits, and so
// does this.
// NOTE: the secure-mode exit has not been run, because the tests cannot start a
// set-user-ID program.
void print_signal_lines(int fd) {
  write_all("SIGQUIT: quit\n", fd);
  if (secure_mode()) quit_exit();
  auto line = print_line();
  line.str("PC=").hex(record.pc).str(" m=");
  if (record.m != nullptr) {
    line.dec(record.m->id);
  } else {
    line.str("nil");
  }
  line.str(" sigcode=").dec(record.code).chr('\n').flush(fd);
}

// The signalled thread's stack, if the handler captured it, after a blank line.
void print_interrupted(int fd, int level) {
  if (record.frame_count == 0) return;
  write_all("\n", fd);
  if (record.interrupted != nullptr) {
    print_goroutine_header(record.interrupted, true, fd);
  } else {
    write_all("goroutine 0 [idle]:\n", fd);
  }
  stack_line<512> out;
  print_frames(out, fd, record.frames, record.frame_count, level);
  if (record.interrupted != nullptr) print_goroutine_creator(record.interrupted, level, fd);
}

void print_register(line_buffer& line, int fd, const char* name, std::uint64_t value) {
  // Go pads x86-64 register names to 7 columns and AArch64 ones to 8.
#if defined(__aarch64__)
  constexpr std::size_t kNameColumns = 8;
#else
  constexpr std::size_t kNameColumns = 7;
#endif
  line.str(name);
  for (std::size_t i = std::string_view(name).size(); i < kNameColumns; ++i) line.chr(' ');
  line.hex(value).chr('\n').flush(fd);
}

// Go's dumpregs, in Go's order.
void print_registers(int fd) {
  if (!record.has_context) return;
  stack_line<64> line;
  const mcontext_t& c = record.context;
#if defined(__x86_64__)
  static constexpr struct {
    const char* name;
    int index;
  } kRegisters[] = {
      {"rax", REG_RAX}, {"rbx", REG_RBX}, {"rcx", REG_RCX}, {"rdx", REG_RDX},
      {"rdi", REG_RDI}, {"rsi", REG_RSI}, {"rbp", REG_RBP}, {"rsp", REG_RSP},
      {"r8", REG_R8},   {"r9", REG_R9},   {"r10", REG_R10}, {"r11", REG_R11},
      {"r12", REG_R12}, {"r13", REG_R13}, {"r14", REG_R14}, {"r15", REG_R15},
      {"rip", REG_RIP}, {"rflags", REG_EFL},
  };
  for (const auto& r : kRegisters) {
    print_register(line, fd, r.name, static_cast<std::uint64_t>(c.gregs[r.index]));
  }
  // Linux packs the segment selectors into one word: cs, gs, fs, 16 bits each.
  const auto segments = static_cast<std::uint64_t>(c.gregs[REG_CSGSFS]);
  print_register(line, fd, "cs", segments & 0xffff);
  print_register(line, fd, "fs", (segments >> 32) & 0xffff);
  print_register(line, fd, "gs", (segments >> 16) & 0xffff);
#elif defined(__aarch64__)
  // NOTE: the AArch64 register dump has not been run on AArch64 hardware.
  static constexpr const char* kNames[] = {
      "r0",  "r1",  "r2",  "r3",  "r4",  "r5",  "r6",  "r7",  "r8",  "r9",
      "r10", "r11", "r12", "r13", "r14", "r15", "r16", "r17", "r18", "r19",
      "r20", "r21", "r22", "r23", "r24", "r25", "r26", "r27", "r28", "r29"};
  for (int i = 0; i < 30; ++i) print_register(line, fd, kNames[i], c.regs[i]);
  print_register(line, fd, "lr", c.regs[30]);
  print_register(line, fd, "sp", c.sp);
  print_register(line, fd, "pc", c.pc);
  print_register(line, fd, "fault", c.fault_address);
#else
  (void)c;
  (void)line;
#endif
}

// No sysmon: the handler interrupted main, the only goroutine, on m0, and prints here.
// NOTE: symbolising allocates, so a signal that interrupts main inside malloc can deadlock
// this path (the sysmon path symbolises on sysmon's own thread instead).
[[noreturn]] void print_dump_in_handler(G* main_g) {
  print_signal_lines(2);
  if (traceback_env.level > 0) {
    if (record.frame_count > 0) {
      print_interrupted(2, traceback_env.level);
    } else {
      write_all("\n");
      print_goroutine_header(main_g, true);
      write_all("\t(stack unavailable: the signal interrupted the runtime, an exception unwind "
                "or a stack walk)\n");
    }
    write_all("\n");
    print_registers(2);
  }
  quit_exit();
}

// Runs at most once, as the process dies, so it is [[gnu::cold]]: GCC optimises it for size.
[[gnu::cold]] void quit_handler(int, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  M* mp = getm();
  M* main_m = m0;
  const bool sysmon_running = sched.sysmon_started.load(std::memory_order_acquire);

  // Without sysmon, m0 is the only M. Running main, it must take the signal itself, so that
  // the handler can capture main's stack; asleep, it only needs waking (below).
  if (!sysmon_running && main_m != nullptr && mp != main_m &&
      !main_m->blocked.load(std::memory_order_relaxed)) {
    ::pthread_kill(static_cast<pthread_t>(main_m->thread), SIGQUIT);
    errno = saved_errno;
    return;
  }
  if (quit_started.exchange(true, std::memory_order_acq_rel)) {
    errno = saved_errno;
    return;
  }

  record_signal(info, context, mp);
  if (!sysmon_running && record.current != nullptr) print_dump_in_handler(record.current);

  // seq_cst, with the seq_cst load in sysmon's idle check: either sysmon sees the flag before
  // it sleeps, or this wake-up finds it asleep.
  sigquit_pending.store(true, std::memory_order_seq_cst);
  if (sysmon_running) {
    sysmon_wake_if_waiting();
  } else if (main_m != nullptr) {
    main_m->park.wakeup();
  }
  errno = saved_errno;
}

}  // namespace

void install_sigquit_handler() {
  if (installed) return;
  quit_started.store(false, std::memory_order_relaxed);
  sigquit_pending.store(false, std::memory_order_relaxed);
  struct sigaction sa {};
  sa.sa_sigaction = &quit_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  // ThreadSanitizer runs a handler only when the intercepted call the thread is in returns,
  // and SA_RESTART would keep a blocked read(2) from ever returning.
  if (running_under_tsan()) sa.sa_flags &= ~SA_RESTART;
  // sa_mask is empty because sa is zero-initialised (Linux's empty sigset_t is all zeros),
  // which keeps sigemptyset's libc call off the boot path.
  sigaction(SIGQUIT, &sa, &old_quit);
  installed = true;
}

void restore_sigquit_handler() {
  if (!installed) return;
  sigaction(SIGQUIT, &old_quit, nullptr);
  installed = false;
}

void sigquit_ignore() { quit_started.store(true, std::memory_order_release); }

void sigquit_dump_if_idle_dumper(M* mp) {
  // acquire: pairs with the handler's store, after which `record` is complete.
  if (!sigquit_pending.load(std::memory_order_acquire)) return;
  if (sched.sysmon_started.load(std::memory_order_acquire)) return;  // sysmon prints it
  sigquit_dump(mp);
}

void sigquit_dump(M* mp) {
  // sysmon may start after the handler picked idle m0; one of the two prints, and the other
  // waits for the exit.
  static std::atomic<bool> claimed{false};
  if (claimed.exchange(true, std::memory_order_acq_rel)) {
    for (;;) ::pause();
  }

  const int level = traceback_env.level;
  print_signal_lines(2);
  if (level > 0) {
    print_interrupted(2, level);

    dump_options options;
    if (!stop_world_for_exit_dump(mp, kQuitStopTimeoutNs, level, 2, &options)) {
      write_all("\nruntime: the world did not stop within 1 s; stacks of parked goroutines "
                "are left out\n");
    }
    dump_other_goroutines(mp, record.interrupted, options);

    write_all("\n");
    print_registers(2);
  }
  quit_exit();
}

}  // namespace goro::rt
