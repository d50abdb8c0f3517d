// Recording and encoding of the block and mutex profiles; see contention.h.
#include "runtime/pprof/contention.h"

#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "runtime/os/futex.h"
#include "runtime/pprof/profile_builder.h"
#include "runtime/sched/lock.h"
#include "runtime/trace/unwind.h"

namespace goro::rt::pprof {

std::atomic<std::int64_t> block_profile_rate{0};
std::atomic<std::int32_t> mutex_profile_fraction{0};

namespace {

// Frames kept per event, Go's default profstackdepth.
constexpr int kMaxEventDepth = 128;

struct event_totals {
  double count = 0;  // fractional: a sampled short block event stands for rate/delay events
  std::int64_t delay_ns = 0;
};

// One profile's records. The lock is never held while blocking or capturing a stack.
struct event_table {
  runtime_lock lock;
  std::map<std::vector<std::uintptr_t>, event_totals> records;  // stack, innermost first
};

// Constructed in static storage and never destroyed, so that a goroutine still recording
// while the process exits does not find a table that static destructors destroyed, and so
// that start-up makes no heap allocation for them.
alignas(event_table) unsigned char block_table_storage[sizeof(event_table)];
alignas(event_table) unsigned char mutex_table_storage[sizeof(event_table)];
event_table& block_table = *new (block_table_storage) event_table;
event_table& mutex_table = *new (mutex_table_storage) event_table;

// A random number for sampling decisions: splitmix64 over a shared counter. Relaxed: the
// counter only has to hand out distinct values.
std::uint64_t random_sample() {
  static std::atomic<std::uint64_t> state{0x853c49e6748fea9bull};
  std::uint64_t z = state.fetch_add(0x9e3779b97f4a7c15ull, std::memory_order_relaxed);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Captures the stack from the frame holding first_return outwards. Called only by the
// noinline event functions, whose own frame (and any this helper adds) is dropped.
[[gnu::noinline]] std::vector<std::uintptr_t> capture_event_stack(std::uintptr_t first_return) {
  std::uintptr_t pcs[kMaxEventDepth];
  const int n = capture_stack(pcs, kMaxEventDepth, 0);
  int first = 0;
  while (first < n && pcs[first] != first_return) ++first;
  // The unwinder did not report first_return (it never should): keep every frame.
  if (first == n) first = 0;
  return std::vector<std::uintptr_t>(pcs + first, pcs + n);
}

void add_event(event_table& table, std::vector<std::uintptr_t> stack, double count,
               std::int64_t delay_ns) {
  std::lock_guard<runtime_lock> guard(table.lock);
  event_totals& totals = table.records[std::move(stack)];
  totals.count += count;
  totals.delay_ns += delay_ns;
}

std::string encode_table(event_table& table, std::int64_t period, std::int64_t scale) {
  std::vector<std::pair<std::vector<std::uintptr_t>, event_totals>> records;
  {
    std::lock_guard<runtime_lock> guard(table.lock);
    records.assign(table.records.begin(), table.records.end());
  }
  profile_builder builder({{"contentions", "count"}, {"delay", "nanoseconds"}},
                          {"contentions", "count"}, period);
  builder.set_time(os::walltime_ns(), 0);
  for (const auto& [stack, totals] : records) {
    const std::int64_t values[] = {static_cast<std::int64_t>(totals.count + 0.5) * scale,
                                   totals.delay_ns * scale};
    builder.add_sample(stack, false, values, {});
  }
  return builder.encode();
}

}  // namespace

[[gnu::noinline]] void block_event(std::int64_t delay_ns, std::uintptr_t first_return) {
  const std::int64_t rate = block_profile_rate.load(std::memory_order_relaxed);
  if (rate <= 0) return;
  if (delay_ns <= 0) delay_ns = 1;
  if (rate > delay_ns &&
      static_cast<std::int64_t>(random_sample() % static_cast<std::uint64_t>(rate)) > delay_ns) {
    return;
  }
  if (delay_ns < rate) {
    add_event(block_table, capture_event_stack(first_return),
              static_cast<double>(rate) / static_cast<double>(delay_ns), rate);
  } else {
    add_event(block_table, capture_event_stack(first_return), 1, delay_ns);
  }
}

[[gnu::noinline]] void mutex_event(std::int64_t delay_ns, std::uintptr_t first_return) {
  const std::int32_t fraction = mutex_profile_fraction.load(std::memory_order_relaxed);
  if (fraction <= 0) return;
  if (random_sample() % static_cast<std::uint64_t>(fraction) != 0) return;
  add_event(mutex_table, capture_event_stack(first_return), 1, delay_ns < 0 ? 0 : delay_ns);
}

std::string encode_block_profile() {
  return encode_table(block_table, block_profile_rate.load(std::memory_order_relaxed), 1);
}

std::string encode_mutex_profile() {
  const std::int64_t fraction = mutex_profile_fraction.load(std::memory_order_relaxed);
  // Go scales by the current fraction; with recording off the counts are left as they are.
  const std::int64_t scale = fraction > 0 ? fraction : 1;
  return encode_table(mutex_table, fraction, scale);
}

}  // namespace goro::rt::pprof
