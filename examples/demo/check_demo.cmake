# ctest driver for goro-demo: runs it and fails unless it exits 0 and its output shows every
# section and the closing success line.
#   cmake -DDEMO=<path to goro-demo> -DLIMIT=<prime limit> -P check_demo.cmake
execute_process(
  COMMAND ${DEMO} --limit ${LIMIT}
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output
  RESULT_VARIABLE status
  TIMEOUT 100)
message("${output}")
if(NOT status STREQUAL "0")
  message(FATAL_ERROR "goro-demo exited with status '${status}'; expected 0 (output above)")
endif()
foreach(expected
    "== 1. The runtime"
    "== 2. Parallel work"
    "== 3. Sleeping"
    "== 4. A blocking call"
    "init runtime.osinit @"
    "SCHED [0-9]+ms: gomaxprocs="
    "every section produced the expected result")
  if(NOT output MATCHES "${expected}")
    message(FATAL_ERROR "goro-demo's output lacks a line matching '${expected}' (output above)")
  endif()
endforeach()
