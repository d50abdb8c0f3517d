# Locate the static libbacktrace that GCC ships beside libstdc++ (Debian: gcc-12 package,
# /usr/lib/gcc/<triple>/12/libbacktrace.a). It is linked statically, so goro keeps no runtime
# dependency beyond libc, pthreads and the C++ standard library. Without it, tracebacks fall back
# to dladdr, which names exported functions only, and show no file and line.
#
# GCC 12's archive is position-independent (PC-relative and GOT relocations only), so it links
# into PIE executables and shared libraries, with GCC and with Clang.
option(GORO_USE_LIBBACKTRACE "Symbolise tracebacks with GCC's libbacktrace when it is found" ON)

set(GORO_LIBBACKTRACE "")
if(GORO_USE_LIBBACKTRACE)
  execute_process(
    COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libbacktrace.a
    OUTPUT_VARIABLE GORO_LIBBACKTRACE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT IS_ABSOLUTE "${GORO_LIBBACKTRACE}" OR NOT EXISTS "${GORO_LIBBACKTRACE}")
    # Clang does not search GCC's private directory; ask GCC.
    execute_process(
      COMMAND gcc -print-file-name=libbacktrace.a
      OUTPUT_VARIABLE GORO_LIBBACKTRACE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
endif()
if(IS_ABSOLUTE "${GORO_LIBBACKTRACE}" AND EXISTS "${GORO_LIBBACKTRACE}")
  message(STATUS "goro: symbolising with ${GORO_LIBBACKTRACE}")
  target_compile_definitions(goro PRIVATE GORO_HAVE_LIBBACKTRACE=1)
  # NOTE: goro is a static library, so this path reaches every consumer's link line, the
  # installed package's exported targets included. A consumer on a machine without this GCC
  # installation cannot link the installed goro as it stands.
  target_link_libraries(goro PRIVATE ${GORO_LIBBACKTRACE})
  set(GORO_HAVE_LIBBACKTRACE ON)
else()
  if(GORO_USE_LIBBACKTRACE)
    message(STATUS "goro: libbacktrace not found; tracebacks will name exported functions only")
  endif()
  set(GORO_HAVE_LIBBACKTRACE OFF)
endif()
