# Start-up cost of executables that link goro::goro: libstdc++ and libgcc are linked
# statically, and unused sections are dropped at link time.
#
# Why. With libstdc++.so, the dynamic loader relocates libstdc++ before main, and that is
# most of an empty goro program's start-up: 1.78 M instructions against 0.124 M for
# `int main() {}`, which never loads libstdc++.so (callgrind, GCC 12, Debian 12). Linked
# statically, with goro built with -ffunction-sections -fdata-sections and the program linked
# with --gc-sections, the same program runs in about 0.15 M instructions. See
# docs/benchmarks.md for the measured rows and docs/getting-started.md for what it costs.
#
# The options apply only to executables. A shared library that links goro::goro gets neither,
# because a shared library with its own libstdc++ copy would split the C++ runtime's state
# (exception handling, std::terminate handler, iostreams) within one process.
option(GORO_STATIC_LIBSTDCXX
  "Link libstdc++ and libgcc statically, with --gc-sections, into executables that link goro::goro"
  ON)

# goro's own code is always built in per-function sections, so a --gc-sections link (this
# option's or the user's) can drop what a program does not reach.
target_compile_options(goro PRIVATE -ffunction-sections -fdata-sections)

# Code that runs once per trace, profile, dump or report, never on a scheduling path, is
# optimised for size. Every program links most of it, because GOROTRACE, GOROCPUPROFILE,
# SIGQUIT and fatal errors can start it. With GCC 12, -Os halves the encoders
# (exectrace_json.cc 41 KB to 21 KB, profile_builder.cc 24 KB to 13 KB) and takes 4 KB off
# the rest of what the empty program links (dump_world.cc 1.3 KB, symbolize.cc 0.8 KB,
# freeze.cc 0.7 KB, print.cc 0.5 KB). metrics.cc, which the empty program does not link,
# shrinks from 23 KB to 8 KB.
#
# Left at -O2, because -Os costs more than it saves:
#   - start-up code that every run executes (boot.cc, procresize.cc, cpu_features.cc,
#     cgroup_cpu.cc, auxv.cc, sigquit.cc's handler setup). It runs slower under -Os, and
#     cpu_count.cc would call libm's ceil, which adds libm.so to the loader's work.
#   - cpu_profile.cc: each M registers with it when it starts, and -Os turns the runtime_lock
#     fast paths there into calls.
#   - contention.cc and unwind.cc: they record, with its stack, every sampled block and mutex
#     event while a profile runs.
#   - traceback.cc, overflow.cc, schedtrace.cc, debugvars.cc, checkdead.cc, panic.cc and
#     snapshot.cc, which come out larger under -Os.
#
# NOTE: an inline function from a header that both an -Os and an -O2 file emit out of line is
# kept once, from whichever object the linker reads first. In the link maps of bench/goro's
# programs, the only such copies taken from an -Os object are std::string members (from
# api.cc and profile_builder.cc). The scheduler's inline functions come from -O2 objects,
# because libgoro.a lists proc.cc before the -Os files that also emit them (dump_world.cc
# emits release_p_to_user). The callgrind counts of bench/goro did not move when these files
# changed level.
set_source_files_properties(
  ${PROJECT_SOURCE_DIR}/src/runtime/trace/exectrace_json.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/pprof/profile_builder.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/pprof/api.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/pprof/goroutine_profile.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/trace/dump_world.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/trace/symbolize.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/trace/print.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/trace/interrupted_stack.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/trace/syscall_stack.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/trace/output_sink.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/trace/metrics.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/sched/longrun.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/sched/freeze.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/os/checkfds.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/os/kernel_text.cc
  TARGET_DIRECTORY goro
  PROPERTIES COMPILE_OPTIONS "$<$<NOT:$<CONFIG:Debug>>:-Os>")

set(GORO_STATIC_LIBSTDCXX_IN_EFFECT OFF)
if(GORO_STATIC_LIBSTDCXX AND GORO_SANITIZE_FLAGS)
  # The sanitizer runtimes intercept functions of the shared libstdc++ (operator new,
  # __cxa_throw), and goro's sanitizer builds are tested only with it.
  message(STATUS "goro: GORO_STATIC_LIBSTDCXX is ignored in sanitizer builds")
elseif(GORO_STATIC_LIBSTDCXX)
  set(GORO_STATIC_LIBSTDCXX_IN_EFFECT ON)
  set(goro_startup_link_options -static-libstdc++ -static-libgcc LINKER:--gc-sections)

  # Packed relative relocations (DT_RELR): the loader applies the executable's several hundred
  # R_X86_64_RELATIVE relocations (vtables, function tables) in a few words, which saves
  # about 1 000 instructions and 16 KB of stripped size. Needs binutils 2.38 and glibc 2.36
  # or later, and the executable then requires glibc 2.36 at run time.
  # With --fatal-warnings, because a linker that does not know the option may only warn and
  # go on without it (lld 14 does), which would pass a plain check.
  include(CheckLinkerFlag)
  check_linker_flag(CXX "LINKER:--fatal-warnings,-z,pack-relative-relocs"
                    GORO_LINKER_HAS_PACK_RELATIVE_RELOCS)
  if(GORO_LINKER_HAS_PACK_RELATIVE_RELOCS)
    list(APPEND goro_startup_link_options LINKER:-z,pack-relative-relocs)
  endif()

  set(goro_is_executable "$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>")
  target_link_options(goro INTERFACE "$<${goro_is_executable}:${goro_startup_link_options}>")
  unset(goro_is_executable)
  unset(goro_startup_link_options)
endif()
