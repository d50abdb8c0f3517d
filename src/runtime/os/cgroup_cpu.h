// The CPU bandwidth limit of the cgroup that contains this process (Linux cgroup v1 and v2).
//
// Model, as in Go 1.25's container-aware GOMAXPROCS (internal/runtime/cgroup):
//   1. /proc/self/cgroup names the process's cgroup in each hierarchy ("ID:controllers:path").
//      A v1 hierarchy whose controller list contains "cpu" wins; otherwise the v2 line ("0::path")
//      is used. On a hybrid system both exist and the v1 cpu controller takes precedence.
//   2. /proc/self/mountinfo gives the mount of that hierarchy: fstype "cgroup" with "cpu" among
//      its super options for v1, fstype "cgroup2" for v2. Paths in it are octal-escaped
//      ("\040" for a space) and are unescaped here.
//   3. The cgroup's directory is <mount point> + <cgroup path relative to the mount's root>.
//      The mount's root (mountinfo field 4) is usually "/", but a container without a cgroup
//      namespace that has only its own part of the hierarchy bind-mounted gets a root such as
//      "/kubepods/pod1/ctr", so the cgroup path from step 1 is stripped of that prefix (on a
//      whole path component). A cgroup path outside the mount's root is appended whole, as
//      Go 1.25 does for every path. Such a path usually names no directory, so no limit.
//      A path with a ".." component (a cgroup outside the reader's cgroup namespace) is
//      rejected.
//   4. The limit is quota/period in CPUs: v2 "cpu.max" holds "<quota> <period>" or
//      "max <period>", v1 has "cpu.cfs_quota_us" (-1 = no limit) and "cpu.cfs_period_us".
//
// Any missing or malformed file means "no limit": the limit can only lower GOMAXPROCS, so the
// safe reading of an unexpected layout is the plain CPU count.
//
// Cost: two /proc reads plus one or two small files; about 30 KiB of stack, no heap.
#pragma once

#include <string_view>

#include "runtime/os/kernel_text.h"

namespace goro::rt::os {

struct cgroup_cpu_limit {
  bool limited = false;  // false: no quota applies, `cpus` is meaningless
  double cpus = 0;       // quota / period, in CPUs (may be fractional)
};

enum class cgroup_version { none, v1, v2 };

// The location of the process's CPU cgroup.
struct cgroup_cpu_location {
  cgroup_version version = cgroup_version::none;
  // The cgroup directory as an absolute path on the real system (not prefixed with the test
  // root), for example "/sys/fs/cgroup/cpu,cpuacct/user.slice". Valid when version != none;
  // left uninitialised otherwise, because zeroing 4 KiB is a cost paid at every start-up.
  char directory[kMaxPathBytes];
};

// Finds the process's CPU cgroup directory from <root>/proc/self/cgroup and
// <root>/proc/self/mountinfo. Returns false if there is none, if the two files disagree on the
// cgroup version, or if the cgroup path has a ".." component or is too long.
bool find_cgroup_cpu(const char* root, cgroup_cpu_location* location);

// Reads the limit files in <root> + location.directory.
cgroup_cpu_limit read_cgroup_cpu_limit_at(const char* root, const cgroup_cpu_location& location);

// find_cgroup_cpu followed by read_cgroup_cpu_limit_at; no cgroup means no limit.
cgroup_cpu_limit read_cgroup_cpu_limit(const char* root = "/");

// Parses the contents of a v2 "cpu.max" file. Returns false if malformed.
bool parse_cgroup_v2_cpu_max(std::string_view text, cgroup_cpu_limit* limit);

// Parses the contents of the v1 "cpu.cfs_quota_us" and "cpu.cfs_period_us" files. Returns
// false if malformed (including a period that is not positive).
bool parse_cgroup_v1_cpu_quota(std::string_view quota_text, std::string_view period_text,
                               cgroup_cpu_limit* limit);

}  // namespace goro::rt::os
