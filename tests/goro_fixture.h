// Helpers shared by the in-process test suites: running goro::run under a GODEBUG test
// parameter, naming the parameterised cases, and waiting by yielding with a time limit.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>

#include "child_process.h"
#include "goro/runtime.hpp"

namespace goro_test {

// Runs `main` under goro::run with GODEBUG and GOMAXPROCS set for the duration (a null or
// empty value unsets the variable). goro::run reads both when it starts.
template <class F>
int run_with_godebug(const char* godebug, const char* gomaxprocs, F&& main) {
  scoped_env godebug_env("GODEBUG", godebug);
  scoped_env procs_env("GOMAXPROCS", gomaxprocs);
  return goro::run(0, nullptr, std::forward<F>(main));
}

// The GODEBUG values each in-process suite runs under, and their case names.
inline const auto kGodebugValues = ::testing::Values("", "goromigrate=1");

struct godebug_param_name {
  std::string operator()(const ::testing::TestParamInfo<const char*>& info) const {
    return info.param[0] == '\0' ? "plain" : "migrate";
  }
};

// Yields until `done` returns true. Fails the test (and returns false) if that takes longer
// than `limit`, so a lost wakeup shows up as a failure instead of a hang.
template <class Done>
bool yield_until(Done done, std::chrono::seconds limit = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "condition not reached within " << limit.count() << " s";
      return false;
    }
    goro::yield();
  }
  return true;
}

}  // namespace goro_test
