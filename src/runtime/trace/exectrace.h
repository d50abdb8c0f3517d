// Execution trace internals shared by the recorder (exectrace.cc), the Chrome JSON writer
// (exectrace_json.cc) and the bootstrap (boot.cc). The scheduler's hooks are in schedhooks.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/trace/output_sink.h"
#include "runtime/trace/tracebuf.h"

namespace goro::rt {

// Records per buffer: 4096 records of 32 bytes make a 128 KiB buffer, so an M takes the
// trace lock about once per 4096 events.
inline constexpr std::size_t kTraceChunkRecords = 4096;

// A buffer of records written by one M (or by plain threads, m_id -1). Allocated zeroed, so
// the first record with ts 0 marks the end of what was written.
struct trace_chunk {
  trace_chunk* next;   // the session's chunk list (trace lock)
  std::int64_t m_id;   // writer
  std::uint64_t order; // allocation order within the session: one writer's chunks ascend
  trace_record records[kTraceChunkRecords];
};

// A finished session, as the JSON writer reads it.
struct trace_session_data {
  std::vector<const trace_chunk*> chunks;
  std::int64_t start_ts = 0;
  std::int64_t stop_ts = 0;
  std::uint64_t dropped = 0;  // events lost to the buffer limit or a failed allocation
  // When a writer first found the buffer limit (GODEBUG=gorotracebuf) reached, or 0. The
  // trace ends there: records from this time on are left out.
  std::int64_t limit_ts = 0;
  std::int64_t limit_bytes = 0;  // the limit in force
};

// Counts of what write_trace_json wrote.
struct trace_write_stats {
  std::uint64_t events = 0;   // records converted
  std::uint64_t dropped = 0;  // data.dropped plus the records cut at data.limit_ts
};

// Writes the session as Chrome trace-event JSON (exectrace_json.cc). Returns false if a
// write to `out` failed. Fills *stats if it is not null.
bool write_trace_json(output_sink& out, const trace_session_data& data,
                      trace_write_stats* stats = nullptr);

// Bootstrap hooks (exectrace.cc). run_begin starts a whole-run trace when `path` names a
// file; boot passes GOROTRACE's value, or null when it is unset. run_end finishes any trace
// still recording, after every M has left the scheduler.
void exectrace_run_begin(const char* path);
void exectrace_run_end();

}  // namespace goro::rt
