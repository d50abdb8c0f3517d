#include "runtime/stack/stack.h"

#include <cerrno>
#include <new>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "runtime/os/futex.h"
#include "runtime/os/raw_syscall.h"
#include "runtime/os/vm_limits.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/runtime2.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace goro::rt {

namespace {

// Slots per slab: 256 default-size slots make a 65 MiB reservation, so a million goroutines
// need about 4 000 mappings, and one slab costs one mmap and one guard-installing call. The
// first slab of each size is smaller (kFirstSlabSlots), so that a program with a handful of
// goroutines does not pay for guarding 256 slots at start-up.
constexpr std::uint32_t kSlotsPerSlab = 256;
constexpr std::uint32_t kFirstSlabSlots = 16;

// Free slots of one size are returned to the OS when idle this long in a global pool.
constexpr std::int64_t kScavengeIdleNs = 1'000'000'000;
// The scavenger takes at most this many Gs out of a pool per hold of stack_lock and makes
// its madvise calls without the lock, so a spawn waits at most for one batch's unlinking.
constexpr std::size_t kScavengeBatch = 64;

struct slab {
  std::uintptr_t base = 0;
  std::size_t stride = 0;  // guard page + slot size
  std::size_t size = 0;    // usable slot size
  std::uint32_t nslots = 0;
  std::uint32_t carved = 0;
  bool guarded = false;  // every slot of this slab has a guard page
  slab* next = nullptr;
};

struct size_pool {
  std::size_t size = 0;
  slab* current = nullptr;  // slab being carved
  // Free Gs whose stacks may still have committed pages, newest first, linked through
  // schedlink and pool_prev. Each is stamped with the time it was freed, so the stamps do not
  // increase from free to free_tail (except between two frees that race), and the scavenger
  // takes the Gs that have been idle long enough from the tail.
  G* free = nullptr;
  G* free_tail = nullptr;
  G* scavenged = nullptr;      // free Gs whose stacks were scavenged, linked through schedlink
  std::size_t free_count = 0;  // Gs in both lists and in the scavenger's hands
  size_pool* next = nullptr;
};

// Serialises mapping new slabs (map_slab, grow_pool), with the guard set-up state it uses:
// install_madvise_guards' pidfd, and changes of `mode` (made under both locks). Taken before
// stack_lock, never while holding it, so that threads taking slots from the pool do not wait
// for a slab's system calls.
runtime_lock slab_lock;
// Guards every field below: pools, slab list and counters. Held only for list operations,
// never across a system call except an mprotect guard (guard_mode::mprotect only).
runtime_lock stack_lock;
size_pool* pools = nullptr;
// Newest first. Prepended under stack_lock with a release store, so the SIGSEGV handler may
// walk it lock-free with acquire loads.
std::atomic<slab*> slabs{nullptr};
// Every carved slot's G, linked through G::alllink in the order the slots were set up (carve
// order, except that two threads carving at once may finish in either order): the first
// one here, the last one in last_carved. Appended under stack_lock with release stores and
// read without the lock with acquire loads (for_each_stack_slot).
std::atomic<G*> first_carved{nullptr};
G* last_carved = nullptr;
stack_stats stats;
// Incremented by stack_release_all, so that a scavenger pass that outlived its run does not
// put that run's Gs into a later run's pools.
std::uint64_t pools_generation = 0;

std::size_t page_size = 4096;
std::atomic<std::size_t> default_size{kDefaultStackSize};

enum class guard_mode { canary, mprotect, madvise };
// Written by stackinit and, under slab_lock and stack_lock, by map_slab; read under either.
guard_mode mode = guard_mode::canary;
// mprotect guard budget: how many more slots may get a guard page (each costs 2 mappings).
long mprotect_budget = 0;

std::uintptr_t round_up(std::uintptr_t v, std::uintptr_t a) { return (v + a - 1) & ~(a - 1); }

// Returns the pool of `size`, or nullptr if there is none (stack_lock held).
size_pool* find_pool(std::size_t size) {
  for (size_pool* p = pools; p != nullptr; p = p->next) {
    if (p->size == size) return p;
  }
  return nullptr;
}

// Returns the pool of `size`, created if needed (stack_lock held).
size_pool* pool_for(std::size_t size) {
  if (size_pool* p = find_pool(size)) return p;
  auto* p = new (std::nothrow) size_pool;
  if (p == nullptr) fatal("stack: out of memory for a stack pool");
  p->size = size;
  p->next = pools;
  pools = p;
  return p;
}

// Installs guard pages for every slot of `s` with MADV_GUARD_INSTALL, batched through
// process_madvise where the kernel allows it. Returns false if the kernel lacks the advice.
bool install_madvise_guards(slab* s) {
  static int pidfd = -2;
  if (pidfd == -2) {
    pidfd = static_cast<int>(os::raw_syscall(SYS_pidfd_open, os::raw_syscall(SYS_getpid), 0));
  }
  if (pidfd >= 0) {
    iovec iov[kSlotsPerSlab];
    for (std::uint32_t i = 0; i < s->nslots; ++i) {
      iov[i].iov_base = reinterpret_cast<void*>(s->base + i * s->stride);
      iov[i].iov_len = page_size;
    }
    long done = os::raw_syscall(SYS_process_madvise, pidfd, os::syscall_arg(iov), s->nslots,
                                MADV_GUARD_INSTALL, 0);
    if (done == static_cast<long>(s->nslots * page_size)) return true;
    // Not supported for this advice; fall back to one call per slot from now on.
    ::close(pidfd);
    pidfd = -1;
  }
  for (std::uint32_t i = 0; i < s->nslots; ++i) {
    if (os::raw_madvise(reinterpret_cast<void*>(s->base + i * s->stride), page_size,
                        MADV_GUARD_INSTALL) != 0) {
      return false;
    }
  }
  return true;
}

// Reserves and guards a slab of `nslots` slots of `size` bytes, for grow_pool to publish.
// Called with slab_lock held and stack_lock not held.
slab* map_slab(std::size_t size, std::uint32_t nslots) {
  std::size_t stride = size + page_size;
  std::size_t bytes = stride * nslots;
  long mapped = os::raw_mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapped < 0) {
    print_line().str("runtime: cannot reserve ").udec(bytes).str(" bytes of goroutine stacks, errno=")
        .dec(-mapped).str("\n").flush();
    fatal("out of memory: goroutine stacks (lower GODEBUG=gorostacksize or the number of goroutines)");
  }
  // One touch must commit one 4 KiB page, not a 2 MiB huge page.
  void* base = reinterpret_cast<void*>(mapped);
  os::raw_madvise(base, bytes, MADV_NOHUGEPAGE);

  auto* s = new (std::nothrow) slab;
  if (s == nullptr) fatal("stack: out of memory for a slab record");
  s->base = reinterpret_cast<std::uintptr_t>(base);
  s->stride = stride;
  s->size = size;
  s->nslots = nslots;

  if (mode == guard_mode::madvise) {
    if (install_madvise_guards(s)) {
      s->guarded = true;
    } else {
      std::lock_guard<runtime_lock> guard(stack_lock);
      mode = guard_mode::mprotect;
    }
  }
  return s;
}

bool has_free_slot(const slab* s) { return s != nullptr && s->carved < s->nslots; }

// Puts a free G at the head of its pool's free list (stack_lock held).
void pool_push(size_pool* pool, G* gp) {
  gp->pool_prev = nullptr;
  gp->schedlink = pool->free;
  if (pool->free != nullptr) {
    pool->free->pool_prev = gp;
  } else {
    pool->free_tail = gp;
  }
  pool->free = gp;
}

// Returns the G the scavenger would take next from pool, the one freed first, or nullptr.
// The scavenger leaves one G that callers can take, so that a spawn meanwhile does not map a
// new slab only because every free G of this size is in its hands (stack_lock held).
G* scavenge_candidate(const size_pool* pool) {
  G* gp = pool->free_tail;
  if (gp == nullptr || (gp->pool_prev == nullptr && pool->scavenged == nullptr)) return nullptr;
  return gp;
}

// Takes the newest free G, else a scavenged one, or returns nullptr (stack_lock held).
G* pool_pop(size_pool* pool) {
  G* gp = pool->free;
  if (gp != nullptr) {
    pool->free = gp->schedlink;
    if (pool->free != nullptr) {
      pool->free->pool_prev = nullptr;
    } else {
      pool->free_tail = nullptr;
    }
  } else {
    gp = pool->scavenged;
    if (gp == nullptr) return nullptr;
    pool->scavenged = gp->schedlink;
  }
  gp->schedlink = nullptr;
  gp->pool_prev = nullptr;
  pool->free_count--;
  stats.pooled--;
  return gp;
}

// Gives the pool of `size` a new slab, unless another thread has given it one or freed a G
// of that size since the caller looked.
void grow_pool(std::size_t size) {
  std::lock_guard<runtime_lock> grow(slab_lock);
  bool first = false;
  {
    std::lock_guard<runtime_lock> guard(stack_lock);
    size_pool* pool = pool_for(size);
    if (pool->free != nullptr || pool->scavenged != nullptr || has_free_slot(pool->current)) {
      return;
    }
    first = pool->current == nullptr;
  }

  slab* s = map_slab(size, first ? kFirstSlabSlots : kSlotsPerSlab);

  std::lock_guard<runtime_lock> guard(stack_lock);
  s->next = slabs.load(std::memory_order_relaxed);
  slabs.store(s, std::memory_order_release);
  stats.slabs++;
  stats.reserved_bytes += s->stride * s->nslots;
  pool_for(size)->current = s;
}

// A slot taken from a slab under stack_lock, to be set up outside it.
struct slot_claim {
  slab* s;
  std::uint32_t index;
  bool guarded;
};

// Takes a free slot of the pool's current slab, which must have one, and guards it with
// mprotect when that is the guard mode. Called with stack_lock held.
slot_claim claim_slot(size_pool* pool) {
  slab* s = pool->current;
  std::uint32_t i = s->carved++;
  std::uintptr_t guard = s->base + i * s->stride;

  bool guarded = s->guarded;
  if (!guarded && mode == guard_mode::mprotect && mprotect_budget < 0) {
    // Stacks may use half of the process's mapping budget for mprotect guards (two mappings
    // each), leaving the rest, minus a reserve of 4096, to the program and its libraries.
    // Read only now: most kernels take the MADV_GUARD_INSTALL path and never need it.
    mprotect_budget = os::max_map_count() / 4 - 2048;
    if (mprotect_budget < 0) mprotect_budget = 0;
  }
  if (!guarded && mode == guard_mode::mprotect && mprotect_budget > 0) {
    if (::mprotect(reinterpret_cast<void*>(guard), page_size, PROT_NONE) == 0) {
      guarded = true;
      mprotect_budget--;
    }
  }
  stats.slots_carved++;
  if (guarded) stats.guarded_slots++;
  return slot_claim{s, i, guarded};
}

// Builds the G record at the top of a claimed slot, without stack_lock: writing the record
// commits the slot's top page, a page fault that other threads should not wait for.
G* build_slot_g(const slot_claim& c) {
  std::uintptr_t lo = c.s->base + c.index * c.s->stride + page_size;
  std::uintptr_t hi = lo + c.s->size;
  G* gp = new (reinterpret_cast<void*>(g_for_slot(hi))) G;
  gp->stack.lo = lo;
  gp->stack.hi = hi;
  gp->stack.guarded = c.guarded;
  return gp;
}

// Appends a newly built G to the list of every carved slot's G (stack_lock held).
void link_carved(G* gp) {
  if (last_carved != nullptr) {
    last_carved->alllink.store(gp, std::memory_order_release);
  } else {
    first_carved.store(gp, std::memory_order_release);
  }
  last_carved = gp;
}

}  // namespace

void stackinit(std::size_t page, int guard_policy, std::size_t size) {
  page_size = page;
  if (size != 0) default_size.store(round_stack_size(size), std::memory_order_relaxed);
  mprotect_budget = -1;  // computed when mprotect guards are first needed
  switch (guard_policy) {
    case 0: mode = guard_mode::canary; break;
    case 1: mode = guard_mode::mprotect; break;
    default: mode = guard_mode::madvise; break;
  }
}

std::size_t default_stack_size() { return default_size.load(std::memory_order_relaxed); }

std::size_t round_stack_size(std::size_t bytes) {
  if (bytes < kMinStackSize) bytes = kMinStackSize;
  return round_up(bytes, page_size);
}

std::size_t set_default_stack_size_bytes(std::size_t bytes) {
  return default_size.exchange(round_stack_size(bytes), std::memory_order_relaxed);
}

G* g_for_slot(std::uintptr_t hi) {
  return reinterpret_cast<G*>((hi - sizeof(G)) & ~std::uintptr_t{63});
}

std::uintptr_t slot_closure_top(const G* gp) { return reinterpret_cast<std::uintptr_t>(gp); }

G* stack_new_g(std::size_t size) {
  slot_claim claim{};
  for (;;) {
    {
      std::lock_guard<runtime_lock> guard(stack_lock);
      size_pool* pool = pool_for(size);
      if (G* gp = pool_pop(pool)) return gp;
      if (has_free_slot(pool->current)) {
        claim = claim_slot(pool);
        break;
      }
    }
    grow_pool(size);
  }

  // A new slot: fault its top page in without the lock, then publish it.
  G* gp = build_slot_g(claim);
  std::lock_guard<runtime_lock> guard(stack_lock);
  link_carved(gp);
  return gp;
}

G* stack_take_pooled(std::size_t size, std::int32_t max, std::int32_t* count) {
  std::lock_guard<runtime_lock> guard(stack_lock);
  size_pool* pool = pool_for(size);
  G* head = nullptr;
  G* tail = nullptr;
  std::int32_t n = 0;
  for (; n < max; ++n) {
    G* gp = pool_pop(pool);
    if (gp == nullptr) break;
    if (tail != nullptr) {
      tail->schedlink = gp;
    } else {
      head = gp;
    }
    tail = gp;
  }
  *count = n;
  return head;
}

void stack_free_gs(G* head, G* tail) {
  // One clock read for the batch: the scavenger only needs to know roughly how long a slot
  // has been free.
  const std::int64_t now = os::nanotime();
  for (G* gp = head;; gp = gp->schedlink) {
    gp->waitsince.store(now, std::memory_order_relaxed);
    if (gp == tail) break;
  }
  std::lock_guard<runtime_lock> guard(stack_lock);
  // Each G goes to the pool of its own size: a P's cache may hold Gs of an earlier default
  // size (set_default_stack_size), so the sizes in one batch can differ.
  size_pool* pool = nullptr;
  for (G* gp = head; gp != nullptr;) {
    G* next = gp == tail ? nullptr : gp->schedlink;
    if (pool == nullptr || pool->size != gp->stack.size()) pool = pool_for(gp->stack.size());
    pool_push(pool, gp);
    pool->free_count++;
    stats.pooled++;
    gp = next;
  }
}

void stack_free_g(G* gp) { stack_free_gs(gp, gp); }

bool stack_canary_broken(const G* gp) {
  if (gp->stack.guarded || gp->stack.lo == 0) return false;
  // An overflow writes downward through the zone; its top word is hit first.
  auto* zone = reinterpret_cast<const volatile std::uint64_t*>(gp->stack.lo);
  constexpr std::size_t kWords = kCanaryZone / sizeof(std::uint64_t);
  return zone[kWords - 1] != 0 || zone[kWords / 2] != 0 || zone[0] != 0;
}

bool stack_guard_owner(std::uintptr_t addr, G** owner) {
  // Runs in a signal handler: no lock (the list only grows, and new slabs are published
  // after they are filled in), no allocation.
  for (slab* s = slabs.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    std::uintptr_t end = s->base + s->stride * s->nslots;
    if (addr < s->base || addr >= end) continue;
    std::uintptr_t i = (addr - s->base) / s->stride;
    std::uintptr_t guard = s->base + i * s->stride;
    std::uintptr_t lo = guard + page_size;
    // The fault is in the guard page, or in the canary zone just above it.
    if (addr >= guard && addr < lo + kCanaryZone) {
      *owner = g_for_slot(lo + s->size);
      return true;
    }
    return false;
  }
  return false;
}

void for_each_stack_slot(void (*f)(G* gp, void* arg), void* arg) {
  for (G* gp = first_carved.load(std::memory_order_acquire); gp != nullptr;
       gp = gp->alllink.load(std::memory_order_acquire)) {
    f(gp, arg);
  }
}

std::size_t stack_scavenge_size(std::size_t size, std::int64_t now, std::int64_t idle_ns,
                                std::size_t max_gs) {
  std::size_t done = 0;
  while (done < max_gs) {
    // Take up to a batch of idle Gs off the tail. They stay counted as free, but no caller
    // can take them until they are back in the pool.
    G* batch[kScavengeBatch];
    std::size_t n = 0;
    std::uint64_t generation = 0;
    {
      std::lock_guard<runtime_lock> guard(stack_lock);
      generation = pools_generation;
      size_pool* pool = find_pool(size);
      while (pool != nullptr && n < kScavengeBatch && done + n < max_gs) {
        G* gp = scavenge_candidate(pool);
        if (gp == nullptr || now - gp->waitsince.load(std::memory_order_relaxed) < idle_ns) {
          break;
        }
        pool->free_tail = gp->pool_prev;
        if (pool->free_tail != nullptr) {
          pool->free_tail->schedlink = nullptr;
        } else {
          pool->free = nullptr;
        }
        gp->pool_prev = nullptr;
        batch[n++] = gp;
      }
    }
    if (n == 0) return done;

    // Return each stack's pages to the OS without the lock. Keep the top page: it contains the
    // G record and the free-list links.
    for (std::size_t k = 0; k < n; ++k) {
      G* gp = batch[k];
      std::uintptr_t top_page = reinterpret_cast<std::uintptr_t>(gp) & ~(page_size - 1);
      if (top_page > gp->stack.lo) {
        ::madvise(reinterpret_cast<void*>(gp->stack.lo), top_page - gp->stack.lo, MADV_DONTNEED);
      }
      gp->stack.scavenged = true;
    }

    {
      std::lock_guard<runtime_lock> guard(stack_lock);
      // The run ended meanwhile (stack_release_all): these Gs are no longer goro's.
      if (pools_generation != generation) return done + n;
      size_pool* pool = find_pool(size);
      for (std::size_t k = 0; k < n; ++k) {
        batch[k]->schedlink = pool->scavenged;
        pool->scavenged = batch[k];
      }
    }
    done += n;
    if (n < kScavengeBatch) return done;
  }
  return done;
}

std::int64_t stack_scavenge_due(std::int64_t idle_ns) {
  if (idle_ns <= 0) idle_ns = kScavengeIdleNs;
  std::int64_t due = 0;
  std::lock_guard<runtime_lock> guard(stack_lock);
  for (size_pool* p = pools; p != nullptr; p = p->next) {
    G* oldest = scavenge_candidate(p);
    if (oldest == nullptr) continue;
    std::int64_t at = oldest->waitsince.load(std::memory_order_relaxed) + idle_ns;
    if (due == 0 || at < due) due = at;
  }
  return due;
}

std::size_t stack_scavenge(std::int64_t now, std::int64_t idle_ns, std::size_t max_gs) {
  if (idle_ns <= 0) idle_ns = kScavengeIdleNs;
  std::size_t done = 0;
  // Pools are looked up by size for each batch, never kept across an unlock: stack_release_all
  // frees them, and may run while an abandoned sysmon is still here. A pool created meanwhile
  // shifts the indices, so a pass may skip or repeat one; the next pass catches up.
  for (std::size_t i = 0; done < max_gs; ++i) {
    std::size_t size = 0;
    {
      std::lock_guard<runtime_lock> guard(stack_lock);
      size_pool* p = pools;
      for (std::size_t k = 0; p != nullptr && k < i; ++k) p = p->next;
      if (p == nullptr) break;
      size = p->size;
    }
    done += stack_scavenge_size(size, now, idle_ns, max_gs - done);
  }
  return done;
}

stack_stats read_stack_stats() {
  std::lock_guard<runtime_lock> guard(stack_lock);
  return stats;
}

void stack_release_all(bool keep_mapped) {
  std::lock_guard<runtime_lock> guard(stack_lock);
  pools_generation++;
  for (size_pool* p = pools; p != nullptr;) {
    size_pool* next = p->next;
    delete p;
    p = next;
  }
  pools = nullptr;
  for (slab* s = slabs.load(std::memory_order_relaxed); s != nullptr;) {
    slab* next = s->next;
    if (!keep_mapped) os::raw_munmap(reinterpret_cast<void*>(s->base), s->stride * s->nslots);
    delete s;
    s = next;
  }
  slabs.store(nullptr, std::memory_order_relaxed);
  first_carved.store(nullptr, std::memory_order_relaxed);
  last_carved = nullptr;
  stats = stack_stats{};
}

}  // namespace goro::rt
