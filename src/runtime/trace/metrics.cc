// goro::metrics: a snapshot of scheduler state, read the way schedtrace reads it.
//
// Sources:
//   goroutines by state   one pass over every stack slot (each slot holds at most one G),
//                         reading each G's atomic status; runtime Gs are left out
//   threads, Ps           sched's counters, under sched.lock so that they agree
//   run queues            sched.runqsize and runq_size() of each live P
//   timers                sched.ntimers
//   stacks                the slots of live goroutines, and read_stack_stats()
//   latencies             the sum of every P's histogram (schedhooks.cc records them)
//   poller waiters        netpoll_waiters(), goroutines and plain threads in poll_wait
// Nothing stops the world: a sample taken while goroutines run is a set of values that were
// each true at some moment of the read.
#include "goro/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "goro/runtime.hpp"
#include "runtime/netpoll/netpoll.h"
#include "runtime/os/futex.h"
#include "runtime/sched/sanitizer.h"
#include "runtime/sched/sched.h"
#include "runtime/stack/stack.h"
#include "runtime/trace/schedhooks.h"

namespace goro::rt {

namespace {

struct goroutine_counts {
  std::int64_t running = 0;
  std::int64_t runnable = 0;
  std::int64_t waiting = 0;
  std::int64_t syscall = 0;
  std::uint64_t stack_bytes = 0;
};

void count_goroutine(G* gp, void* arg) {
  auto* counts = static_cast<goroutine_counts*>(arg);
  gstatus status = gp->status.load(std::memory_order_acquire);
  if (status == gstatus::idle || status == gstatus::dead) return;
  counts->stack_bytes += gp->stack.size();
  if (gp->is_system) return;
  switch (status) {
    case gstatus::running:
      counts->running++;
      break;
    case gstatus::runnable:
      counts->runnable++;
      break;
    case gstatus::waiting:
      counts->waiting++;
      break;
    case gstatus::syscall:
      counts->syscall++;
      break;
    case gstatus::idle:
    case gstatus::dead:
      break;
  }
}

void read_goroutines(goro::metrics::sample& s) {
  goroutine_counts counts;
  // A slot's non-atomic fields (is_system, the stack bounds) are read while their owner may
  // be reusing the slot, as scheddetail reads them, so TSan ignores these reads.
  sanitizer_ignore_reads_begin();
  for_each_stack_slot(&count_goroutine, &counts);
  sanitizer_ignore_reads_end();
  s.goroutines = sched.ngoroutines.load(std::memory_order_relaxed);
  s.goroutines_running = counts.running;
  s.goroutines_runnable = counts.runnable;
  s.goroutines_waiting = counts.waiting;
  s.goroutines_syscall = counts.syscall;
  s.stack_inuse_bytes = counts.stack_bytes;
  s.stack_reserved_bytes = read_stack_stats().reserved_bytes;
}

void read_threads_and_ps(goro::metrics::sample& s) {
  std::lock_guard<runtime_lock> guard(sched.lock);
  s.threads = sched.mcount_alive.load(std::memory_order_relaxed);
  s.threads_idle = sched.nmidle;
  s.threads_spinning = sched.nmspinning.load(std::memory_order_relaxed);
  s.gomaxprocs = sched.gomaxprocs.load(std::memory_order_relaxed);
  s.procs_idle = sched.npidle.load(std::memory_order_relaxed);
  s.runqueue_global = sched.runqsize.load(std::memory_order_relaxed);

  std::int32_t n = allp_count();
  for (std::int32_t i = 0; i < n; ++i) {
    P* pp = allp_at(i);
    if (pp->status() == pstatus::dead) continue;
    s.procs++;
    s.runqueue_local.push_back(static_cast<std::int64_t>(runq_size(pp)));
  }
}

void read_latencies(goro::metrics::sample& s) {
  goro::metrics::histogram& h = s.sched_latencies;
  h.counts.assign(kLatencyBuckets, 0);
  h.boundaries.resize(kLatencyBuckets + 1);
  for (int i = 0; i < kLatencyBuckets; ++i) {
    h.boundaries[i] = static_cast<double>(latency_bucket_lower_ns(i)) / 1e9;
  }
  h.boundaries[kLatencyBuckets] = std::numeric_limits<double>::infinity();

  std::int32_t n = allp_count();
  for (std::int32_t i = 0; i < n; ++i) {
    P* pp = allp_at(i);
    for (int b = 0; b < kLatencyBuckets; ++b) {
      h.counts[b] += pp->latency_counts[b].load(std::memory_order_relaxed);
    }
  }
  s.sched_latencies_collected = (sched_hooks.load(std::memory_order_relaxed) & kHookLatency) != 0;
}

// Prints a duration in seconds with a unit that keeps three significant digits readable.
std::string format_seconds(double seconds) {
  char text[32];
  if (std::isinf(seconds)) return "+Inf";
  if (seconds < 1e-6) {
    std::snprintf(text, sizeof text, "%.0fns", seconds * 1e9);
  } else if (seconds < 1e-3) {
    std::snprintf(text, sizeof text, "%.3gµs", seconds * 1e6);
  } else if (seconds < 1) {
    std::snprintf(text, sizeof text, "%.3gms", seconds * 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.3gs", seconds);
  }
  return text;
}

}  // namespace

}  // namespace goro::rt

namespace goro::metrics {

std::uint64_t histogram::total() const {
  std::uint64_t sum = 0;
  for (std::uint64_t c : counts) sum += c;
  return sum;
}

double histogram::quantile_upper_bound(double q) const {
  std::uint64_t all = total();
  if (all == 0 || counts.empty() || boundaries.size() != counts.size() + 1) return 0;
  if (q < 0) q = 0;
  if (q > 1) q = 1;
  // The smallest bucket at which the running count reaches q of all values.
  auto target = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(all)));
  if (target == 0) target = 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (seen >= target) return boundaries[i + 1];
  }
  return boundaries.back();
}

sample read() {
  using namespace rt;
  // NOTE: a plain thread that reads while goro::run is returning can still race with the
  // teardown that frees the Ps; read from a goroutine, or before main returns.
  if (!runtime_running()) {
    throw panic_error("goro::metrics::read: called outside goro::run; read metrics from a "
                      "goroutine or a thread while goro::run is active");
  }
  sample s;
  read_goroutines(s);
  read_threads_and_ps(s);
  s.timers = sched.ntimers.load(std::memory_order_relaxed);
  s.netpoll_waiters = netpoll_waiters();
  read_latencies(s);
  return s;
}

bool collect_sched_latencies(bool on) {
  using namespace rt;
  if (on) {
    // The stamp first: a G stamped before it is not sampled (schedhooks.cc).
    latency_collect_since.store(os::nanotime(), std::memory_order_relaxed);
    return (sched_hooks.fetch_or(kHookLatency, std::memory_order_relaxed) & kHookLatency) != 0;
  }
  return (sched_hooks.fetch_and(~kHookLatency, std::memory_order_relaxed) & kHookLatency) != 0;
}

std::string to_string(const sample& s) {
  std::ostringstream out;
  auto row = [&out](const char* name, const std::string& value) {
    out << name;
    for (std::size_t pad = std::char_traits<char>::length(name); pad < 44; ++pad) out << ' ';
    out << value << '\n';
  };
  auto num = [](auto v) { return std::to_string(v); };

  row("/sched/goroutines:goroutines", num(s.goroutines));
  row("/sched/goroutines/running:goroutines", num(s.goroutines_running));
  row("/sched/goroutines/runnable:goroutines", num(s.goroutines_runnable));
  row("/sched/goroutines/waiting:goroutines", num(s.goroutines_waiting));
  row("/sched/goroutines/not-in-go:goroutines", num(s.goroutines_syscall));
  row("/sched/threads/total:threads", num(s.threads));
  row("/sched/threads/idle:threads", num(s.threads_idle));
  row("/sched/threads/spinning:threads", num(s.threads_spinning));
  row("/sched/gomaxprocs:threads", num(s.gomaxprocs));
  row("/sched/procs/total:procs", num(s.procs));
  row("/sched/procs/idle:procs", num(s.procs_idle));
  row("/sched/runqueue/global:goroutines", num(s.runqueue_global));
  std::string local = "[";
  // Appends only: GCC 12 at -O3 reports a false -Wrestrict for operator+ on a literal and
  // a temporary string.
  for (std::int64_t n : s.runqueue_local) {
    local += ' ';
    local += num(n);
  }
  local += " ]";
  row("/sched/runqueue/local:goroutines", local);
  row("/sched/timers/pending:timers", num(s.timers));
  row("/sched/netpoll/waiters:goroutines", num(s.netpoll_waiters));
  row("/memory/stacks/inuse:bytes", num(s.stack_inuse_bytes));
  row("/memory/stacks/reserved:bytes", num(s.stack_reserved_bytes));

  const histogram& h = s.sched_latencies;
  std::uint64_t count = h.total();
  std::string summary = "count=";
  summary += num(count);
  if (count > 0) {
    summary += " p50<=";
    summary += rt::format_seconds(h.quantile_upper_bound(0.5));
    summary += " p90<=";
    summary += rt::format_seconds(h.quantile_upper_bound(0.9));
    summary += " p99<=";
    summary += rt::format_seconds(h.quantile_upper_bound(0.99));
  }
  if (!s.sched_latencies_collected) summary += " (collection off)";
  row("/sched/latencies:seconds", summary);
  for (std::size_t i = 0; i < h.counts.size() && i + 1 < h.boundaries.size(); ++i) {
    if (h.counts[i] == 0) continue;
    out << "    [" << rt::format_seconds(h.boundaries[i]) << ", "
        << rt::format_seconds(h.boundaries[i + 1]) << ") " << h.counts[i] << '\n';
  }
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const sample& s) { return out << to_string(s); }

}  // namespace goro::metrics
