// Goroutine snapshots and goro::stack (Go's runtime.Stack).
//
// Both stop the world from the calling goroutine (dump_world.h): every P stops, goroutines
// running without a P get kDumpSettleNs to reach a scheduling point, and each parked
// goroutine is switched into to unwind its own stack (traceback.cc). The stack of a goroutine
// inside goro::blocking is walked by frame pointers (syscall_stack.h). The caller unwinds its
// own stack directly.
//
// goro::stack renders the same text the crash paths write to fd 2, so it writes into an
// anonymous memory file (memfd_create) and reads the text back. The printing code thus stays
// free of allocation, as the signal-handler paths that share it require.
#include "runtime/trace/snapshot.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "goro/runtime.hpp"
#include "runtime/sched/sched.h"
#include "runtime/trace/dump_world.h"
#include "runtime/trace/symbolize.h"
#include "runtime/trace/syscall_stack.h"
#include "runtime/trace/traceback.h"
#include "runtime/trace/unwind.h"

namespace goro::rt {

namespace {

G* current_goroutine_or_panic(const char* function) {
  M* mp = getm();
  G* gp = mp != nullptr ? mp->curg.load(std::memory_order_relaxed) : nullptr;
  if (gp == nullptr) {
    throw panic_error(std::string(function) +
                      ": called from a thread that is not running a goroutine; call it from "
                      "inside goro::run");
  }
  return gp;
}

goroutine_snapshot describe(G* gp, std::int64_t now) {
  goroutine_snapshot s;
  s.goid = gp->goid;
  s.status = gp->status.load(std::memory_order_acquire);
  s.wait_reason = s.status == gstatus::waiting ? gp->wait_reason.load(std::memory_order_relaxed) : waitreason::zero;
  const std::int64_t since = gp->waitsince.load(std::memory_order_relaxed);
  if (since != 0 && (s.status == gstatus::waiting || s.status == gstatus::syscall)) {
    s.wait_ns = now - since;
  }
  s.creator_pc = gp->is_main ? 0 : reinterpret_cast<std::uintptr_t>(gp->creator_pc);
  s.parent_goid = gp->is_main ? 0 : gp->parent_goid;
  return s;
}

void collect_user_goroutine(G* gp, void* arg) {
  const gstatus status = gp->status.load(std::memory_order_acquire);
  if (status == gstatus::dead || status == gstatus::idle || gp->is_system) return;
  static_cast<std::vector<G*>*>(arg)->push_back(gp);
}

// An anonymous in-memory file that the fd-based printers can write to.
class memory_file {
 public:
  memory_file() : fd_(::memfd_create("goro-stack", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "goro::stack: memfd_create failed for the traceback buffer");
    }
  }
  ~memory_file() { ::close(fd_); }
  memory_file(const memory_file&) = delete;
  memory_file& operator=(const memory_file&) = delete;

  int fd() const { return fd_; }

  std::string contents() const {
    std::string text;
    char buffer[4096];
    off_t offset = 0;
    for (;;) {
      ssize_t n = ::pread(fd_, buffer, sizeof buffer, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
      offset += n;
    }
    return text;
  }

 private:
  int fd_;
};

// The caller's frames start above goro::stack; the level is at least 1 because Go's
// runtime.Stack prints frames at every GOTRACEBACK setting.
[[gnu::noinline]] void print_caller(G* self, int fd, int level) {
  print_goroutine_header(self, true, fd);
  constexpr int kSkipPrintCallerAndStack = 2;
  print_current_stack(fd, kSkipPrintCallerAndStack, level);
  print_goroutine_creator(self, level, fd);
}

}  // namespace

[[gnu::noinline]] std::vector<goroutine_snapshot> snapshot_goroutines(const char* caller) {
  G* self = current_goroutine_or_panic(caller);
  std::vector<goroutine_snapshot> result;
  std::vector<G*> others;
  // Most of the allocation happens before the world stops, which keeps the stop short.
  constexpr std::size_t kSpareSlots = 16;
  const auto live = static_cast<std::size_t>(sched.ngoroutines.load(std::memory_order_relaxed));
  others.reserve(live + kSpareSlots);
  result.reserve(live + kSpareSlots);

  dump_world_stop stop;
  const dump_options options = stop.options(traceback_env.level, 2);
  M* mp = getm();

  goroutine_snapshot own = describe(self, stop.now());
  own.status = gstatus::running;
  own.pcs.resize(kSnapshotMaxFrames);
  own.pcs.resize(static_cast<std::size_t>(capture_stack(own.pcs.data(), kSnapshotMaxFrames, 1)));
  result.push_back(std::move(own));

  for_each_stack_slot(&collect_user_goroutine, &others);
  std::uintptr_t pcs[kSnapshotMaxFrames];
  frame_record frames[kSnapshotMaxFrames];
  for (G* gp : others) {
    if (gp == self) continue;
    goroutine_snapshot s = describe(gp, stop.now());
    if (s.status == gstatus::syscall) {
      const int n = capture_syscall_stack(gp, frames, kSnapshotMaxFrames);
      for (int i = 0; i < n; ++i) s.pcs.push_back(frames[i].pc);
    } else if (stack_is_saved(gp, options)) {
      const int n = capture_parked_stack(mp, gp, pcs, kSnapshotMaxFrames);
      s.pcs.assign(pcs, pcs + n);
    } else if (s.status == gstatus::runnable) {
      s.status = gstatus::running;  // still switching away on its M
    }
    result.push_back(std::move(s));
  }
  return result;
}

}  // namespace goro::rt

namespace goro {

[[gnu::noinline]] std::string stack(bool all) {
  using namespace rt;
  G* self = current_goroutine_or_panic("goro::stack");
  const int level = traceback_env.level > 1 ? traceback_env.level : 1;
  memory_file file;

  if (!all) {
    print_caller(self, file.fd(), level);
    return file.contents();
  }

  dump_world_stop stop;
  print_caller(self, file.fd(), level);
  dump_other_goroutines(getm(), self, stop.options(level, file.fd()));
  return file.contents();
}

}  // namespace goro
