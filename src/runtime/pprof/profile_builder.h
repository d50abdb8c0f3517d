// Builds a profile in the pprof format (profile.proto, as `go tool pprof` reads it) from
// samples of raw program counters, and serialises it without compression.
//
// Model: a sample is a stack of code addresses, innermost first, with one value per sample
// type and optional numeric labels. encode() turns the distinct addresses into Locations,
// symbolises each one (trace/symbolize.h) into one Line per logical frame (inlined functions
// first, the physical function last, as profile.proto orders them) and emits one Function
// per distinct name and file. Mappings come from the executable segments in /proc/self/maps
// at encode time, all marked as already symbolised so that pprof does not look for the
// binary again.
//
// Invariants:
//   * Symbolisation happens only in encode(), on the calling thread. It allocates and reads
//     debug information, so it must never run in a signal handler.
//   * The string table starts with "", as profile.proto requires, and every string is stored
//     once.
//   * Location, Function and Mapping ids start at 1. A location outside every mapping gets
//     mapping id 0, which pprof accepts.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace goro::rt::pprof {

// One sample type or the period type, as two string-table entries ("cpu", "nanoseconds").
struct value_type {
  std::string_view type;
  std::string_view unit;
};

// A label whose value is a number, such as goroutine=17.
struct numeric_label {
  std::string_view key;
  std::int64_t value;
};

class profile_builder {
 public:
  profile_builder(std::vector<value_type> sample_types, value_type period_type,
                  std::int64_t period);
  // Defined in profile_builder.cc, so that the destructor and the map code it instantiates
  // are compiled once, for size, and not again at -O2 in each file that builds a profile.
  ~profile_builder();

  // Start of the profile (Unix ns) and its length (ns); both 0 by default.
  void set_time(std::int64_t time_nanos, std::int64_t duration_nanos);

  // Adds a sample. `pcs` contains return addresses, innermost first, except that pcs[0] is the
  // interrupted instruction itself when `leaf_is_exact` (a CPU sample). `values` has one
  // entry per sample type.
  void add_sample(std::span<const std::uintptr_t> pcs, bool leaf_is_exact,
                  std::span<const std::int64_t> values, std::span<const numeric_label> labels);

  // Symbolises every address and returns the serialised profile.
  std::string encode();

 private:
  struct sample_record {
    std::vector<std::uint64_t> location_ids;
    std::vector<std::int64_t> values;
    std::vector<std::pair<std::int64_t, std::int64_t>> labels;  // key string index, number
  };

  std::int64_t string_index(std::string_view text);
  std::uint64_t location_id(std::uintptr_t lookup_address);

  std::vector<value_type> sample_types_;
  value_type period_type_;
  std::int64_t period_;
  std::int64_t time_nanos_ = 0;
  std::int64_t duration_nanos_ = 0;

  // The id maps are ordered maps rather than hash tables, because they serve one encode per
  // profile and std::unordered_map would add libstdc++'s hash table code (4 KB with GCC 12)
  // to every program.
  std::vector<std::string> strings_;
  std::map<std::string, std::int64_t, std::less<>> string_ids_;
  // Addresses to symbolise, in id order: location id i + 1 is lookup_addresses_[i].
  std::vector<std::uintptr_t> lookup_addresses_;
  std::map<std::uintptr_t, std::uint64_t> location_ids_;
  std::vector<sample_record> samples_;
};

}  // namespace goro::rt::pprof
