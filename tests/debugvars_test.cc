// Tests for GODEBUG, GOTRACEBACK and GOMAXPROCS parsing (src/runtime/boot/debugvars).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <set>
#include <string>
#include <string_view>

#include "runtime/boot/debugvars.h"

namespace rt = goro::rt;

// Counts operator new calls, to check that parsing the environment does not allocate.
static std::atomic<std::size_t> g_allocations{0};

// GCC flags free() on memory from operator new once both are inlined; here they pair up.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

rt::debug_vars parsed(const char* godebug, bool secure_mode = false) {
  rt::debug_vars vars;
  rt::reset_debug_vars(&vars);
  rt::parse_godebug(&vars, godebug, secure_mode);
  return vars;
}

const rt::debug_var* find(std::string_view name) {
  std::size_t count = 0;
  const rt::debug_var* table = rt::debug_var_table(&count);
  for (std::size_t i = 0; i < count; ++i) {
    if (name == table[i].name) return &table[i];
  }
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The table

TEST(DebugVarTable, ListsEveryKey) {
  const char* expected[] = {
      "inittrace",      "schedtrace",  "scheddetail",   "gctrace",
      "asyncpreemptoff", "madvdontneed", "containermaxprocs", "updatemaxprocs",
      "tracebackancestors", "goromigrate", "gorostacksize", "gorolongrun",
      "gorostackguard", "goroschedlatency", "gorotracebuf",
  };
  std::size_t count = 0;
  rt::debug_var_table(&count);
  EXPECT_EQ(count, std::size(expected));
  for (const char* name : expected) EXPECT_NE(find(name), nullptr) << "missing key " << name;
}

TEST(DebugVarTable, EntriesAreWellFormed) {
  std::size_t count = 0;
  const rt::debug_var* table = rt::debug_var_table(&count);
  std::set<std::string> names;
  for (std::size_t i = 0; i < count; ++i) {
    const rt::debug_var& var = table[i];
    std::string name = var.name;
    EXPECT_TRUE(names.insert(name).second) << "duplicate " << name;
    EXPECT_EQ(var.goro_only, name.rfind("goro", 0) == 0) << name;
    ASSERT_NE(var.doc, nullptr) << name;
    EXPECT_GT(std::string_view(var.doc).size(), 10u) << name;
    EXPECT_EQ(std::string_view(var.doc).find('\n'), std::string_view::npos) << name;
    EXPECT_NE(var.field32 == nullptr, var.field64 == nullptr) << name;
    EXPECT_LE(var.min_value, var.default_value) << name;
    EXPECT_GE(var.max_value, var.default_value) << name;
  }
}

TEST(DebugVars, DefaultsMatchGoAndGoro) {
  rt::debug_vars vars = parsed(nullptr);
  EXPECT_EQ(vars.inittrace, 0);
  EXPECT_EQ(vars.schedtrace, 0);
  EXPECT_EQ(vars.scheddetail, 0);
  EXPECT_EQ(vars.gctrace, 0);
  EXPECT_EQ(vars.asyncpreemptoff, 0);
  EXPECT_EQ(vars.madvdontneed, 1) << "Go's Linux default";
  EXPECT_EQ(vars.containermaxprocs, 1);
  EXPECT_EQ(vars.updatemaxprocs, 1);
  EXPECT_EQ(vars.tracebackancestors, 0);
  EXPECT_EQ(vars.goromigrate, 0);
  EXPECT_EQ(vars.gorostacksize, 256 * 1024);
  EXPECT_EQ(vars.gorolongrun, 0);
  EXPECT_EQ(vars.gorostackguard, 2);

  // The global starts at the same defaults without any call (constant initialisation);
  // GlobalOverload, the only test that changes it, restores it.
  EXPECT_EQ(rt::debug.gorostacksize, 256 * 1024);
  EXPECT_EQ(rt::debug.madvdontneed, 1);
  EXPECT_EQ(rt::debug.gorostackguard, 2);
  EXPECT_EQ(find("gorostacksize")->default_value, 256 * 1024);
}

TEST(DebugVars, ResetRestoresDefaults) {
  rt::debug_vars vars = parsed("gctrace=1,gorostacksize=1M,madvdontneed=0");
  ASSERT_EQ(vars.gctrace, 1);
  rt::reset_debug_vars(&vars);
  EXPECT_EQ(vars.gctrace, 0);
  EXPECT_EQ(vars.gorostacksize, 256 * 1024);
  EXPECT_EQ(vars.madvdontneed, 1);
}

// ---------------------------------------------------------------------------------------------
// GODEBUG

TEST(ParseGodebug, SetsGoKeys) {
  rt::debug_vars vars = parsed(
      "inittrace=1,schedtrace=1000,scheddetail=1,gctrace=2,asyncpreemptoff=1,madvdontneed=0,"
      "containermaxprocs=0,updatemaxprocs=0,tracebackancestors=5");
  EXPECT_EQ(vars.inittrace, 1);
  EXPECT_EQ(vars.schedtrace, 1000);
  EXPECT_EQ(vars.scheddetail, 1);
  EXPECT_EQ(vars.gctrace, 2);
  EXPECT_EQ(vars.asyncpreemptoff, 1);
  EXPECT_EQ(vars.madvdontneed, 0);
  EXPECT_EQ(vars.containermaxprocs, 0);
  EXPECT_EQ(vars.updatemaxprocs, 0);
  EXPECT_EQ(vars.tracebackancestors, 5);
}

TEST(ParseGodebug, LaterEntriesWin) {
  EXPECT_EQ(parsed("gctrace=1,gctrace=2").gctrace, 2);
  EXPECT_EQ(parsed("gctrace=2,inittrace=1,gctrace=0").gctrace, 0);
  EXPECT_EQ(parsed("gctrace=3,gctrace=bad").gctrace, 3) << "a bad later value keeps the earlier";
}

TEST(ParseGodebug, BadValuesAreIgnored) {
  const char* inputs[] = {
      "gctrace=",           "gctrace=x",        "gctrace=1x",         "gctrace= 1",
      "gctrace=+1",         "gctrace=2147483648", "gctrace=-2147483649", "gctrace=1.5",
  };
  for (const char* input : inputs) {
    EXPECT_EQ(parsed(input).gctrace, 0) << "GODEBUG=" << input;
  }
  EXPECT_EQ(parsed("gctrace=2147483647").gctrace, 2147483647);
  EXPECT_EQ(parsed("gctrace=-1").gctrace, -1) << "Go's atoi32 accepts negative values";
}

TEST(ParseGodebug, UnknownAndMalformedEntriesAreSkipped) {
  rt::debug_vars vars = parsed("http2debug=1,gctrace,=1,,foo=bar,schedtrace=10, inittrace=1,"
                               "GCTRACE=1,cpu.avx2=off,inittrace");
  EXPECT_EQ(vars.schedtrace, 10);
  EXPECT_EQ(vars.inittrace, 0) << "\" inittrace\" with a space is another key, as in Go";
  EXPECT_EQ(vars.gctrace, 0) << "names are case-sensitive";
}

TEST(ParseGodebug, EmptyAndNullChangeNothing) {
  rt::debug_vars vars = parsed("gctrace=4");
  rt::parse_godebug(&vars, nullptr, false);
  rt::parse_godebug(&vars, "", false);
  rt::parse_godebug(&vars, ",,,", false);
  EXPECT_EQ(vars.gctrace, 4);
}

TEST(ParseGodebug, GoroKeysAndRanges) {
  EXPECT_EQ(parsed("goromigrate=1").goromigrate, 1);
  EXPECT_EQ(parsed("goromigrate=2").goromigrate, 0) << "out of range";
  EXPECT_EQ(parsed("gorolongrun=15").gorolongrun, 15);
  EXPECT_EQ(parsed("gorolongrun=-1").gorolongrun, 0) << "negative";
  for (int guard = 0; guard <= 2; ++guard) {
    std::string input = "gorostackguard=" + std::to_string(guard);
    EXPECT_EQ(parsed(input.c_str()).gorostackguard, guard) << input;
  }
  EXPECT_EQ(parsed("gorostackguard=3").gorostackguard, 2) << "out of range";

  constexpr std::int64_t kTraceBufDefault = 64 << 20;
  EXPECT_EQ(parsed("").gorotracebuf, kTraceBufDefault);
  EXPECT_EQ(parsed("gorotracebuf=1G").gorotracebuf, std::int64_t{1} << 30);
  EXPECT_EQ(parsed("gorotracebuf=128K").gorotracebuf, 128 * 1024) << "one buffer, the minimum";
  EXPECT_EQ(parsed("gorotracebuf=64K").gorotracebuf, kTraceBufDefault) << "below one buffer";
  EXPECT_EQ(parsed("gorotracebuf=65G").gorotracebuf, kTraceBufDefault) << "above 64 GiB";
}

TEST(ParseGodebug, StackSizeSuffixes) {
  struct test_case {
    const char* input;
    std::int64_t expected;
  };
  constexpr std::int64_t kDefault = 256 * 1024;
  const test_case cases[] = {
      {"gorostacksize=65536", 65536},
      {"gorostacksize=65536B", 65536},
      {"gorostacksize=64K", 64 * 1024},
      {"gorostacksize=64KiB", 64 * 1024},
      {"gorostacksize=1M", 1024 * 1024},
      {"gorostacksize=8MiB", 8 * 1024 * 1024},
      {"gorostacksize=1G", 1024 * 1024 * 1024},
      {"gorostacksize=1GiB", 1024 * 1024 * 1024},
      {"gorostacksize=4K", 4096},                      // the minimum
      {"gorostacksize=2G", kDefault},                  // above the 1 GiB maximum
      {"gorostacksize=0", kDefault},                   // below the minimum
      {"gorostacksize=100", kDefault},                 // below the minimum
      {"gorostacksize=-1K", kDefault},                 // negative
      {"gorostacksize=K", kDefault},                   // no digits
      {"gorostacksize=1T", kDefault},                  // unknown suffix
      {"gorostacksize=1k", kDefault},                  // suffixes are case-sensitive
      {"gorostacksize=1KB", kDefault},                 // decimal-looking suffix
      {"gorostacksize=99999999999999999G", kDefault},  // overflows int64
      {"gorostacksize=1M,gorostacksize=bad", 1024 * 1024},
  };
  for (const test_case& c : cases) {
    EXPECT_EQ(parsed(c.input).gorostacksize, c.expected) << "GODEBUG=" << c.input;
  }
}

TEST(ParseGodebug, SecureModeDropsGoroKeys) {
  const char* input = "goromigrate=1,gorostacksize=1M,gorolongrun=5,gorostackguard=0,gctrace=1";
  rt::debug_vars secure = parsed(input, true);
  EXPECT_EQ(secure.goromigrate, 0);
  EXPECT_EQ(secure.gorostacksize, 256 * 1024);
  EXPECT_EQ(secure.gorolongrun, 0);
  EXPECT_EQ(secure.gorostackguard, 2);
  EXPECT_EQ(secure.gctrace, 1) << "Go's keys stay honoured in secure mode";

  rt::debug_vars normal = parsed(input, false);
  EXPECT_EQ(normal.goromigrate, 1);
  EXPECT_EQ(normal.gorostacksize, 1024 * 1024);
}

TEST(ParseGodebug, GlobalOverload) {
  rt::debug_vars saved = rt::debug;
  rt::parse_godebug("schedtrace=250,goromigrate=1", false);
  EXPECT_EQ(rt::debug.schedtrace, 250);
  EXPECT_EQ(rt::debug.goromigrate, 1);
  rt::debug = saved;
}

TEST(ParseGodebug, DoesNotAllocate) {
  rt::debug_vars vars;
  std::size_t before = g_allocations.load();
  rt::reset_debug_vars(&vars);
  rt::parse_godebug(&vars, "gctrace=1,gorostacksize=2MiB,unknown=3,schedtrace=x", false);
  rt::traceback_setting traceback = rt::parse_gotraceback("system");
  int procs = rt::parse_gomaxprocs_env("12");
  EXPECT_EQ(g_allocations.load(), before);
  EXPECT_EQ(vars.gorostacksize, 2 * 1024 * 1024);
  EXPECT_EQ(traceback.level, 2);
  EXPECT_EQ(procs, 12);
}

// ---------------------------------------------------------------------------------------------
// GOTRACEBACK

TEST(ParseGotraceback, GoTable) {
  struct test_case {
    const char* value;
    int level;
    bool all;
    bool crash;
  };
  const test_case cases[] = {
      {nullptr, 1, false, false},  // unset
      {"", 1, false, false},
      {"single", 1, false, false},
      {"none", 0, false, false},
      {"0", 0, true, false},  // Go's numeric branch always sets "all"
      {"all", 1, true, false},
      {"1", 1, true, false},
      {"system", 2, true, false},
      {"2", 2, true, false},
      {"crash", 2, true, true},
      {"5", 5, true, false},
      {"abc", 0, true, false},  // not a number: level 0
      {"-1", 0, true, false},   // negative: level 0
      {"wer", 0, true, false},  // Windows-only value; a plain word elsewhere
      {"4294967296", 0, true, false},
      {"ALL", 0, true, false},  // case-sensitive
  };
  for (const test_case& c : cases) {
    rt::traceback_setting t = rt::parse_gotraceback(c.value);
    const char* shown = c.value == nullptr ? "(unset)" : c.value;
    EXPECT_EQ(t.level, c.level) << "GOTRACEBACK=" << shown;
    EXPECT_EQ(t.all, c.all) << "GOTRACEBACK=" << shown;
    EXPECT_EQ(t.crash, c.crash) << "GOTRACEBACK=" << shown;
  }
}

TEST(ParseGotraceback, SecureModeForcesNone) {
  for (const char* value : {"crash", "system", "all", "2", "", static_cast<const char*>(nullptr)}) {
    rt::traceback_setting t = rt::parse_gotraceback(value, true);
    EXPECT_EQ(t.level, 0);
    EXPECT_FALSE(t.all);
    EXPECT_FALSE(t.crash);
  }
}

// ---------------------------------------------------------------------------------------------
// GOMAXPROCS

TEST(ParseGomaxprocsEnv, PositiveInt32Only) {
  struct test_case {
    const char* value;
    int expected;
  };
  const test_case cases[] = {
      {"4", 4},          {"1", 1},   {"2147483647", 2147483647},
      {"0", 0},          {"-1", 0},  {"abc", 0},
      {"99999999999", 0}, {"2147483648", 0}, {"", 0},
      {nullptr, 0},      {"+4", 0},  {" 4", 0},
      {"4 ", 0},         {"4x", 0},  {"0x10", 0},
  };
  for (const test_case& c : cases) {
    EXPECT_EQ(rt::parse_gomaxprocs_env(c.value), c.expected)
        << "GOMAXPROCS=" << (c.value == nullptr ? "(unset)" : c.value);
  }
}
