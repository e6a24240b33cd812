#!/bin/sh
# Installs what is missing, builds everything with AddressSanitizer + UndefinedBehaviorSanitizer,
# and runs the whole test suite; then the bit-identity tests under each OpenBLAS kernel the CPU can
# execute (tests/kernels.sh); then the MPI tests (tests/mpi: mpirun -np 1..3 scoresde ...) on a
# second, non-sanitized build with Open MPI (ASan's leak checker and Open MPI's own allocations do
# not mix). Usage: scripts/test.sh [ctest options for the first suite]   (build trees: build-test/,
# build-test-mpi/; SCORESDE_TEST_MPI=0 skips the MPI part)
set -eu
cd "$(dirname "$0")/.."
if [ "${SCORESDE_TEST_MPI:-1}" = 0 ]; then scripts/setup.sh; else scripts/setup.sh --mpi; fi
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCORESDE_SANITIZE=ON >/dev/null
cmake --build build-test -j "$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-test --output-on-failure -j 2 "$@"
# identical bits for any thread count, under every OpenBLAS kernel this CPU can run (docs/reproducibility.md)
tests/kernels.sh build-test
[ "${SCORESDE_TEST_MPI:-1}" = 0 ] && exit 0
cmake -S . -B build-test-mpi -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCORESDE_MPI=ON -DSCORESDE_BENCHMARKS=OFF >/dev/null
cmake --build build-test-mpi -j "$(nproc)" --target scoresde mpi_compare_weights
ctest --test-dir build-test-mpi -L mpi --output-on-failure
