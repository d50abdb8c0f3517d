// Initial frame of a new goroutine on x86-64; the layout is described in switch_amd64.S.
#if defined(__x86_64__)

#include <cstdint>

#include "runtime/arch/context.h"

namespace goro::rt {

namespace {
// Power-on defaults of the SSE and x87 control words: all exceptions masked, round to
// nearest, and (x87) 64-bit extended precision.
constexpr std::uint32_t kDefaultMxcsr = 0x1f80;
constexpr std::uint16_t kDefaultX87ControlWord = 0x037f;
}  // namespace

void* context_init(void* stack_top, context_entry entry, void* arg) {
  // The trampoline is entered by `ret`, after which SP must be 16-byte aligned so that its
  // `call` gives the entry function the ABI's alignment.
  auto top = reinterpret_cast<std::uintptr_t>(stack_top) & ~std::uintptr_t{15};
  auto* slots = reinterpret_cast<std::uint64_t*>(top) - 8;

  auto control = static_cast<std::uint64_t>(kDefaultMxcsr) |
                 (static_cast<std::uint64_t>(kDefaultX87ControlWord) << 32);
  slots[0] = control;
  slots[1] = 0;                                               // r15
  slots[2] = 0;                                               // r14
  slots[3] = reinterpret_cast<std::uint64_t>(arg);            // r13
  slots[4] = reinterpret_cast<std::uint64_t>(entry);          // r12
  slots[5] = 0;                                               // rbx
  slots[6] = 0;                                               // rbp
  slots[7] = reinterpret_cast<std::uint64_t>(&goro_rt_trampoline);  // return address
  return slots;
}

void context_reset_fp_control() {
  std::uint32_t mxcsr = kDefaultMxcsr;
  std::uint16_t x87 = kDefaultX87ControlWord;
  asm volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(mxcsr), "m"(x87));
}

}  // namespace goro::rt

#endif
