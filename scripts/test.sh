#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: unit tests and end-to-end tests with a
# real jobmand and real podman containers. As root (the tests create users).
#   JOBMAN_SANITIZE=1 scripts/test.sh   same, built with ASan+UBSan in build-asan/
#   JOBMAN_CTEST_EXCLUDE=REGEX scripts/test.sh   leave out the tests whose names match
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${JOBMAN_SANITIZE:-0}" = 1 ]; then
  build_dir=build-asan
  CMAKE_BUILD_TYPE=Debug scripts/setup.sh "$build_dir" -DJOBMAN_ENABLE_SANITIZERS=ON
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
  build_dir=build
  scripts/setup.sh "$build_dir"
fi
# JOBMAN_CTEST_EXCLUDE: a ctest -E regex of tests to leave out (CI's ASan pass: see scripts/ci.sh).
# -j: the unit tests run side by side; every end-to-end, packaging and bench test is
# RUN_SERIAL (it alone uses the machine: its timings stay those of an idle one).
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" ${JOBMAN_CTEST_EXCLUDE:+-E "$JOBMAN_CTEST_EXCLUDE"}
