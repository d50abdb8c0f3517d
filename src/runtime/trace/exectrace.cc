// Recording the execution trace: per-M buffers filled by the scheduler hooks (schedhooks.h),
// started and stopped by goro::trace::start and stop, or for a whole run by GOROTRACE.
//
// Model. A trace session owns a list of 128 KiB buffers (trace_chunk). Each M writes its
// own events into its own current buffer without a lock, and takes the trace lock only to
// get the next buffer. Plain threads (a thread that readies a goroutine from outside the
// scheduler) share one buffer under the trace lock. At stop, every buffer of the session
// goes to the JSON writer (exectrace_json.cc), which merges them by timestamp.
//
// Protocol between a writing M and the stopper, Go's trace seqlock:
//   writer (trace_event)                        stopper (stop_recording)
//   1. seq += 1 (seq_cst): odd, writing         1. recording = false (seq_cst)
//   2. load recording (seq_cst); if false,      2. for every M: if its seq is odd, wait
//      seq += 1 and return                         until it changes
//   3. new buffer if needed (trace lock)         3. take the trace lock once: a plain
//   4. write the record, seq += 1 (release)         thread's write is then over too
//                                                4. hand the buffers to the JSON writer
// The two first steps form a StoreLoad pair: either the writer reads recording == false, or
// the stopper reads the writer's odd seq and waits for it. An M keeps a pointer into its
// last buffer after the session ends. The session id stored with the pointer marks it as
// stale, so the M takes a new buffer at its next event.
//
// Timestamps are os::nanotime() read after step 2, made strictly increasing per writer, so
// one writer's records keep their order when merged. Hooks sit where a transition becomes
// visible to other threads (schedhooks.h), so a cause is stamped before its effect.
//
// Memory grows with the number of events until stop, about 32 bytes per event, up to the
// limit GODEBUG=gorotracebuf sets. The default, 64 MiB, has room for about 2 million events,
// whose JSON (about 190 bytes per event) is some 400 MB, already large for a browser viewer.
// The first writer that finds the limit reached stamps the time (limit_ts) and raises
// `full`. From then on no M takes a buffer, and every event is counted as dropped without
// the trace lock. Other Ms go on filling the buffers they have, so the JSON writer leaves
// out every record from limit_ts on. The trace thus ends at one instant instead of thinning
// out, and stop() prints how many events were lost and how to raise the limit.
#include "runtime/trace/exectrace.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "goro/runtime.hpp"
#include "goro/trace.hpp"
#include "runtime/os/futex.h"
#include "runtime/sched/fatal.h"
#include "runtime/sched/sched.h"
#include "runtime/trace/schedhooks.h"

namespace goro::rt {

namespace {

// Set while a session records; see the protocol above (seq_cst on both sides).
std::atomic<bool> recording{false};

// Serialises start, stop and the end of a run (goro::trace API level, not the hot path).
enum class api_state : int { idle, busy, active };
std::atomic<api_state> state{api_state::idle};

struct session {
  // Guards id, chunks, chunk_count, chunk_limit, limit_ts and plain. Never held while
  // waiting for a writer's seq.
  runtime_lock lock;
  std::uint64_t id = 0;
  trace_chunk* chunks = nullptr;  // newest first
  std::uint64_t chunk_count = 0;
  std::uint64_t chunk_limit = 0;  // buffers allowed by GODEBUG=gorotracebuf, at least 1
  std::int64_t limit_ts = 0;      // when a writer first found chunk_limit reached, or 0
  std::int64_t start_ts = 0;
  trace_writer plain;  // shared by plain threads

  // Set with limit_ts, so that writers stop asking for buffers. Relaxed: start_recording
  // clears it before its seq_cst store of `recording`, which every writer loads first, and a
  // writer that reads a stale false only takes the lock and finds the limit itself.
  std::atomic<bool> full{false};
  // Events lost to the limit or to a failed allocation. Relaxed: the stopper reads it after
  // wait_for_writers, whose acquire loads of every seq order the writers' increments.
  std::atomic<std::uint64_t> dropped{0};

  // Where stop writes, set by start (only start and stop touch these, one at a time).
  std::unique_ptr<output_sink> out;
  std::string path;  // the file's name for messages, empty for a caller's stream
};
session current;

// Lock held. Gives w a fresh buffer of the current session. Returns false, counting the
// event as dropped, at the buffer limit or if out of memory.
bool take_chunk(trace_writer& w, std::int64_t m_id) {
  if (current.chunk_count >= current.chunk_limit) {
    if (current.limit_ts == 0) current.limit_ts = os::nanotime();
    current.full.store(true, std::memory_order_relaxed);
    current.dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  void* memory = std::calloc(1, sizeof(trace_chunk));
  if (memory == nullptr) {
    current.dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  auto* chunk = static_cast<trace_chunk*>(memory);
  chunk->next = current.chunks;
  chunk->m_id = m_id;
  chunk->order = current.chunk_count++;
  current.chunks = chunk;
  w.session = current.id;
  w.next = chunk->records;
  w.end = chunk->records + kTraceChunkRecords;
  return true;
}

void append(trace_writer& w, trace_kind kind, std::int32_t p, std::int64_t g, std::int64_t arg,
            std::uint8_t reason) {
  std::int64_t ts = os::nanotime();
  if (ts <= w.last_ts) ts = w.last_ts + 1;
  w.last_ts = ts;
  *w.next++ = trace_record{ts, g, arg, p, kind, reason};
}

void plain_event(trace_kind kind, std::int32_t p, std::int64_t g, std::int64_t arg,
                 std::uint8_t reason) {
  std::lock_guard<runtime_lock> guard(current.lock);
  // Under the lock, relaxed is enough: the stopper clears the flag before it takes the lock.
  if (!recording.load(std::memory_order_relaxed)) return;
  trace_writer& w = current.plain;
  if ((w.session != current.id || w.next == w.end) && !take_chunk(w, -1)) return;
  append(w, kind, p, g, arg, reason);
}

// The functions that start and stop a trace run once per trace, so they are [[gnu::cold]],
// which makes GCC optimise them for size. The recording path above stays at -O2.

// Step 2 of the stopper: waits until no M is in the middle of a record.
[[gnu::cold]] void wait_for_writers() {
  std::lock_guard<runtime_lock> guard(sched.lock);
  for (M* mp = sched.allm; mp != nullptr; mp = mp->alllink) {
    std::uint64_t seq = mp->trace.seq.load(std::memory_order_seq_cst);
    if ((seq & 1) == 0) continue;
    // acquire: pairs with the writer's release increment, so its record is complete.
    while (mp->trace.seq.load(std::memory_order_acquire) == seq) ::sched_yield();
  }
}

[[gnu::cold]] void start_recording() {
  {
    std::lock_guard<runtime_lock> guard(current.lock);
    current.id++;
    current.chunks = nullptr;
    current.chunk_count = 0;
    current.chunk_limit = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(debug.gorotracebuf) / sizeof(trace_chunk));
    current.limit_ts = 0;
    current.full.store(false, std::memory_order_relaxed);
    current.dropped.store(0, std::memory_order_relaxed);
    current.start_ts = os::nanotime();
    current.plain.session = 0;  // its next event takes a buffer of the new session
  }
  recording.store(true, std::memory_order_seq_cst);
  sched_hooks.fetch_or(kHookTrace, std::memory_order_relaxed);
}

[[gnu::cold]] trace_session_data stop_recording() {
  sched_hooks.fetch_and(~kHookTrace, std::memory_order_relaxed);
  recording.store(false, std::memory_order_seq_cst);
  wait_for_writers();

  trace_session_data data;
  data.stop_ts = os::nanotime();
  std::lock_guard<runtime_lock> guard(current.lock);
  for (trace_chunk* c = current.chunks; c != nullptr; c = c->next) data.chunks.push_back(c);
  data.start_ts = current.start_ts;
  data.dropped = current.dropped.load(std::memory_order_relaxed);
  data.limit_ts = current.limit_ts;
  data.limit_bytes = debug.gorotracebuf;
  current.chunks = nullptr;
  return data;
}

[[gnu::cold]] void free_chunks(const trace_session_data& data) {
  for (const trace_chunk* c : data.chunks) std::free(const_cast<trace_chunk*>(c));
}

// Records what the caller's own goroutine and P are doing, so its slice opens at the start
// of the trace instead of at its first event. Other goroutines appear at their next event.
[[gnu::cold]] void record_initial_state() {
  trace_gomaxprocs(sched.gomaxprocs.load(std::memory_order_relaxed));
  M* mp = getm();
  if (mp == nullptr) return;
  G* gp = mp->curg.load(std::memory_order_relaxed);
  P* pp = mp->p;
  if (gp == nullptr || pp == nullptr) return;
  trace_proc_start(pp, mp);
  trace_event(trace_kind::go_start, pp->id, gp->goid, 0, 0);
}

// Prints that the trace ended early at the buffer limit, and how to raise the limit.
[[gnu::cold]] void report_limit(const trace_session_data& data, const trace_write_stats& stats) {
  print_line()
      .str("goro: execution trace")
      .str(current.path.empty() ? std::string_view() : std::string_view(" "))
      .str(current.path)
      .str(": recording stopped after ").ns_as_ms(data.limit_ts - data.start_ts)
      .str(" ms at the buffer limit of ").dec(data.limit_bytes)
      .str(" bytes; ").udec(stats.dropped)
      .str(" later events are not in the trace. Raise the limit with GODEBUG=gorotracebuf=N "
           "(e.g. 1G) or trace a shorter interval\n")
      .flush();
}

// Writes the session to the output chosen at start and closes the file, if any. Returns
// false if writing failed, so that the callers can report it and still reset the state.
[[gnu::cold]] bool write_session(const trace_session_data& data) noexcept {
  bool ok = false;
  trace_write_stats stats;
  try {
    ok = write_trace_json(*current.out, data, &stats);
    ok = current.out->finish() && ok;
  } catch (const std::exception&) {
    // Out of memory while merging the records, or a caller's stream with exceptions on.
    ok = false;
  }
  current.out.reset();
  if (ok && data.limit_ts != 0) report_limit(data, stats);
  return ok;
}

}  // namespace

void trace_event(trace_kind kind, std::int32_t p, std::int64_t g, std::int64_t arg,
                 std::uint8_t reason) {
  M* mp = getm();
  if (mp == nullptr) {
    plain_event(kind, p, g, arg, reason);
    return;
  }
  trace_writer& w = mp->trace;
  std::uint64_t seq = w.seq.fetch_add(1, std::memory_order_seq_cst) + 1;
  if (recording.load(std::memory_order_seq_cst)) {
    bool have_room = w.session == current.id && w.next != w.end;
    if (!have_room) {
      if (current.full.load(std::memory_order_relaxed)) {
        current.dropped.fetch_add(1, std::memory_order_relaxed);
      } else {
        std::lock_guard<runtime_lock> guard(current.lock);
        have_room = take_chunk(w, mp->id);
      }
    }
    if (have_room) append(w, kind, p, g, arg, reason);
  }
  // release: the record is complete before the stopper reads an even seq.
  w.seq.store(seq + 1, std::memory_order_release);
}

[[gnu::cold]] void exectrace_run_begin(const char* path) {
  if (path == nullptr || *path == '\0') return;
  int err = 0;
  std::unique_ptr<file_sink> file = file_sink::create(path, err);
  if (!file) {
    print_line().str("goro: GOROTRACE: cannot open ").str(path).str(" for writing: ")
        .str(std::strerror(err)).str("; this run is not traced\n").flush();
    return;
  }
  current.path = path;
  current.out = std::move(file);
  start_recording();
  trace_thread(true);
  // release: a goroutine that calls goro::trace::stop reads the fields above.
  state.store(api_state::active, std::memory_order_release);
}

void exectrace_run_end() {
  api_state expected = api_state::active;
  if (!state.compare_exchange_strong(expected, api_state::busy, std::memory_order_acq_rel)) {
    return;
  }
  trace_session_data data = stop_recording();
  if (!write_session(data)) {
    print_line().str("goro: writing the execution trace")
        .str(current.path.empty() ? std::string_view() : std::string_view(" to "))
        .str(current.path).str(" failed\n").flush();
  }
  free_chunks(data);
  current.path.clear();
  state.store(api_state::idle, std::memory_order_release);
}

}  // namespace goro::rt

// --- Public API -------------------------------------------------------------------------------

namespace goro::trace {

trace_error::~trace_error() = default;

namespace {

// Claims the right to start; throws if a trace is already recording or being started or
// stopped.
void claim_start(const char* function) {
  using namespace rt;
  if (!runtime_running()) {
    throw trace_error(std::string(function) +
                      ": called outside goro::run; set GOROTRACE=path to trace a whole run");
  }
  api_state expected = api_state::idle;
  if (!state.compare_exchange_strong(expected, api_state::busy, std::memory_order_acq_rel)) {
    throw trace_error(std::string(function) +
                      ": tracing is already enabled; call goro::trace::stop first");
  }
}

void begin(std::unique_ptr<rt::output_sink> out, std::string path) {
  using namespace rt;
  current.out = std::move(out);
  current.path = std::move(path);
  start_recording();
  record_initial_state();
  state.store(api_state::active, std::memory_order_release);
}

}  // namespace

void start(std::ostream& out) {
  if (!out) {
    throw trace_error(
        "goro::trace::start: the stream is already in a failed state; pass a writable stream");
  }
  auto sink = std::make_unique<rt::stream_sink>(out);
  claim_start("goro::trace::start");
  begin(std::move(sink), std::string());
}

void start(const std::string& path) {
  claim_start("goro::trace::start");
  int err = 0;
  std::unique_ptr<rt::file_sink> file = rt::file_sink::create(path, err);
  if (!file) {
    rt::state.store(rt::api_state::idle, std::memory_order_release);
    throw trace_error("goro::trace::start: cannot open " + path + " for writing: " +
                      std::strerror(err));
  }
  begin(std::move(file), path);
}

void stop() {
  using namespace rt;
  api_state expected = api_state::active;
  if (!state.compare_exchange_strong(expected, api_state::busy, std::memory_order_acq_rel)) {
    throw trace_error("goro::trace::stop: tracing is not enabled; call goro::trace::start first");
  }
  trace_session_data data = stop_recording();
  // Converting and writing can take a while: let other goroutines have the P meanwhile.
  bool ok = goro::blocking([&data] { return write_session(data); });
  free_chunks(data);
  std::string path = std::move(current.path);
  current.path.clear();
  state.store(api_state::idle, std::memory_order_release);
  if (!ok) {
    throw trace_error("goro::trace::stop: writing the trace" +
                      (path.empty() ? std::string(" to the stream") : " to " + path) +
                      " failed");
  }
}

bool enabled() { return rt::state.load(std::memory_order_acquire) == rt::api_state::active; }

}  // namespace goro::trace
