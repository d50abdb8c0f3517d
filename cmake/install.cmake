# Installation: the static library, the public headers, a CMake package and a pkg-config file.
#
#   cmake --install build/release --prefix /opt/goro
#
# installs
#   <prefix>/lib/libgoro.a
#   <prefix>/include/goro/*.hpp
#   <prefix>/lib/cmake/goro/{goroConfig,goroConfigVersion,goroTargets*}.cmake
#   <prefix>/lib/pkgconfig/goro.pc
#
# so a consumer writes `find_package(goro CONFIG REQUIRED)` and links `goro::goro`, or uses
# `pkg-config --cflags --libs goro`.
#
# goro is a static library, so its private link dependencies travel with it: the exported
# target carries Threads::Threads, libdl and, when the build found it, GCC's libbacktrace.a
# by the absolute path recorded at build time (GORO_LIBBACKTRACE, from cmake/backtrace.cmake).
# That path belongs to the compiler that built goro (for example
# /usr/lib/gcc/x86_64-linux-gnu/12/libbacktrace.a on Debian 12), so an installed goro links
# on machines that have the same GCC package installed.

include(CMakePackageConfigHelpers)

set(GORO_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/goro)

install(TARGETS goro
  EXPORT goroTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/goro
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")

install(EXPORT goroTargets
  FILE goroTargets.cmake
  NAMESPACE goro::
  DESTINATION ${GORO_INSTALL_CMAKEDIR})

# goroConfig.cmake checks that the libbacktrace.a the exported target names still exists.
if(GORO_HAVE_LIBBACKTRACE)
  set(GORO_PACKAGE_LIBBACKTRACE "${GORO_LIBBACKTRACE}")
else()
  set(GORO_PACKAGE_LIBBACKTRACE "")
endif()
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/goroConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/goroConfig.cmake
  INSTALL_DESTINATION ${GORO_INSTALL_CMAKEDIR})

# goro is at 0.x: minor versions may break the API, so only the same minor version is
# compatible.
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/goroConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)

install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/goroConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/goroConfigVersion.cmake
  DESTINATION ${GORO_INSTALL_CMAKEDIR})

# pkg-config. Libs.private is not enough for a static-only library (plain `--libs` would
# leave libbacktrace and -pthread out), so every dependency goes into Libs.
set(GORO_PC_LIBS "-L\${libdir} -lgoro")
if(GORO_HAVE_LIBBACKTRACE)
  string(APPEND GORO_PC_LIBS " ${GORO_LIBBACKTRACE}")
endif()
string(APPEND GORO_PC_LIBS " -pthread")
foreach(lib ${CMAKE_DL_LIBS})
  string(APPEND GORO_PC_LIBS " -l${lib}")
endforeach()

# The .pc file states paths relative to ${prefix} where it can, so the installed tree may be
# moved as a whole.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(GORO_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(GORO_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(GORO_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(GORO_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

# The prefix is known only at install time (cmake --install --prefix), so configure_file
# fills in everything else and keeps the @GORO_PC_PREFIX@ token, which the install step
# replaces.
set(GORO_PC_PREFIX "@GORO_PC_PREFIX@")
configure_file(${CMAKE_CURRENT_LIST_DIR}/goro.pc.in ${CMAKE_CURRENT_BINARY_DIR}/goro.pc.in @ONLY)
install(CODE "
  set(goro_pc_prefix \"\${CMAKE_INSTALL_PREFIX}\")
  file(READ \"${CMAKE_CURRENT_BINARY_DIR}/goro.pc.in\" goro_pc_text)
  string(REPLACE \"@GORO_PC_PREFIX@\" \"\${goro_pc_prefix}\" goro_pc_text \"\${goro_pc_text}\")
  file(WRITE \"${CMAKE_CURRENT_BINARY_DIR}/goro.pc\" \"\${goro_pc_text}\")
")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/goro.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
