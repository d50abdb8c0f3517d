// Goroutine stacks: reserved virtual memory, committed lazily by the kernel, guarded, pooled.
//
// Model. A stack is a *slot* carved from a *slab*, one large anonymous mapping
// (MAP_NORESERVE, transparent huge pages off) holding up to 256 slots of one size. A
// slot's layout, from high to low addresses:
//
//     hi ->  G record (the goroutine's runtime record)
//            closure (the function and arguments given to goro::go)
//            frames ... growing down
//     lo ->  canary zone (kCanaryZone bytes that must stay zero)
//            guard page (when the slot is guarded)
//
// Keeping the G record at the top of its own stack means a parked goroutine that uses less
// than one page of stack costs exactly one resident page: the G, its closure and its frames
// share it. Pages below are committed only when frames reach them.
//
// Guards. Each guard page made with mprotect splits a kernel mapping, and vm.max_map_count
// (65530 by default) caps the mappings of a process, so mprotect guards cannot cover a
// million stacks. The policy, from GODEBUG=gorostackguard (default 2):
//   2  MADV_GUARD_INSTALL (Linux 6.13+) guards every slot without splitting a mapping; on
//      older kernels it behaves as 1.
//   1  mprotect guard pages while the stacks' share of the map budget lasts (half of
//      vm.max_map_count minus a reserve), then canary-only slots.
//   0  canary only.
// A guarded slot overflows into its guard page, and the SIGSEGV handler (overflow.cc) reports
// it. A canary-only slot overflows into its canary zone (and, deeper, into the slot below);
// the scheduler checks the canary zone each time the goroutine stops running and reports the
// overflow then. The zone is never written legitimately, so reading it maps the kernel's zero
// page and costs no resident memory.
//
// Pools. Dead Gs keep their slot: a free G *is* a free stack. Each P keeps up to
// kFreeGPerP of the default size (runtime2.h, P::gfree); the rest, and every other size, sit
// in a global pool per size. A P refills and spills its cache half a cache at a time, with
// one lock. Each G goes back to the pool of its own size, because after
// set_default_stack_size a cache can contain two sizes (gfget flushes it when it meets a G
// of the old one).
//
// Scavenging. sysmon returns the memory of slots idle in a global pool for more than a second
// (kScavengeIdleNs) with MADV_DONTNEED, keeping the top page with the G record. A pool keeps
// the Gs that still have their memory in a list ordered by the time they were freed, newest
// first, and the scavenged ones in a second list that callers use only when the first is
// empty. The scavenger takes idle Gs off the old end 64 at a time, calls madvise without the
// lock, and puts them on the second list, at most 1 024 per sysmon round. It leaves a pool
// at least one G that callers can take, so that a spawn meanwhile does not map a new slab
// only because the scavenger has every free G. sysmon also scavenges while every P is
// idle, waking from its deep sleep when the oldest free stack becomes idle long enough.
//
// Locks (stack.cc). stack_lock guards the pools, the slabs and the counters, and is held
// only for list operations. A new slot is claimed under it, and its G record is built
// outside it, because writing the record faults the slot's top page in. The G is then
// linked into the list of carved slots under the lock again. slab_lock serialises mapping new slabs (mmap and
// guard pages), so that threads taking slots never wait for those system calls.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goro::rt {

struct G;

struct goroutine_stack {
  std::uintptr_t lo = 0;  // lowest address of the slot's usable memory (the canary zone)
  std::uintptr_t hi = 0;  // one past the highest address
  bool guarded = false;   // a guard page lies just below lo
  bool scavenged = false; // memory below the top page was returned to the OS while free

  std::size_t size() const { return hi - lo; }
};

// Bytes at the bottom of a slot that must stay zero; part of every slot, guarded or not.
inline constexpr std::size_t kCanaryZone = 256;

// Default stack reservation. Go starts at 2 KiB and grows by copying; goro cannot move a C++
// stack, so it reserves the maximum up front and commits lazily. 256 KiB holds a typical C++
// server's call depth (parsers, formatting, a few frames of std::regex) while 1 000 000
// goroutines reserve 256 GiB of address space, well inside x86-64's 128 TiB.
inline constexpr std::size_t kDefaultStackSize = 256 * 1024;
inline constexpr std::size_t kMinStackSize = 16 * 1024;

// Called once by the bootstrap's stackinit phase.
void stackinit(std::size_t page_size, int guard_policy, std::size_t default_size);

std::size_t default_stack_size();
std::size_t set_default_stack_size_bytes(std::size_t bytes);
std::size_t round_stack_size(std::size_t bytes);

// Returns a zeroed G record at the top of a slot of `size` bytes, from the global pool or a
// new slab. Fatal (Go's "out of memory" wording) if the address space is exhausted.
G* stack_new_g(std::size_t size);
// Takes up to `max` pooled Gs of `size` bytes from the global pool with one lock and
// returns them linked through schedlink, newest first, with their number in *count. It
// carves nothing, so an empty pool gives nullptr and the caller then uses stack_new_g.
G* stack_take_pooled(std::size_t size, std::int32_t max, std::int32_t* count);
// Returns a dead G and its slot to the global pool of its size.
void stack_free_g(G* gp);
// Returns dead Gs, linked through schedlink from head to tail, to the global pools of their
// sizes with one lock.
void stack_free_gs(G* head, G* tail);
// Address of the G record in a slot whose top is `hi`.
G* g_for_slot(std::uintptr_t hi);
// Where a new goroutine's closure may go: just below the G record.
std::uintptr_t slot_closure_top(const G* gp);

// True if the canary zone of a canary-only slot has been written: the goroutine overflowed.
bool stack_canary_broken(const G* gp);

// If addr lies in the guard page of a slot, stores that slot's G and returns true.
bool stack_guard_owner(std::uintptr_t addr, G** owner);

// Calls f(gp, arg) for every slot that has ever held a goroutine, live or free, in the order
// the slots were carved. A reused G keeps its place, so this is the order of Go's allgs,
// which Go's goroutine dumps follow. Takes no lock, so a fatal error raised while a runtime
// lock is held may call it. f is also called for slots carved while the walk runs.
void for_each_stack_slot(void (*f)(G* gp, void* arg), void* arg);

// Returns to the OS the memory of at most max_gs slots idle in the global pools since
// before `now - idle_ns` (idle_ns <= 0: one second), and returns how many it released. It
// holds the pools' lock for a batch of 64 at most and never across a system call.
std::size_t stack_scavenge(std::int64_t now, std::int64_t idle_ns, std::size_t max_gs);
// The time (nanotime) at which stack_scavenge would first find a stack to release, or 0 if
// no free stack still has its memory.
std::int64_t stack_scavenge_due(std::int64_t idle_ns);
// stack_scavenge for the pool of one stack size.
std::size_t stack_scavenge_size(std::size_t size, std::int64_t now, std::int64_t idle_ns,
                                std::size_t max_gs);

// Counters for metrics and tests.
struct stack_stats {
  std::size_t slabs = 0;
  std::size_t slots_carved = 0;
  std::size_t guarded_slots = 0;
  std::size_t reserved_bytes = 0;
  std::size_t pooled = 0;
};
stack_stats read_stack_stats();

// Frees every slab (end of a run; no goroutine may run). Slots whose goroutine is still
// running on a thread (abandoned in user code) are kept mapped.
void stack_release_all(bool keep_mapped);

}  // namespace goro::rt
