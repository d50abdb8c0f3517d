# Locate the static libbacktrace that GCC ships beside libstdc++ (Debian: gcc-12 package,
# /usr/lib/gcc/<triple>/12/libbacktrace.a). It is linked statically, so goro keeps no runtime
# dependency beyond libc, pthreads and the C++ standard library. Without it, tracebacks fall back
# to dladdr and print function names without file and line.
execute_process(
  COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libbacktrace.a
  OUTPUT_VARIABLE GORO_LIBBACKTRACE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT IS_ABSOLUTE "${GORO_LIBBACKTRACE}" OR NOT EXISTS "${GORO_LIBBACKTRACE}")
  # Clang does not search GCC's private directory; ask GCC.
  execute_process(
    COMMAND gcc -print-file-name=libbacktrace.a
    OUTPUT_VARIABLE GORO_LIBBACKTRACE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
if(IS_ABSOLUTE "${GORO_LIBBACKTRACE}" AND EXISTS "${GORO_LIBBACKTRACE}")
  message(STATUS "goro: symbolising with ${GORO_LIBBACKTRACE}")
  target_compile_definitions(goro PRIVATE GORO_HAVE_LIBBACKTRACE=1)
  target_link_libraries(goro PRIVATE ${GORO_LIBBACKTRACE})
  set(GORO_HAVE_LIBBACKTRACE ON)
else()
  message(STATUS "goro: libbacktrace not found; tracebacks will show function names only")
  set(GORO_HAVE_LIBBACKTRACE OFF)
endif()
