// Initial frame of a new goroutine on AArch64; the layout is described in switch_arm64.S.
#if defined(__aarch64__)

#include <cstdint>

#include "runtime/arch/context.h"

namespace goro::rt {

void* context_init(void* stack_top, context_entry entry, void* arg) {
  auto top = reinterpret_cast<std::uintptr_t>(stack_top) & ~std::uintptr_t{15};
  auto* slots = reinterpret_cast<std::uint64_t*>(top - 176);
  for (int i = 0; i < 22; ++i) slots[i] = 0;
  slots[0] = reinterpret_cast<std::uint64_t>(entry);                // x19
  slots[1] = reinterpret_cast<std::uint64_t>(arg);                  // x20
  slots[11] = reinterpret_cast<std::uint64_t>(&goro_rt_trampoline);  // x30: resume address
  // FPCR 0: round to nearest, no traps, the architectural reset value.
  slots[20] = 0;
  return slots;
}

void context_reset_fp_control() { asm volatile("msr fpcr, xzr"); }

}  // namespace goro::rt

#endif
