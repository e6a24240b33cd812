#!/bin/sh
# Installs what is missing, builds everything with AddressSanitizer + UndefinedBehaviorSanitizer,
# and runs the whole test suite. Usage: scripts/test.sh  (build tree: build-test/)
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCORESDE_SANITIZE=ON >/dev/null
cmake --build build-test -j "$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-test --output-on-failure -j 2 "$@"
