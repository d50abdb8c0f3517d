#!/usr/bin/env bash
# Checks that goro works as a dependency, the three ways docs/getting-started.md describes:
#   1. installed (cmake --install into a temporary prefix), then find_package(goro) from
#      examples/consumer;
#   2. installed, then pkg-config --cflags --libs goro with a plain compiler command;
#   3. built from source inside another project with FetchContent
#      (examples/consumer-fetchcontent).
# Each consumer program is run and must print its "ok:" line. Exits non-zero on the first
# failure. Everything is built under a temporary directory, removed at exit unless
# GORO_CHECK_KEEP=1.
#
#   examples/consumer/check.sh            # from the goro checkout
#   CXX=clang++ examples/consumer/check.sh
set -euo pipefail

source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/goro-consumer-check.XXXXXX")
cleanup() {
  if [[ "${GORO_CHECK_KEEP:-0}" == 1 ]]; then
    echo "check.sh: kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
cxx=${CXX:-c++}

step() { printf '\n== %s\n' "$*"; }

# Runs a consumer program and checks its exit status and its "ok:" line.
run_consumer() {
  local program=$1 output status=0
  output=$("$program" 2>&1) || status=$?
  if [[ $status != 0 ]]; then
    printf '%s\n' "$output"
    echo "check.sh: $program failed with exit status $status; its output is above" >&2
    return 1
  fi
  printf '%s\n' "$output"
  if ! grep -q '^ok: ' <<<"$output"; then
    echo "check.sh: $program printed no 'ok:' line" >&2
    return 1
  fi
}

step "build goro (Release) and install it into $work/prefix"
cmake -S "$source_dir" -B "$work/goro-build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$cxx" -DGORO_BUILD_TESTS=OFF -DGORO_BUILD_BENCH=OFF \
  -DGORO_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$work/goro-build"
cmake --install "$work/goro-build" --prefix "$work/prefix" >/dev/null

step "find_package consumer (examples/consumer)"
cmake -S "$source_dir/examples/consumer" -B "$work/consumer" "${generator[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer"
run_consumer "$work/consumer/goro-consumer"

step "pkg-config consumer"
libdir=$(dirname "$(find "$work/prefix" -name goro.pc -print -quit)")
export PKG_CONFIG_PATH="$libdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
read -r -a pc_flags <<<"$(pkg-config --cflags --libs goro)"
echo "pkg-config --cflags --libs goro: ${pc_flags[*]}"
"$cxx" -O2 -o "$work/goro-consumer-pc" "$source_dir/examples/consumer/main.cc" "${pc_flags[@]}"
run_consumer "$work/goro-consumer-pc"

step "FetchContent consumer (examples/consumer-fetchcontent)"
cmake -S "$source_dir/examples/consumer-fetchcontent" -B "$work/fetchcontent" "${generator[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release -DGORO_SOURCE_DIR="$source_dir" \
  >/dev/null
cmake --build "$work/fetchcontent"
run_consumer "$work/fetchcontent/goro-consumer-fetchcontent"

printf '\ncheck.sh: all consumers built and ran\n'
