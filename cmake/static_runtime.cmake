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

# Encoders that every program links, because GOROTRACE and GOROCPUPROFILE can start them,
# but that run once per trace or profile: optimised for size, they are about half as large
# (exectrace_json.cc 41 KB to 21 KB, profile_builder.cc 24 KB to 13 KB with GCC 12).
set_source_files_properties(
  ${PROJECT_SOURCE_DIR}/src/runtime/trace/exectrace_json.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/pprof/profile_builder.cc
  ${PROJECT_SOURCE_DIR}/src/runtime/pprof/api.cc
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
