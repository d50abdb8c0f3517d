// Converts a trace session's records into Chrome trace-event JSON (the "JSON Object Format"
// that chrome://tracing and Perfetto read).
//
// Layout of the output, one process (pid 1):
//   {"displayTimeUnit":"ns","traceEvents":[...],"otherData":{...}}
// Tracks (tid):
//   P tracks, tid = P id: each run of a goroutine on the P is a B/E slice named "G<id>".
//   M tracks, tid = kThreadTrackBase + M id: events of an M without a P, and the slice of a
//     goroutine that goes on running (in its own code or in goro::blocking) after its P was
//     taken or stopped, until it gets a P again.
//   kPlainTrack: events from plain threads; kUnknownThreadTrack: goroutines whose M is not
//     known because its P was acquired before the trace started.
// Event phases: B/E (goroutine slices), i (thread-scoped instants named after Go's tracer
// events: GoCreate, GoBlock, GoUnblock, GoSched, GoPreempt, GoEnd, GoSysCall, GoSysExit,
// ProcStart, ProcStop, ProcSteal, PreemptRequest, ThreadStart, ThreadStop), s/f (flow arrows
// from a creation or an unblocking to the run that follows), C (the GOMAXPROCS counter) and
// M (track names). Go* instants, the slices and the arrows have category "goroutine", the
// others "sched". Timestamps are microseconds since the trace started, with nanosecond
// precision.
//
// Reconstruction. Records from all writers are merged by timestamp. On a tie between
// writers, events that end something (a block, a P stop) come first, then events that
// create or ready something, then starts, because a start can only follow the others.
// One writer's records never tie (exectrace.cc). The converter then replays them, tracking
// each goroutine's open slice and each P's running goroutine. A goroutine that was already
// running when the trace started gets its slice opened at its first event that implies it
// was running, from the last earlier event on that track, with args.inferred = true. A start
// on a P that the converter still thinks is busy closes the other slice and counts one
// inconsistency in otherData, so a recording bug shows up as a number instead of a broken
// file.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sched/waitreason.h"
#include "runtime/trace/exectrace.h"

namespace goro::rt {

namespace {

// A one-letter prefix and a number: "P0", "M3", "G17". Built by appending, because GCC 12
// at -O2 reports a false -Wrestrict for operator+ on a literal and a temporary string.
std::string track_name(char prefix, std::int64_t number) {
  std::string name(1, prefix);
  name += std::to_string(number);
  return name;
}

// Above any P id (at most kMaxProcs, 1024), so P tracks sort first.
constexpr std::int64_t kThreadTrackBase = 100000;
constexpr std::int64_t kPlainTrack = kThreadTrackBase - 1;
constexpr std::int64_t kUnknownThreadTrack = kThreadTrackBase - 2;
// Bytes of JSON buffered before they are written to the stream.
constexpr std::size_t kFlushBytes = 1 << 20;

// Goroutine slices, the instants about goroutines and the flow arrows share one category:
// chrome://tracing binds a flow end to the event with the same category, track and time,
// and Perfetto pairs a flow's two ends by category and name.
constexpr std::string_view kGoroutineCategory = "goroutine";

bool is_p_track(std::int64_t track) { return track >= 0 && track < kUnknownThreadTrack; }

std::string_view instant_category(std::string_view name) {
  return name.substr(0, 2) == "Go" ? kGoroutineCategory : std::string_view("sched");
}

// Tie-break rank for records with equal timestamps from different writers.
int tie_rank(trace_kind kind) {
  switch (kind) {
    case trace_kind::go_block:
    case trace_kind::go_sched:
    case trace_kind::go_end:
    case trace_kind::go_syscall:
    case trace_kind::proc_stop:
    case trace_kind::proc_steal:
    case trace_kind::thread_stop:
      return 0;
    case trace_kind::go_create:
    case trace_kind::go_unblock:
    case trace_kind::go_syscall_exit:
    case trace_kind::preempt_request:
    case trace_kind::gomaxprocs:
      return 1;
    case trace_kind::go_start:
    case trace_kind::proc_start:
    case trace_kind::thread_start:
      return 2;
  }
  return 1;
}

std::string_view sched_reason_text(std::uint8_t reason) {
  switch (static_cast<trace_sched_reason>(reason)) {
    case trace_sched_reason::yield:
      return "yield";
    case trace_sched_reason::preempted:
      return "preempted";
    case trace_sched_reason::spawn_loop:
      return "spawn loop";
    case trace_sched_reason::no_p:
      return "no idle P";
    case trace_sched_reason::off_m0:
      return "moving off the thread of goro::run";
  }
  return "unknown";
}

std::string_view steal_reason_text(std::uint8_t reason) {
  switch (static_cast<trace_steal_reason>(reason)) {
    case trace_steal_reason::syscall:
      return "blocking call";
    case trace_steal_reason::long_running:
      return "long-running goroutine";
    case trace_steal_reason::stop_the_world:
      return "stop the world";
  }
  return "unknown";
}

struct entry {
  const trace_record* record;
  std::int64_t m_id;
  std::uint64_t order;  // chunk order, then index, keeps one writer's sequence
  std::uint32_t index;
};

// JSON text built in a fixed buffer and written to the stream in large pieces. A plain
// buffer with memcpy, not std::string's appends: converting costs thousands of
// instructions per event otherwise, and a trace has millions of events.
class json_writer {
 public:
  explicit json_writer(output_sink& out) : out_(out), buffer_(new char[kFlushBytes]) {}

  // Opens an event object with the fields every event has. `name` and `cat` come from the
  // converter's own tables ("G<id>", event names), which need no escaping.
  void open_event(std::string_view name, std::string_view cat, char phase, std::int64_t track,
                  std::int64_t ts) {
    raw(first_ ? "\n{\"name\":\"" : ",\n{\"name\":\"");
    first_ = false;
    raw(name);
    raw("\",\"cat\":\"");
    raw(cat);
    put("\"", 1);
    char ph[] = {',', '"', 'p', 'h', '"', ':', '"', phase, '"'};
    put(ph, sizeof ph);
    raw(",\"pid\":1,\"tid\":");
    number(track);
    raw(",\"ts\":");
    micros(ts);
  }
  void close_event() { put("}", 1); }

  void raw(std::string_view s) { put(s.data(), s.size()); }
  // A literal's length is known at compile time: no strlen, which -Os would call for every
  // string_view made from it.
  template <std::size_t N>
  void raw(const char (&literal)[N]) {
    put(literal, N - 1);
  }
  void number(std::int64_t v) {
    char digits[24];
    auto result = std::to_chars(digits, digits + sizeof digits, v);
    put(digits, static_cast<std::size_t>(result.ptr - digits));
  }
  // Nanoseconds since the trace started, written as microseconds with three decimals.
  void micros(std::int64_t ns) {
    if (ns < 0) ns = 0;
    number(ns / 1000);
    char frac[4] = {'.', static_cast<char>('0' + ns / 100 % 10),
                    static_cast<char>('0' + ns / 10 % 10), static_cast<char>('0' + ns % 10)};
    put(frac, sizeof frac);
  }
  void string(std::string_view s) {
    put("\"", 1);
    auto needs_escape = [](char c) {
      return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
    };
    if (std::none_of(s.begin(), s.end(), needs_escape)) {
      put(s.data(), s.size());
      put("\"", 1);
      return;
    }
    for (char c : s) {
      if (c == '"' || c == '\\') {
        char escaped[] = {'\\', c};
        put(escaped, sizeof escaped);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        static constexpr char kHex[] = "0123456789abcdef";
        char escaped[] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xf], kHex[c & 0xf]};
        put(escaped, sizeof escaped);
      } else {
        put(&c, 1);
      }
    }
    put("\"", 1);
  }

  // False once any write to the sink has failed.
  bool flush() {
    ok_ = out_.write(buffer_.get(), size_) && ok_;
    size_ = 0;
    return ok_;
  }

 private:
  // Inlined even at -Os (this file is built for size): a call per piece of an event cost
  // more than the pieces' copies.
  [[gnu::always_inline]] void put(const char* data, std::size_t n) {
    if (size_ + n > kFlushBytes) [[unlikely]] {
      flush_and_put(data, n);
      return;
    }
    std::memcpy(buffer_.get() + size_, data, n);
    size_ += n;
  }

  [[gnu::noinline]] void flush_and_put(const char* data, std::size_t n) {
    flush();
    if (n > kFlushBytes) {
      ok_ = out_.write(data, n) && ok_;
      return;
    }
    std::memcpy(buffer_.get() + size_, data, n);
    size_ += n;
  }

  output_sink& out_;
  std::unique_ptr<char[]> buffer_;
  std::size_t size_ = 0;
  bool first_ = true;
  bool ok_ = true;
};

class converter {
 public:
  converter(json_writer& json, std::int64_t origin) : json_(json), origin_(origin) {}

  void replay(const entry& e) {
    const trace_record& r = *e.record;
    std::int64_t track = writer_track(r, e.m_id);
    touch(track, r.ts);
    switch (r.kind) {
      case trace_kind::go_create:
        instant(track, r.ts, "GoCreate", r.g, "parent", r.arg);
        send_flow(r.g, "create", track, r.ts);
        break;
      case trace_kind::go_start:
        start_on_p(r.g, r.p, r.ts);
        break;
      case trace_kind::go_block: {
        std::int64_t at = ensure_running(r.g, track, r.ts);
        std::string_view reason = waitreason_string(static_cast<waitreason>(r.reason));
        instant_with_reason(at, r.ts, "GoBlock", r.g, reason);
        end_slice(r.g, r.ts, "GoBlock", reason);
        break;
      }
      case trace_kind::go_unblock:
        instant(track, r.ts, "GoUnblock", r.g, "by", r.arg);
        send_flow(r.g, "unblock", track, r.ts);
        break;
      case trace_kind::go_sched: {
        std::int64_t at = ensure_running(r.g, track, r.ts);
        bool preempted = static_cast<trace_sched_reason>(r.reason) == trace_sched_reason::preempted;
        const char* name = preempted ? "GoPreempt" : "GoSched";
        instant_with_reason(at, r.ts, name, r.g, sched_reason_text(r.reason));
        end_slice(r.g, r.ts, name, sched_reason_text(r.reason));
        break;
      }
      case trace_kind::go_end: {
        std::int64_t at = ensure_running(r.g, track, r.ts);
        instant(at, r.ts, "GoEnd", r.g, nullptr, 0);
        end_slice(r.g, r.ts, "GoEnd", {});
        goroutines_.erase(r.g);
        break;
      }
      case trace_kind::go_syscall: {
        std::int64_t at = ensure_running(r.g, track, r.ts);
        instant(at, r.ts, "GoSysCall", r.g, nullptr, 0);
        break;
      }
      case trace_kind::go_syscall_exit: {
        std::int64_t at = ensure_running(r.g, track, r.ts);
        instant(at, r.ts, "GoSysExit", r.g, "kept_p", r.arg);
        break;
      }
      case trace_kind::proc_start:
        p_owner_[r.p] = r.arg;
        instant(r.p, r.ts, "ProcStart", 0, "m", r.arg);
        break;
      case trace_kind::proc_stop:
        instant(r.p, r.ts, "ProcStop", 0, "m", r.arg);
        move_off_p(r.p, r.ts, "ProcStop", r.arg);
        p_owner_.erase(r.p);
        break;
      case trace_kind::proc_steal: {
        auto owner = p_owner_.find(r.p);
        std::int64_t m_id = owner != p_owner_.end() ? owner->second : -1;
        instant_with_reason(r.p, r.ts, "ProcSteal", 0, steal_reason_text(r.reason));
        move_off_p(r.p, r.ts, "ProcSteal", m_id);
        p_owner_.erase(r.p);
        break;
      }
      case trace_kind::preempt_request:
        instant(r.p, r.ts, "PreemptRequest", 0, nullptr, 0);
        break;
      case trace_kind::thread_start:
        instant(kThreadTrackBase + e.m_id, r.ts, "ThreadStart", 0, nullptr, 0);
        break;
      case trace_kind::thread_stop:
        instant(kThreadTrackBase + e.m_id, r.ts, "ThreadStop", 0, nullptr, 0);
        break;
      case trace_kind::gomaxprocs:
        json_.open_event("GOMAXPROCS", "sched", 'C', 0, r.ts - origin_);
        json_.raw(",\"args\":{\"GOMAXPROCS\":");
        json_.number(r.arg);
        json_.raw("}");
        json_.close_event();
        break;
    }
  }

  // Closes every slice still open at the end of the trace.
  // Closes the slices still open at stop_ts, with `end_reason` as their args.end.
  void finish(std::int64_t stop_ts, const char* end_reason) {
    // end_slice changes only the entry's track, so the iteration stays valid.
    for (auto& [goid, g] : goroutines_) {
      if (g.track >= 0) end_slice(goid, stop_ts, end_reason, {});
    }
  }

  void write_track_names() {
    json_.open_event("process_name", "__metadata", 'M', 0, 0);
    json_.raw(",\"args\":{\"name\":\"goro\"}");
    json_.close_event();
    for (const auto& [track, last] : track_last_ts_) {
      (void)last;
      std::string name;
      if (is_p_track(track)) {
        name = track_name('P', track);
      } else if (track == kPlainTrack) {
        name = "plain threads";
      } else if (track == kUnknownThreadTrack) {
        name = "M (unknown)";
      } else {
        name = track_name('M', track - kThreadTrackBase);
      }
      json_.open_event("thread_name", "__metadata", 'M', track, 0);
      json_.raw(",\"args\":{\"name\":");
      json_.string(name);
      json_.raw("}");
      json_.close_event();
      json_.open_event("thread_sort_index", "__metadata", 'M', track, 0);
      json_.raw(",\"args\":{\"sort_index\":");
      json_.number(track);
      json_.raw("}");
      json_.close_event();
    }
  }

  std::uint64_t inconsistencies() const { return inconsistencies_; }

 private:
  struct goroutine {
    std::int64_t track = -1;         // track of the open slice, -1 if not running
    std::int64_t flow_id = 0;        // arrow waiting for the next run, 0 if none
    const char* flow_name = nullptr;
  };

  std::int64_t writer_track(const trace_record& r, std::int64_t m_id) const {
    if (r.p >= 0) return r.p;
    return m_id >= 0 ? kThreadTrackBase + m_id : kPlainTrack;
  }

  void touch(std::int64_t track, std::int64_t ts) { track_last_ts_[track] = ts; }

  void instant(std::int64_t track, std::int64_t ts, std::string_view name, std::int64_t goid,
               const char* key, std::int64_t value) {
    touch(track, ts);
    json_.open_event(name, instant_category(name), 'i', track, ts - origin_);
    json_.raw(",\"s\":\"t\",\"args\":{");
    bool comma = false;
    if (goid != 0) {
      json_.raw("\"g\":");
      json_.number(goid);
      comma = true;
    }
    if (key != nullptr) {
      json_.raw(comma ? ",\"" : "\"");
      json_.raw(key);
      json_.raw("\":");
      json_.number(value);
    }
    json_.raw("}");
    json_.close_event();
  }

  void instant_with_reason(std::int64_t track, std::int64_t ts, std::string_view name,
                           std::int64_t goid, std::string_view reason) {
    touch(track, ts);
    json_.open_event(name, instant_category(name), 'i', track, ts - origin_);
    json_.raw(",\"s\":\"t\",\"args\":{");
    if (goid != 0) {
      json_.raw("\"g\":");
      json_.number(goid);
      json_.raw(",");
    }
    json_.raw("\"reason\":");
    json_.string(reason);
    json_.raw("}");
    json_.close_event();
  }

  void send_flow(std::int64_t goid, const char* name, std::int64_t track, std::int64_t ts) {
    goroutine& g = goroutines_[goid];
    g.flow_id = next_flow_++;
    g.flow_name = name;
    json_.open_event(name, kGoroutineCategory, 's', track, ts - origin_);
    json_.raw(",\"id\":");
    json_.number(g.flow_id);
    json_.close_event();
  }

  void begin_slice(std::int64_t goid, std::int64_t track, std::int64_t ts, bool inferred) {
    goroutine& g = goroutines_[goid];
    touch(track, ts);
    json_.open_event(track_name('G', goid), kGoroutineCategory, 'B', track, ts - origin_);
    json_.raw(",\"args\":{\"g\":");
    json_.number(goid);
    if (inferred) json_.raw(",\"inferred\":true");
    json_.raw("}");
    json_.close_event();
    g.track = track;
    if (is_p_track(track)) p_running_[track] = goid;

    if (g.flow_id != 0) {
      // bp "e": the arrow ends at the slice that encloses this point, the run just begun.
      json_.open_event(g.flow_name, kGoroutineCategory, 'f', track, ts - origin_);
      json_.raw(",\"bp\":\"e\",\"id\":");
      json_.number(g.flow_id);
      json_.close_event();
      g.flow_id = 0;
    }
  }

  void end_slice(std::int64_t goid, std::int64_t ts, std::string_view end,
                 std::string_view reason) {
    auto it = goroutines_.find(goid);
    if (it == goroutines_.end() || it->second.track < 0) return;
    std::int64_t track = it->second.track;
    touch(track, ts);
    json_.open_event(track_name('G', goid), kGoroutineCategory, 'E', track, ts - origin_);
    json_.raw(",\"args\":{\"end\":");
    json_.string(end);
    if (!reason.empty()) {
      json_.raw(",\"reason\":");
      json_.string(reason);
    }
    json_.raw("}");
    json_.close_event();
    if (is_p_track(track)) {
      auto p = p_running_.find(track);
      if (p != p_running_.end() && p->second == goid) p_running_.erase(p);
    }
    it->second.track = -1;
  }

  void start_on_p(std::int64_t goid, std::int32_t p, std::int64_t ts) {
    goroutine& g = goroutines_[goid];
    if (g.track >= 0) end_slice(goid, ts, "ProcStart", {});  // it had been running without a P
    auto other = p_running_.find(p);
    if (other != p_running_.end()) {
      inconsistencies_++;
      end_slice(other->second, ts, "inconsistent", {});
    }
    begin_slice(goid, p, ts, false);
  }

  // Opens a slice for a goroutine that the records show running although the trace has no
  // start for it. Returns the track that its events go on.
  std::int64_t ensure_running(std::int64_t goid, std::int64_t track, std::int64_t ts) {
    goroutine& g = goroutines_[goid];
    if (g.track >= 0) return g.track;
    if (is_p_track(track) && p_running_.count(track) != 0) {
      track = kUnknownThreadTrack;
    }
    std::int64_t from = origin_;
    auto last = track_last_ts_.find(track);
    if (last != track_last_ts_.end() && last->second < ts) from = last->second;
    begin_slice(goid, track, from, true);
    return track;
  }

  // The P's goroutine goes on running on its M's track after the P was stopped or taken.
  void move_off_p(std::int32_t p, std::int64_t ts, std::string_view end, std::int64_t m_id) {
    auto running = p_running_.find(p);
    if (running == p_running_.end()) return;
    std::int64_t goid = running->second;
    end_slice(goid, ts, end, {});
    begin_slice(goid, m_id >= 0 ? kThreadTrackBase + m_id : kUnknownThreadTrack, ts, false);
  }

  json_writer& json_;
  std::int64_t origin_;
  // Ordered maps rather than hash tables, because the conversion runs once per trace and
  // std::unordered_map would add libstdc++'s hash table code to every program. The P maps
  // share their instantiation with track_last_ts_.
  std::map<std::int64_t, goroutine> goroutines_;
  std::map<std::int64_t, std::int64_t> p_running_;      // P id -> goid
  std::map<std::int64_t, std::int64_t> p_owner_;        // P id -> M id
  std::map<std::int64_t, std::int64_t> track_last_ts_;  // every track used, ordered
  std::int64_t next_flow_ = 1;
  std::uint64_t inconsistencies_ = 0;
};

// Orders two records from different writers: by time, then ends before creations before
// starts, then by chunk order so that the result does not depend on the merge.
bool comes_before(const entry& a, const entry& b) {
  if (a.record->ts != b.record->ts) return a.record->ts < b.record->ts;
  int ra = tie_rank(a.record->kind);
  int rb = tie_rank(b.record->kind);
  if (ra != rb) return ra < rb;
  if (a.order != b.order) return a.order < b.order;
  return a.index < b.index;
}

// Merges the writers' records into one timeline. Each writer's records are already in time
// order (its chunks ascend in `order`, and its timestamps strictly increase), so a k-way
// merge over the writers takes O(n log k) for n records and k writers. Records from
// data.limit_ts on are left out and counted in *cut (exectrace.cc, the buffer limit).
std::vector<entry> merge_records(const trace_session_data& data, std::uint64_t* cut) {
  std::map<std::int64_t, std::vector<const trace_chunk*>> by_writer;
  for (const trace_chunk* chunk : data.chunks) by_writer[chunk->m_id].push_back(chunk);

  // One cursor per writer: its records, flattened in order.
  std::vector<std::vector<entry>> streams;
  for (auto& [m_id, chunks] : by_writer) {
    std::sort(chunks.begin(), chunks.end(),
              [](const trace_chunk* a, const trace_chunk* b) { return a->order < b->order; });
    std::vector<entry> stream;
    for (const trace_chunk* chunk : chunks) {
      for (std::uint32_t i = 0; i < kTraceChunkRecords && chunk->records[i].ts != 0; ++i) {
        if (data.limit_ts != 0 && chunk->records[i].ts >= data.limit_ts) {
          ++*cut;
          continue;
        }
        stream.push_back(entry{&chunk->records[i], m_id, chunk->order, i});
      }
    }
    if (!stream.empty()) streams.push_back(std::move(stream));
  }

  std::size_t total = 0;
  for (const auto& stream : streams) total += stream.size();
  std::vector<entry> merged;
  merged.reserve(total);
  std::vector<std::size_t> next(streams.size(), 0);
  // A min-heap of writer indexes, keyed by each writer's next record.
  auto later = [&](std::size_t a, std::size_t b) {
    return comes_before(streams[b][next[b]], streams[a][next[a]]);
  };
  std::vector<std::size_t> heap(streams.size());
  for (std::size_t i = 0; i < heap.size(); ++i) heap[i] = i;
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    std::size_t w = heap.back();
    merged.push_back(streams[w][next[w]]);
    if (++next[w] < streams[w].size()) {
      std::push_heap(heap.begin(), heap.end(), later);
    } else {
      heap.pop_back();
    }
  }
  return merged;
}

}  // namespace

bool write_trace_json(output_sink& out, const trace_session_data& data,
                      trace_write_stats* stats) {
  std::uint64_t cut = 0;
  std::vector<entry> entries = merge_records(data, &cut);
  const std::uint64_t dropped = data.dropped + cut;
  if (stats != nullptr) *stats = trace_write_stats{entries.size(), dropped};

  json_writer json(out);
  json.raw("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
  converter replay(json, data.start_ts);
  for (const entry& e : entries) replay.replay(e);
  // A trace cut at the buffer limit ends there: the slices still open close at that time.
  if (data.limit_ts != 0) {
    replay.finish(data.limit_ts, "trace buffer limit");
  } else {
    replay.finish(data.stop_ts, "trace stop");
  }
  replay.write_track_names();

  json.raw("\n],\"otherData\":{\"format\":\"goro execution trace 1\",\"events\":");
  json.number(static_cast<std::int64_t>(entries.size()));
  json.raw(",\"dropped_events\":");
  json.number(static_cast<std::int64_t>(dropped));
  json.raw(",\"buffer_limit_bytes\":");
  json.number(data.limit_bytes);
  json.raw(",\"buffer_limit_reached\":");
  json.raw(data.limit_ts != 0 ? "true" : "false");
  if (data.limit_ts != 0) {
    json.raw(",\"buffer_limit_ts\":");  // where the trace ends, in the events' time base
    json.micros(data.limit_ts - data.start_ts);
  }
  json.raw(",\"inconsistencies\":");
  json.number(static_cast<std::int64_t>(replay.inconsistencies()));
  json.raw("}}\n");
  return json.flush();
}

}  // namespace goro::rt
