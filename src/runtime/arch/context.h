// Goroutine context switching: the contract between the scheduler and the per-architecture
// assembly (switch_amd64.S, switch_arm64.S).
//
// Model: a suspended goroutine is fully described by one word, its saved stack pointer. The
// switch pushes the callee-saved registers and the floating-point control words onto the
// outgoing stack, stores SP, loads the incoming SP and pops the same set. Everything else
// (caller-saved registers, flags) is dead across a call by the ABI, so it is not saved.
//
// Saved state, x86-64 SysV: rbx, rbp, r12-r15, the return address, MXCSR and the x87 control
// word. AArch64: x19-x29, lr, d8-d15, FPCR. The FP control words are per goroutine because a
// goroutine migrates between threads: a rounding mode set in one goroutine must neither leak
// to another goroutine on that thread nor be lost when it resumes elsewhere.
//
// A new goroutine's stack is prepared by `context_init` so that the first switch into it
// "returns" into `goro_rt_trampoline`, which calls `entry(transfer, arg)`. The trampoline's CFI
// marks the return address as undefined, so unwinders and gdb's `bt` stop at the goroutine's
// first frame instead of walking into garbage.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goro::rt {

// entry(transfer, arg): `transfer` is the value the switching side passed, `arg` the value
// given to context_init. It must never return.
using context_entry = void (*)(void* transfer, void* arg);

}  // namespace goro::rt

extern "C" {
// Saves the current context on the current stack, stores its SP in *save_sp, switches to the
// stack whose saved SP is new_sp, and returns `transfer` there (as the return value of the
// goro_rt_switch call that suspended it, or as the first argument of a new goroutine's entry).
void* goro_rt_switch(void** save_sp, void* new_sp, void* transfer);
// The first frame of every goroutine; never called directly.
void goro_rt_trampoline();
}

namespace goro::rt {

// Prepares a stack whose usable top is `stack_top` (exclusive) so that switching to the
// returned SP starts entry(transfer, arg). The FP control words start at the ABI defaults.
void* context_init(void* stack_top, context_entry entry, void* arg);

// Sets the calling thread's FP control words to the defaults a new goroutine starts with. A
// new thread inherits the words of the thread that created it. That thread may have been
// running a goroutine with its own rounding mode or unmasked exceptions, so a new M calls
// this first: its g0 and sysmon then run with the defaults.
void context_reset_fp_control();

}  // namespace goro::rt
