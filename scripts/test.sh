#!/bin/sh
# Configure, build and run every test (unit and end-to-end) with CTest.
#   scripts/test.sh [--setup] [BUILD_DIR] [extra cmake args...]
#   --setup   install the Debian packages first (scripts/install-deps.sh; needs root or sudo)
# Set DRKIT_TEST_ARGS for extra ctest arguments (e.g. "-L unit" or "-R e2e/crash").
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--setup" ]; then
    shift
    scripts/install-deps.sh
fi
dir=${1:-build}
[ $# -gt 0 ] && shift
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
cd "$dir"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# shellcheck disable=SC2086
ctest --output-on-failure -j 2 ${DRKIT_TEST_ARGS:-}
