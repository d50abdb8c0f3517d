// Stack overflow reports and the handling of faults in goroutine code.
//
// SIGSEGV and SIGBUS run on each M's alternate signal stack (64 KiB, from minit_signals),
// because a fault in a guard page means the goroutine's own stack is exhausted.
//   * A fault in a goroutine stack's guard page (or its canary zone) is a stack overflow:
//     Go's three lines, then which goroutine overflowed, its stack size and how to raise it,
//     then exit status 2.
//   * Any other fault in goroutine code is reported as Go reports a nil dereference or bad
//     address: "panic: runtime error: invalid memory address or nil pointer dereference",
//     the signal line, the goroutine's traceback, exit status 2.
//   * A fault on a thread that is not an M goes to the handler that was installed before
//     goro's (or the default action), so goro does not hide other code's crashes.
// Under AddressSanitizer the handlers are not installed: ASan's own report is better.
#include "runtime/stack/overflow.h"

#include <csignal>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/os/raw_syscall.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sanitizer.h"
#include "runtime/sched/sched.h"
#include "runtime/stack/stack.h"
#include "runtime/trace/symbolize.h"
#include "runtime/trace/traceback.h"

namespace goro::rt {

namespace {

constexpr std::size_t kSignalStackSize = 64 * 1024;

struct sigaction old_segv;
struct sigaction old_bus;
bool handlers_installed = false;
// Set by the first fault report; a fault while reporting exits at once.
volatile sig_atomic_t reporting = 0;

void print_overflow(G* gp) {
  print_line().str("runtime: goroutine stack exceeds ").udec(gp->stack.size() - kCanaryZone)
      .str("-byte limit\n").flush();
  print_line().str("runtime: stack=[").hex(gp->stack.lo).str(", ").hex(gp->stack.hi)
      .str("]\n").flush();
  write_all("fatal error: stack overflow\n\n");
  print_line().str("goro: goroutine ").dec(gp->goid).str(" overflowed its ")
      .udec(gp->stack.size()).str("-byte stack; raise it for that goroutine with "
      "goro::go_with(goro::spawn_options{.stack_size = N}, ...) or for all goroutines with "
      "GODEBUG=gorostacksize=N (bytes, K or M suffix) or goro::set_default_stack_size\n")
      .flush();
}

// How far below a stack's end a faulting stack pointer still counts as that stack's
// overflow: 1 MiB, room for a frame with large local arrays that jumped past the end.
constexpr std::uintptr_t kOverflowReach = 1 << 20;

std::uintptr_t interrupted_sp(void* context) {
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(static_cast<ucontext_t*>(context)->uc_mcontext.sp);
#else
  (void)context;
  return 0;
#endif
}

void chain_to_previous(int sig, siginfo_t* info, void* context) {
  const struct sigaction& old = sig == SIGBUS ? old_bus : old_segv;
  if ((old.sa_flags & SA_SIGINFO) != 0 && old.sa_sigaction != nullptr) {
    old.sa_sigaction(sig, info, context);
    return;
  }
  if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && old.sa_handler != nullptr) {
    old.sa_handler(sig);
    return;
  }
  // Default action: re-raise with the default disposition once we return.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, nullptr);
}

void fault_handler(int sig, siginfo_t* info, void* context) {
  M* mp = getm();
  G* gp = mp != nullptr ? mp->curg.load(std::memory_order_relaxed) : nullptr;
  if (gp == nullptr) {
    chain_to_previous(sig, info, context);
    return;
  }
  if (reporting) ::_exit(2);
  reporting = 1;

  auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  std::uintptr_t sp = interrupted_sp(context);
  G* owner = nullptr;
  // An overflow shows as a fault in a guard page, or (canary-only stacks, whose overflow runs
  // on into whatever lies below) as a fault with the stack pointer below the stack's usable
  // memory.
  bool overflow = stack_guard_owner(addr, &owner);
  if (!overflow && sp != 0 && sp < gp->stack.lo + kCanaryZone &&
      sp + kOverflowReach > gp->stack.lo) {
    owner = gp;
    overflow = true;
  }
  if (overflow) {
    print_overflow(owner);
    print_goroutine_header(owner, true);
    // TSan rejects the unwinder's allocations inside a signal handler; its builds skip the
    // frames.
    if (owner == gp && !running_under_tsan()) print_current_stack(2, 0, traceback_env.level);
    if (traceback_env.crash) ::abort();
    ::_exit(2);
  }

  write_all("panic: runtime error: invalid memory address or nil pointer dereference\n");
  auto line = print_line();
  line.str("[signal ").str(sig == SIGBUS ? "SIGBUS: bus error" : "SIGSEGV: segmentation violation")
      .str(" code=").hex(static_cast<std::uint64_t>(info->si_code)).str(" addr=").hex(addr);
#if defined(__x86_64__)
  auto* uc = static_cast<ucontext_t*>(context);
  line.str(" pc=").hex(static_cast<std::uint64_t>(uc->uc_mcontext.gregs[REG_RIP]));
#endif
  line.str("]\n\n").flush();
  print_goroutine_header(gp, true);
  if (!running_under_tsan()) print_current_stack(2, 0, traceback_env.level);
  if (traceback_env.crash) ::abort();
  ::_exit(2);
}

}  // namespace

void minit_signals(M* mp) {
  long mapped = os::raw_mmap(nullptr, kSignalStackSize, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped < 0) return;
  void* stack = reinterpret_cast<void*>(mapped);
  stack_t ss{};
  ss.ss_sp = stack;
  ss.ss_size = kSignalStackSize;
  if (os::raw_syscall(SYS_sigaltstack, os::syscall_arg(&ss), 0) != 0) {
    os::raw_munmap(stack, kSignalStackSize);
    return;
  }
  mp->signal_stack = stack;
}

void unminit_signals(M* mp) {
  if (mp->signal_stack == nullptr) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  os::raw_syscall(SYS_sigaltstack, os::syscall_arg(&ss), 0);
  os::raw_munmap(mp->signal_stack, kSignalStackSize);
  mp->signal_stack = nullptr;
}

void install_fault_handlers() {
  // ASan's own SEGV report is better than ours, and it owns the handler.
  if (running_under_asan()) return;
  if (handlers_installed) return;
  struct sigaction sa {};
  sa.sa_sigaction = &fault_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  // sa_mask is empty because sa is zero-initialised (Linux's empty sigset_t is all zeros),
  // which keeps sigemptyset's libc call off the boot path.
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
  handlers_installed = true;
}

void restore_fault_handlers() {
  if (!handlers_installed) return;
  sigaction(SIGSEGV, &old_segv, nullptr);
  sigaction(SIGBUS, &old_bus, nullptr);
  handlers_installed = false;
}

void report_canary_overflow(G* gp) {
  print_overflow(gp);
  print_goroutine_header(gp, true);
  if (traceback_env.crash) ::abort();
  ::_exit(2);
}

}  // namespace goro::rt
