// Serialisation of a profile.proto message; see profile_builder.h for the model.
#include "runtime/pprof/profile_builder.h"

#include <cinttypes>
#include <cstdio>
#include <map>
#include <utility>

#include "runtime/pprof/protobuf.h"
#include "runtime/trace/symbolize.h"

namespace goro::rt::pprof {

namespace {

// Field numbers of profile.proto (github.com/google/pprof, proto/profile.proto).
namespace profile_field {
constexpr int kSampleType = 1;
constexpr int kSample = 2;
constexpr int kMapping = 3;
constexpr int kLocation = 4;
constexpr int kFunction = 5;
constexpr int kStringTable = 6;
constexpr int kTimeNanos = 9;
constexpr int kDurationNanos = 10;
constexpr int kPeriodType = 11;
constexpr int kPeriod = 12;
}  // namespace profile_field

namespace value_type_field {
constexpr int kType = 1;
constexpr int kUnit = 2;
}  // namespace value_type_field

namespace sample_field {
constexpr int kLocationId = 1;
constexpr int kValue = 2;
constexpr int kLabel = 3;
}  // namespace sample_field

namespace label_field {
constexpr int kKey = 1;
constexpr int kNum = 3;
}  // namespace label_field

namespace mapping_field {
constexpr int kId = 1;
constexpr int kMemoryStart = 2;
constexpr int kMemoryLimit = 3;
constexpr int kFileOffset = 4;
constexpr int kFilename = 5;
constexpr int kHasFunctions = 7;
constexpr int kHasFilenames = 8;
constexpr int kHasLineNumbers = 9;
constexpr int kHasInlineFrames = 10;
}  // namespace mapping_field

namespace location_field {
constexpr int kId = 1;
constexpr int kMappingId = 2;
constexpr int kAddress = 3;
constexpr int kLine = 4;
}  // namespace location_field

namespace line_field {
constexpr int kFunctionId = 1;
constexpr int kLine = 2;
}  // namespace line_field

namespace function_field {
constexpr int kId = 1;
constexpr int kName = 2;
constexpr int kSystemName = 3;
constexpr int kFilename = 4;
}  // namespace function_field

struct mapping {
  std::uintptr_t start;
  std::uintptr_t limit;
  std::uint64_t file_offset;
  std::string path;
};

// Executable segments of the process, in address order.
std::vector<mapping> read_executable_mappings() {
  std::vector<mapping> found;
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) return found;
  char line[4096];
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    std::uintptr_t start = 0;
    std::uintptr_t limit = 0;
    char perms[8] = {};
    std::uint64_t offset = 0;
    int path_start = 0;
    if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %" SCNx64 " %*s %*s %n", &start, &limit,
                    perms, &offset, &path_start) < 4) {
      continue;
    }
    if (perms[2] != 'x') continue;
    std::string path = path_start > 0 ? line + path_start : "";
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    found.push_back(mapping{start, limit, offset, std::move(path)});
  }
  std::fclose(maps);
  return found;
}

// One symbolised Line of a Location, before function ids are known.
struct symbolised_line {
  std::string function;
  std::string file;
  int line;
};

void collect_line(const symbol_info& symbol, void* context) {
  auto* lines = static_cast<std::vector<symbolised_line>*>(context);
  if (symbol.function[0] == '\0' && symbol.file[0] == '\0') return;
  lines->push_back(symbolised_line{symbol.function, symbol.file, symbol.line});
}

}  // namespace

profile_builder::profile_builder(std::vector<value_type> sample_types, value_type period_type,
                                 std::int64_t period)
    : sample_types_(std::move(sample_types)), period_type_(period_type), period_(period) {
  string_index("");
}

profile_builder::~profile_builder() = default;

void profile_builder::set_time(std::int64_t time_nanos, std::int64_t duration_nanos) {
  time_nanos_ = time_nanos;
  duration_nanos_ = duration_nanos;
}

std::int64_t profile_builder::string_index(std::string_view text) {
  // Looked up as a string_view, so that a string already in the table costs no allocation.
  auto it = string_ids_.lower_bound(text);
  if (it != string_ids_.end() && it->first == text) return it->second;
  const auto index = static_cast<std::int64_t>(strings_.size());
  string_ids_.emplace_hint(it, text, index);
  strings_.emplace_back(text);
  return index;
}

std::uint64_t profile_builder::location_id(std::uintptr_t lookup_address) {
  auto [it, inserted] = location_ids_.try_emplace(lookup_address, lookup_addresses_.size() + 1);
  if (inserted) lookup_addresses_.push_back(lookup_address);
  return it->second;
}

void profile_builder::add_sample(std::span<const std::uintptr_t> pcs, bool leaf_is_exact,
                                 std::span<const std::int64_t> values,
                                 std::span<const numeric_label> labels) {
  sample_record sample;
  sample.location_ids.reserve(pcs.size());
  for (std::size_t i = 0; i < pcs.size(); ++i) {
    // A return address points after the call; the call's line is the byte before it.
    const bool exact = i == 0 && leaf_is_exact;
    sample.location_ids.push_back(location_id(exact ? pcs[i] : pcs[i] - 1));
  }
  sample.values.assign(values.begin(), values.end());
  for (const numeric_label& label : labels) {
    sample.labels.emplace_back(string_index(label.key), label.value);
  }
  samples_.push_back(std::move(sample));
}

std::string profile_builder::encode() {
  protobuf_writer profile;

  for (const value_type& type : sample_types_) {
    protobuf_writer message;
    message.int64_field(value_type_field::kType, string_index(type.type));
    message.int64_field(value_type_field::kUnit, string_index(type.unit));
    profile.message_field(profile_field::kSampleType, message);
  }

  for (const sample_record& sample : samples_) {
    protobuf_writer message;
    message.packed_field(sample_field::kLocationId, sample.location_ids);
    message.packed_field(sample_field::kValue, sample.values);
    for (const auto& [key, number] : sample.labels) {
      protobuf_writer label;
      label.int64_field(label_field::kKey, key);
      label.int64_field(label_field::kNum, number);
      message.message_field(sample_field::kLabel, label);
    }
    profile.message_field(profile_field::kSample, message);
  }

  const std::vector<mapping> mappings = read_executable_mappings();
  for (std::size_t i = 0; i < mappings.size(); ++i) {
    protobuf_writer message;
    message.varint_field(mapping_field::kId, i + 1);
    message.varint_field(mapping_field::kMemoryStart, mappings[i].start);
    message.varint_field(mapping_field::kMemoryLimit, mappings[i].limit);
    message.varint_field(mapping_field::kFileOffset, mappings[i].file_offset);
    message.int64_field(mapping_field::kFilename, string_index(mappings[i].path));
    message.bool_field(mapping_field::kHasFunctions, true);
    message.bool_field(mapping_field::kHasFilenames, true);
    message.bool_field(mapping_field::kHasLineNumbers, true);
    message.bool_field(mapping_field::kHasInlineFrames, true);
    profile.message_field(profile_field::kMapping, message);
  }

  // Functions are keyed by name and file, so two static functions with one name stay apart.
  std::map<std::pair<std::string, std::string>, std::uint64_t> function_ids;
  std::vector<symbolised_line> lines;
  for (std::size_t i = 0; i < lookup_addresses_.size(); ++i) {
    const std::uintptr_t address = lookup_addresses_[i];
    lines.clear();
    symbolize_pc_frames(address, collect_line, &lines);

    protobuf_writer message;
    message.varint_field(location_field::kId, i + 1);
    for (std::size_t m = 0; m < mappings.size(); ++m) {
      if (address >= mappings[m].start && address < mappings[m].limit) {
        message.varint_field(location_field::kMappingId, m + 1);
        break;
      }
    }
    message.varint_field(location_field::kAddress, address);
    for (const symbolised_line& line : lines) {
      auto [it, inserted] =
          function_ids.try_emplace({line.function, line.file}, function_ids.size() + 1);
      if (inserted) {
        // A frame without a name still needs one to be listed; pprof shows addresses so.
        const std::string name = line.function.empty() ? "??" : line.function;
        protobuf_writer function;
        function.varint_field(function_field::kId, it->second);
        function.int64_field(function_field::kName, string_index(name));
        function.int64_field(function_field::kSystemName, string_index(name));
        function.int64_field(function_field::kFilename, string_index(line.file));
        profile.message_field(profile_field::kFunction, function);
      }
      protobuf_writer line_message;
      line_message.varint_field(line_field::kFunctionId, it->second);
      line_message.int64_field(line_field::kLine, line.line);
      message.message_field(location_field::kLine, line_message);
    }
    profile.message_field(profile_field::kLocation, message);
  }

  profile.int64_field(profile_field::kTimeNanos, time_nanos_);
  profile.int64_field(profile_field::kDurationNanos, duration_nanos_);
  protobuf_writer period_type;
  period_type.int64_field(value_type_field::kType, string_index(period_type_.type));
  period_type.int64_field(value_type_field::kUnit, string_index(period_type_.unit));
  profile.message_field(profile_field::kPeriodType, period_type);
  profile.int64_field(profile_field::kPeriod, period_);

  // The string table goes last: every other field may have added strings to it.
  for (const std::string& text : strings_) profile.bytes_field(profile_field::kStringTable, text);
  return profile.bytes();
}

}  // namespace goro::rt::pprof
