// goro::pprof (include/goro/pprof.hpp): where the profiles are written, argument checks and
// the GOROCPUPROFILE environment variable. Recording lives in cpu_profile.cc and
// contention.cc.
#include "goro/pprof.hpp"

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "goro/runtime.hpp"
#include "runtime/pprof/contention.h"
#include "runtime/pprof/cpu_profile.h"
#include "runtime/pprof/env_profile.h"
#include "runtime/pprof/goroutine_profile.h"
#include "runtime/sched/fatal.h"
#include "runtime/trace/output_sink.h"
#include "runtime/trace/schedhooks.h"

namespace goro::pprof {

profile_error::~profile_error() = default;

namespace {

// Go's default rate (runtime/pprof's StartCPUProfile), which Go's documentation calls frequent
// enough for useful data and rare enough not to slow the program down.
constexpr int kDefaultCpuProfileRate = 100;
// Go's cap on SetCPUProfileRate.
constexpr int kMaxCpuProfileRate = 1'000'000;

// Serialises start, stop and rate changes, and guards the fields below.
std::mutex cpu_profile_mutex;
int cpu_profile_rate = kDefaultCpuProfileRate;
std::unique_ptr<rt::output_sink> cpu_output;  // where stop writes, set while a profile runs
std::string cpu_output_name;                  // "the file PATH" or "the output stream"
// True while a profile started by GOROCPUPROFILE runs. Written under cpu_profile_mutex.
// stop_env_cpu_profile also reads it without the lock, so that a run without the variable
// exits without locking. Relaxed, because that read only skips work and a locked re-check
// decides.
std::atomic<bool> cpu_profile_from_env{false};

void write_bytes(std::ostream& out, const std::string& bytes, const std::string& description) {
  if (!out) {
    throw profile_error("pprof: cannot write the " + description +
                        ": the output stream is in a failed state");
  }
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.flush();
  if (!out) throw profile_error("pprof: writing the " + description + " failed");
}

// cpu_profile_mutex held.
void start_locked(std::unique_ptr<rt::output_sink> out, std::string name) {
  std::string error = rt::pprof::cpu_profile_start(cpu_profile_rate);
  if (!error.empty()) throw profile_error("pprof: start_cpu_profile: " + error);
  cpu_output = std::move(out);
  cpu_output_name = std::move(name);
}

}  // namespace

void start_cpu_profile(std::ostream& out) {
  std::lock_guard<std::mutex> guard(cpu_profile_mutex);
  if (rt::pprof::cpu_profile_running()) throw profile_error("cpu profiling already in use");
  if (!out) {
    throw profile_error(
        "pprof: start_cpu_profile: the output stream is in a failed state; pass a stream "
        "open for writing");
  }
  start_locked(std::make_unique<rt::stream_sink>(out), "the output stream");
}

void start_cpu_profile(const std::string& path) {
  std::lock_guard<std::mutex> guard(cpu_profile_mutex);
  if (rt::pprof::cpu_profile_running()) throw profile_error("cpu profiling already in use");
  int error = 0;
  std::unique_ptr<rt::file_sink> file = rt::file_sink::create(path, error);
  if (!file) {
    throw profile_error("pprof: cannot create the CPU profile file " + path + ": " +
                        std::strerror(error));
  }
  start_locked(std::move(file), "the file " + path);
}

void stop_cpu_profile() {
  std::lock_guard<std::mutex> guard(cpu_profile_mutex);
  std::optional<std::string> profile = rt::pprof::cpu_profile_stop();
  if (!profile) return;
  std::unique_ptr<rt::output_sink> out = std::move(cpu_output);
  const std::string name = std::move(cpu_output_name);
  cpu_profile_from_env.store(false, std::memory_order_relaxed);
  bool written = out->write(profile->data(), profile->size());
  if (!out->finish() || !written) {
    throw profile_error("pprof: writing the CPU profile to " + name + " failed");
  }
}

void set_cpu_profile_rate(int hz) {
  if (hz < 1 || hz > kMaxCpuProfileRate) {
    throw panic_error("pprof: set_cpu_profile_rate: invalid rate " + std::to_string(hz) +
                      " Hz; use 1 to " + std::to_string(kMaxCpuProfileRate));
  }
  std::lock_guard<std::mutex> guard(cpu_profile_mutex);
  if (rt::pprof::cpu_profile_running()) {
    throw profile_error("cannot set cpu profile rate until previous profile has finished");
  }
  cpu_profile_rate = hz;
}

void write_goroutine_profile(std::ostream& out) {
  write_bytes(out, rt::pprof::encode_goroutine_profile(), "goroutine profile");
}

void write_block_profile(std::ostream& out) {
  write_bytes(out, rt::pprof::encode_block_profile(), "block profile");
}

void write_mutex_profile(std::ostream& out) {
  write_bytes(out, rt::pprof::encode_mutex_profile(), "mutex profile");
}

void set_block_profile_rate(int rate) {
  rt::pprof::block_profile_rate.store(rate > 0 ? rate : 0, std::memory_order_relaxed);
  // A goroutine's block is timed on the scheduler's slow path (schedhooks.h).
  if (rate > 0) {
    rt::sched_hooks.fetch_or(rt::kHookBlockProfile, std::memory_order_relaxed);
  } else {
    rt::sched_hooks.fetch_and(~rt::kHookBlockProfile, std::memory_order_relaxed);
  }
}

int set_mutex_profile_fraction(int fraction) {
  if (fraction < 0) return rt::pprof::mutex_profile_fraction.load(std::memory_order_relaxed);
  return rt::pprof::mutex_profile_fraction.exchange(fraction, std::memory_order_relaxed);
}

}  // namespace goro::pprof

namespace goro::rt::pprof {

void start_env_cpu_profile(const char* path, bool secure) {
  if (path == nullptr || *path == '\0' || secure) return;
  try {
    goro::pprof::start_cpu_profile(std::string(path));
  } catch (const goro::pprof::profile_error& error) {
    print_line().str("goro: GOROCPUPROFILE: ").str(error.what())
        .str("; running without a CPU profile\n").flush();
    return;
  }
  std::lock_guard<std::mutex> guard(goro::pprof::cpu_profile_mutex);
  goro::pprof::cpu_profile_from_env.store(true, std::memory_order_relaxed);
}

void stop_env_cpu_profile() {
  if (!goro::pprof::cpu_profile_from_env.load(std::memory_order_relaxed)) return;
  {
    std::lock_guard<std::mutex> guard(goro::pprof::cpu_profile_mutex);
    if (!goro::pprof::cpu_profile_from_env.load(std::memory_order_relaxed)) return;
  }
  try {
    goro::pprof::stop_cpu_profile();
  } catch (const goro::pprof::profile_error& error) {
    print_line().str("goro: GOROCPUPROFILE: ").str(error.what()).str("\n").flush();
  }
}

}  // namespace goro::rt::pprof
