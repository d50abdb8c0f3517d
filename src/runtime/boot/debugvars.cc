#include "runtime/boot/debugvars.h"

#include <climits>
#include <iterator>
#include <string_view>

#include "runtime/os/kernel_text.h"

namespace goro::rt {
namespace {

constexpr std::int64_t kInt32Min = INT32_MIN;
constexpr std::int64_t kInt32Max = INT32_MAX;

// gorostacksize bounds. One page is the smallest reservation the stack layer can map. Above
// 1 GiB a default reservation wastes address space on every goroutine, and Go itself caps one
// goroutine's stack at 1 000 000 000 bytes.
constexpr std::int64_t kMinStackBytes = 4096;
constexpr std::int64_t kMaxStackBytes = std::int64_t{1} << 30;

// gorotracebuf bounds: one trace buffer (exectrace.h), and 64 GiB, whose records would make
// a JSON file of hundreds of gigabytes.
constexpr std::int64_t kMinTraceBufBytes = 128 * 1024;
constexpr std::int64_t kMaxTraceBufBytes = std::int64_t{64} << 30;

constexpr debug_var go_key(const char* name, std::int32_t debug_vars::*field,
                           std::int64_t default_value, const char* doc) {
  return {name, doc, default_value, kInt32Min, kInt32Max, field, nullptr,
          debug_value_kind::integer, false};
}

constexpr debug_var goro_key(const char* name, std::int32_t debug_vars::*field,
                             std::int64_t default_value, std::int64_t min_value,
                             std::int64_t max_value, const char* doc) {
  return {name, doc, default_value, min_value, max_value, field, nullptr,
          debug_value_kind::integer, true};
}

// Keep sorted as in Go's dbgvars (alphabetical) for Go's keys, then goro's keys.
constexpr debug_var kDebugVars[] = {
    go_key("asyncpreemptoff", &debug_vars::asyncpreemptoff, 0,
           "1 disables signal-based preemption of long-running goroutines"),
    go_key("containermaxprocs", &debug_vars::containermaxprocs, 1,
           "1 lowers the default GOMAXPROCS to the cgroup CPU quota; 0 uses the CPU count"),
    go_key("gctrace", &debug_vars::gctrace, 0,
           "1 prints one line to stderr per garbage collection"),
    go_key("inittrace", &debug_vars::inittrace, 0,
           "1 prints one line to stderr per start-up phase with its time and allocations"),
    go_key("madvdontneed", &debug_vars::madvdontneed, 1,
           "1 returns freed memory with MADV_DONTNEED, 0 with MADV_FREE"),
    go_key("scheddetail", &debug_vars::scheddetail, 0,
           "1 with schedtrace also prints the state of every P, M and goroutine"),
    go_key("schedtrace", &debug_vars::schedtrace, 0,
           "N > 0 prints a SCHED line to stderr every N milliseconds"),
    go_key("tracebackancestors", &debug_vars::tracebackancestors, 0,
           "N > 0 adds the creation stacks of up to N ancestor goroutines to tracebacks"),
    go_key("updatemaxprocs", &debug_vars::updatemaxprocs, 1,
           "1 re-evaluates the default GOMAXPROCS every second; 0 keeps the start-up value"),

    goro_key("gorolongrun", &debug_vars::gorolongrun, 0, 0, kInt32Max,
             "N > 0 reports goroutines that run N milliseconds without a scheduling point"),
    goro_key("goromigrate", &debug_vars::goromigrate, 0, 0, 1,
             "1 moves a goroutine to another thread at every park (finds cached TLS addresses)"),
    goro_key("goroschedlatency", &debug_vars::goroschedlatency, 0, 0, 1,
             "1 collects the scheduler latency histogram of goro::metrics from the start"),
    goro_key("gorostackguard", &debug_vars::gorostackguard, 2, 0, 2,
             "0 checks a stack canary only, 1 puts a guard page under every stack, "
             "2 chooses from vm.max_map_count"),
    {"gorostacksize",
     "default goroutine stack reservation in bytes; suffixes B, K/KiB, M/MiB, G/GiB",
     256 * 1024, kMinStackBytes, kMaxStackBytes, nullptr, &debug_vars::gorostacksize,
     debug_value_kind::byte_count, true},
    {"gorotracebuf",
     "memory the execution trace may keep before it stops recording, in bytes; suffixes as "
     "gorostacksize",
     64 << 20, kMinTraceBufBytes, kMaxTraceBufBytes, nullptr, &debug_vars::gorotracebuf,
     debug_value_kind::byte_count, true},
};

constexpr bool starts_with_goro(const char* name) {
  return name[0] == 'g' && name[1] == 'o' && name[2] == 'r' && name[3] == 'o';
}

constexpr bool same_name(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}

constexpr debug_vars defaults_from_table() {
  debug_vars vars{};
  for (const debug_var& var : kDebugVars) {
    if (var.field32 != nullptr) vars.*var.field32 = static_cast<std::int32_t>(var.default_value);
    if (var.field64 != nullptr) vars.*var.field64 = var.default_value;
  }
  return vars;
}

// Checks the table's internal rules and that debug_vars' member initialisers agree with it.
constexpr bool table_is_consistent() {
  constexpr debug_vars initialised{};
  constexpr debug_vars from_table = defaults_from_table();
  for (std::size_t i = 0; i < std::size(kDebugVars); ++i) {
    const debug_var& var = kDebugVars[i];
    if ((var.field32 == nullptr) == (var.field64 == nullptr)) return false;
    if (var.goro_only != starts_with_goro(var.name)) return false;
    if (var.default_value < var.min_value || var.default_value > var.max_value) return false;
    if (var.field32 != nullptr && initialised.*var.field32 != from_table.*var.field32) {
      return false;
    }
    if (var.field64 != nullptr && initialised.*var.field64 != from_table.*var.field64) {
      return false;
    }
    for (std::size_t j = i + 1; j < std::size(kDebugVars); ++j) {
      if (same_name(var.name, kDebugVars[j].name)) return false;
    }
  }
  return true;
}

static_assert(table_is_consistent(),
              "kDebugVars: a key has no or two fields, a goro key lacks the goro prefix, a "
              "default is out of range or differs from debug_vars, or a name repeats");

// Parses a non-negative byte count with an optional binary-unit suffix.
bool parse_byte_count(std::string_view text, std::int64_t* out) {
  struct suffix {
    std::string_view text;
    int shift;
  };
  // Longer spellings first, so "KiB" is not read as "K" plus junk.
  constexpr suffix kSuffixes[] = {
      {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"K", 10}, {"M", 20}, {"G", 30}, {"B", 0},
  };
  int shift = 0;
  for (const suffix& s : kSuffixes) {
    if (text.size() > s.text.size() && text.substr(text.size() - s.text.size()) == s.text) {
      shift = s.shift;
      text.remove_suffix(s.text.size());
      break;
    }
  }
  std::int64_t count;
  if (text.empty() || text.front() == '-' || !os::parse_int64(text, &count)) return false;
  if (count > (INT64_MAX >> shift)) return false;
  *out = count << shift;
  return true;
}

const debug_var* find_debug_var(std::string_view name) {
  for (const debug_var& var : kDebugVars) {
    if (name == var.name) return &var;
  }
  return nullptr;
}

void apply_entry(debug_vars* vars, std::string_view entry, bool secure_mode) {
  std::size_t equals = entry.find('=');
  if (equals == std::string_view::npos) return;
  const debug_var* var = find_debug_var(entry.substr(0, equals));
  if (var == nullptr) return;
  if (var->goro_only && secure_mode) return;

  std::string_view text = entry.substr(equals + 1);
  std::int64_t value;
  bool ok = var->kind == debug_value_kind::byte_count ? parse_byte_count(text, &value)
                                                      : os::parse_int64(text, &value);
  if (!ok || value < var->min_value || value > var->max_value) return;

  if (var->field32 != nullptr) {
    vars->*var->field32 = static_cast<std::int32_t>(value);
  } else {
    vars->*var->field64 = value;
  }
}

}  // namespace

constinit debug_vars debug = defaults_from_table();

const debug_var* debug_var_table(std::size_t* count) {
  *count = std::size(kDebugVars);
  return kDebugVars;
}

void reset_debug_vars(debug_vars* vars) { *vars = defaults_from_table(); }

void parse_godebug(debug_vars* vars, const char* value, bool secure_mode) {
  if (value == nullptr) return;
  std::string_view rest(value);
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    apply_entry(vars, rest.substr(0, comma), secure_mode);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
}

void parse_godebug(const char* value, bool secure_mode) { parse_godebug(&debug, value, secure_mode); }

traceback_setting parse_gotraceback(const char* value, bool secure_mode) {
  if (secure_mode) return {0, false, false};
  std::string_view text = value == nullptr ? std::string_view() : std::string_view(value);

  if (text == "none") return {0, false, false};
  if (text == "single" || text.empty()) return {1, false, false};
  if (text == "all") return {1, true, false};
  if (text == "system") return {2, true, false};
  if (text == "crash") return {2, true, true};

  // Anything else means "all goroutines" at the numeric level given, as in Go, where text that
  // is not a number in [0, 2^32) leaves the level at 0.
  std::int64_t level;
  if (!os::parse_int64(text, &level) || level < 0 || level > UINT32_MAX) level = 0;
  if (level > INT_MAX) level = INT_MAX;
  return {static_cast<int>(level), true, false};
}

int parse_gomaxprocs_env(const char* value) {
  if (value == nullptr) return 0;
  // Digits only, read up to the NUL without strlen: every boot with GOMAXPROCS set parses
  // it, and a first strlen call costs a lazy PLT binding (see os/raw_syscall.h).
  std::int64_t procs = 0;
  for (const char* c = value; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return 0;
    procs = procs * 10 + (*c - '0');
    if (procs > kInt32Max) return 0;
  }
  return static_cast<int>(procs);
}

}  // namespace goro::rt
