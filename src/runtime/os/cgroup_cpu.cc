#include "runtime/os/cgroup_cpu.h"

#include <cstring>
#include <unistd.h>

namespace goro::rt::os {
namespace {

// Buffer for scanning /proc/self/cgroup and /proc/self/mountinfo. Real cgroup lines are a few
// hundred bytes, and 16 KiB leaves room for two unescaped PATH_MAX paths. A longer line is
// skipped: an overlay mount with many layers costs nothing, and a cgroup path that long
// (possible only with heavy octal escaping) reads as "no limit".
constexpr std::size_t kScanBufferBytes = 16 * 1024;

// Value files hold at most "<int64> <int64>\n" (40 bytes); a file that fills this buffer is
// malformed, as in Go's reader.
constexpr std::size_t kValueFileBytes = 64;

// The path buffers below are left uninitialised: zeroing 4 KiB each would cost more than the
// parsing, and each is written before it is read.

struct cgroup_membership {
  cgroup_version version = cgroup_version::none;
  char path[kMaxPathBytes];  // valid when version != none
};

struct cgroup_mount {
  cgroup_version version = cgroup_version::none;
  char root[kMaxPathBytes];         // mountinfo field 4, unescaped; valid when version != none
  char mount_point[kMaxPathBytes];  // mountinfo field 5, unescaped
};

// Returns true if the comma-separated `list` contains exactly `item`.
bool list_contains(std::string_view list, std::string_view item) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    if (list.substr(0, comma) == item) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// Splits off the text up to the next space (or the end) and advances past that space.
std::string_view next_field(std::string_view* rest) {
  std::size_t space = rest->find(' ');
  std::string_view field = rest->substr(0, space);
  rest->remove_prefix(space == std::string_view::npos ? rest->size() : space + 1);
  return field;
}

// Copies a mountinfo path into out as a NUL-terminated string, decoding the kernel's
// three-digit octal escapes ("\040" is a space, "\134" a backslash). Returns false if an
// escape is malformed or the result does not fit.
bool unescape_mount_path(std::string_view in, char* out, std::size_t capacity) {
  std::size_t length = 0;
  for (std::size_t i = 0; i < in.size();) {
    if (length + 1 >= capacity) return false;
    char c = in[i];
    if (c != '\\') {
      out[length++] = c;
      ++i;
      continue;
    }
    if (i + 3 >= in.size()) return false;
    unsigned value = 0;
    for (std::size_t k = 1; k <= 3; ++k) {
      char digit = in[i + k];
      if (digit < '0' || digit > '7') return false;
      value = value * 8 + static_cast<unsigned>(digit - '0');
    }
    if (value > 0xff) return false;
    out[length++] = static_cast<char>(value);
    i += 4;
  }
  out[length] = '\0';
  return true;
}

bool copy_string(std::string_view in, char* out, std::size_t capacity) {
  if (in.size() + 1 > capacity) return false;
  std::memcpy(out, in.data(), in.size());
  out[in.size()] = '\0';
  return true;
}

// Reads <root>/proc/self/cgroup. A v1 line whose controllers include "cpu" wins over the v2
// line ("0::<path>"); without either the process is in no CPU cgroup.
bool read_membership(const char* root, cgroup_membership* membership) {
  int fd = open_under(root, "/proc/self/cgroup");
  if (fd < 0) return false;

  char buffer[kScanBufferBytes];
  line_block_reader reader(fd, buffer, sizeof buffer);
  std::string_view block;
  bool found_v1 = false;
  bool ok = true;
  while (ok && !found_v1 && reader.next(&block)) {
    while (!block.empty()) {
      std::size_t newline = block.find('\n');
      std::string_view line = block.substr(0, newline);
      block.remove_prefix(newline == std::string_view::npos ? block.size() : newline + 1);

      // "hierarchy-ID:controller-list:cgroup-path"; the path itself may contain ':'.
      std::size_t first = line.find(':');
      std::size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
      if (second == std::string_view::npos) {
        ok = false;
        break;
      }
      std::string_view hierarchy = line.substr(0, first);
      std::string_view controllers = line.substr(first + 1, second - first - 1);
      std::string_view path = line.substr(second + 1);

      if (hierarchy == "0") {
        // Keep looking: a v1 cpu controller later in the file takes precedence.
        if (!copy_string(path, membership->path, sizeof membership->path)) ok = false;
        membership->version = cgroup_version::v2;
      } else if (list_contains(controllers, "cpu")) {
        if (!copy_string(path, membership->path, sizeof membership->path)) ok = false;
        membership->version = cgroup_version::v1;
        found_v1 = true;
        break;
      }
    }
  }
  // A line too long to read might have been the cpu controller's, so do not guess.
  if (reader.failed() || reader.skipped_lines() > 0) ok = false;
  ::close(fd);
  return ok && membership->version != cgroup_version::none;
}

// Classifies a mount by `after_separator`, the rest of its mountinfo line after " - ". Returns
// v2 for cgroup2, v1 for a cgroup mount with the cpu controller among its super options, and
// none for anything else.
cgroup_version classify_mount(std::string_view after_separator) {
  std::string_view fstype = next_field(&after_separator);
  if (fstype == "cgroup2") return cgroup_version::v2;
  if (fstype != "cgroup") return cgroup_version::none;
  next_field(&after_separator);  // mount source
  return list_contains(after_separator, "cpu") ? cgroup_version::v1 : cgroup_version::none;
}

// Decodes the root and mount point of `before_separator`, the part of a mountinfo line before
// " - ". Returns false if a field is missing or malformed.
bool parse_mount_paths(std::string_view before_separator, cgroup_mount* mount) {
  // "36 35 98:0 <root> <mount point> <options> [optional fields...]"; see
  // proc_pid_mountinfo(5).
  for (int skipped = 0; skipped < 3; ++skipped) next_field(&before_separator);  // IDs, dev
  std::string_view mount_root = next_field(&before_separator);
  std::string_view mount_point = next_field(&before_separator);
  if (mount_root.empty() || mount_point.empty()) return false;
  return unescape_mount_path(mount_root, mount->root, sizeof mount->root) &&
         unescape_mount_path(mount_point, mount->mount_point, sizeof mount->mount_point);
}

// Reads <root>/proc/self/mountinfo for the mount of `wanted`'s hierarchy: the first v1 mount
// with the cpu controller, or the last cgroup2 mount.
bool find_mount(const char* root, cgroup_version wanted, cgroup_mount* mount) {
  int fd = open_under(root, "/proc/self/mountinfo");
  if (fd < 0) return false;

  // Only lines of fstype cgroup or cgroup2 matter, so search each block for the separator
  // followed by that type instead of splitting every line into fields. Paths and options are
  // escaped, so " - " occurs once per line, right before the fstype.
  constexpr std::string_view kNeedle = " - cgroup";
  char buffer[kScanBufferBytes];
  line_block_reader reader(fd, buffer, sizeof buffer);
  std::string_view block;
  bool found = false;
  while (!found && reader.next(&block)) {
    std::size_t from = 0;
    while (from < block.size()) {
      const void* hit = ::memmem(block.data() + from, block.size() - from, kNeedle.data(),
                                 kNeedle.size());
      if (hit == nullptr) break;
      std::size_t at = static_cast<std::size_t>(static_cast<const char*>(hit) - block.data());
      std::size_t line_end = block.find('\n', at);
      if (line_end == std::string_view::npos) line_end = block.size();
      from = line_end;
      if (classify_mount(block.substr(at + 3, line_end - at - 3)) != wanted) continue;

      // Only the matching line pays for the backward search for its start.
      std::size_t line_begin = block.rfind('\n', at);
      line_begin = line_begin == std::string_view::npos ? 0 : line_begin + 1;
      mount->version = cgroup_version::none;  // until both paths are decoded
      if (!parse_mount_paths(block.substr(line_begin, at - line_begin), mount)) continue;
      mount->version = wanted;
      // Only one v1 hierarchy carries the cpu controller, so its first mount is the result.
      // For v2 keep scanning, because a later mount shadows an earlier one.
      if (wanted == cgroup_version::v1) {
        found = true;
        break;
      }
    }
  }
  bool failed = reader.failed();
  ::close(fd);
  return !failed && mount->version == wanted;
}

// Returns true if `path` has a ".." component.
bool has_parent_component(std::string_view path) {
  for (std::size_t at = path.find("/.."); at != std::string_view::npos;
       at = path.find("/..", at + 1)) {
    std::size_t end = at + 3;
    if (end == path.size() || path[end] == '/') return true;
  }
  return false;
}

// Returns the part of `cgroup_path` below `mount_root` ("" for the root itself), or the whole
// path if it is not below it.
std::string_view path_below_mount_root(std::string_view cgroup_path, std::string_view mount_root) {
  while (!mount_root.empty() && mount_root.back() == '/') mount_root.remove_suffix(1);
  if (mount_root.empty()) return cgroup_path;  // the mount shows the whole hierarchy
  if (cgroup_path.substr(0, mount_root.size()) != mount_root) return cgroup_path;
  std::string_view rest = cgroup_path.substr(mount_root.size());
  if (!rest.empty() && rest.front() != '/') return cgroup_path;  // "/a/bc" is not below "/a/b"
  return rest;
}

// Reads the value file <root><directory><file> into buffer; returns its text or false.
bool read_value_file(const char* root, const char* directory, std::string_view file,
                     char* buffer, std::size_t capacity, std::string_view* text) {
  char path[kMaxPathBytes];
  long length = join_path(path, sizeof path, directory, file);
  if (length < 0) return false;
  long n = read_small_file(root, std::string_view(path, static_cast<std::size_t>(length)),
                           buffer, capacity);
  if (n < 0) return false;
  *text = std::string_view(buffer, static_cast<std::size_t>(n));
  return true;
}

}  // namespace

bool parse_cgroup_v2_cpu_max(std::string_view text, cgroup_cpu_limit* limit) {
  text = trim_newline(text);
  std::size_t space = text.find(' ');
  if (space == std::string_view::npos) return false;
  std::string_view quota_text = text.substr(0, space);
  std::string_view period_text = text.substr(space + 1);

  std::int64_t period;
  if (!parse_int64(period_text, &period) || period <= 0) return false;
  if (quota_text == "max") {
    *limit = cgroup_cpu_limit{};
    return true;
  }
  std::int64_t quota;
  if (!parse_int64(quota_text, &quota) || quota < 0) return false;
  *limit = cgroup_cpu_limit{true, static_cast<double>(quota) / static_cast<double>(period)};
  return true;
}

bool parse_cgroup_v1_cpu_quota(std::string_view quota_text, std::string_view period_text,
                               cgroup_cpu_limit* limit) {
  std::int64_t quota;
  if (!parse_int64(trim_newline(quota_text), &quota)) return false;
  if (quota < 0) {
    // The kernel writes -1 when no quota is set.
    *limit = cgroup_cpu_limit{};
    return true;
  }
  std::int64_t period;
  if (!parse_int64(trim_newline(period_text), &period) || period <= 0) return false;
  *limit = cgroup_cpu_limit{true, static_cast<double>(quota) / static_cast<double>(period)};
  return true;
}

bool find_cgroup_cpu(const char* root, cgroup_cpu_location* location) {
  cgroup_membership membership;
  if (!read_membership(root, &membership)) return false;
  cgroup_mount mount;
  if (!find_mount(root, membership.version, &mount)) return false;

  std::string_view cgroup_path = membership.path;
  if (has_parent_component(cgroup_path)) return false;
  std::string_view relative = path_below_mount_root(cgroup_path, mount.root);
  if (relative == "/") relative = {};

  if (join_path(location->directory, sizeof location->directory, mount.mount_point, relative) <
      0) {
    return false;
  }
  location->version = membership.version;
  return true;
}

cgroup_cpu_limit read_cgroup_cpu_limit_at(const char* root, const cgroup_cpu_location& location) {
  // NOTE: only the process's own cgroup is read, as Go 1.25 does. A tighter quota on an
  // ancestor cgroup is enforced by the kernel but not seen here.
  cgroup_cpu_limit limit;
  char quota_buffer[kValueFileBytes];
  std::string_view quota_text;

  switch (location.version) {
    case cgroup_version::v2:
      if (!read_value_file(root, location.directory, "/cpu.max", quota_buffer,
                           sizeof quota_buffer, &quota_text) ||
          !parse_cgroup_v2_cpu_max(quota_text, &limit)) {
        return {};
      }
      return limit;

    case cgroup_version::v1: {
      char period_buffer[kValueFileBytes];
      std::string_view period_text;
      if (!read_value_file(root, location.directory, "/cpu.cfs_quota_us", quota_buffer,
                           sizeof quota_buffer, &quota_text) ||
          !read_value_file(root, location.directory, "/cpu.cfs_period_us", period_buffer,
                           sizeof period_buffer, &period_text) ||
          !parse_cgroup_v1_cpu_quota(quota_text, period_text, &limit)) {
        return {};
      }
      return limit;
    }

    case cgroup_version::none:
      break;
  }
  return {};
}

cgroup_cpu_limit read_cgroup_cpu_limit(const char* root) {
  cgroup_cpu_location location;
  if (!find_cgroup_cpu(root, &location)) return {};
  return read_cgroup_cpu_limit_at(root, location);
}

}  // namespace goro::rt::os
