#!/bin/sh
# memcheck.sh — the whole test suite under valgrind memcheck: every Check program of BUILD/tests,
# and every tests/apps/test_cli_*.sh with the scoresde binary run under valgrind. Fails unless
# valgrind reports zero errors and zero definitely/indirectly/possibly lost bytes everywhere
# ("still reachable" blocks, e.g. libgomp's and OpenBLAS's per-process buffers, are not leaks).
#
#   scripts/memcheck.sh BUILD_DIR [JOBS]     BUILD_DIR: a configured and built non-sanitized build
#   MEMCHECK_FILTER=REGEX scripts/memcheck.sh ...   only the tests whose path matches
#
# Logs: BUILD_DIR/memcheck/*.log (one per process), *.out (each test's output), summary.txt.
# Slow (valgrind runs code 20-50× slower): about two hours for the suite on two busy cores.
set -eu
abspath() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }
build=$(abspath "$1")
jobs=${2:-2}
src=$(cd "$(dirname "$0")/.." && pwd)
out="$build/memcheck"
rm -rf "$out"
mkdir -p "$out"
command -v valgrind > /dev/null || { echo "memcheck.sh: valgrind not found (apt-get install valgrind)" >&2; exit 1; }

vg="valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible"
vg="$vg --errors-for-leak-kinds=definite,indirect,possible --num-callers=30 --error-exitcode=99"
vg="$vg --suppressions=$src/scripts/valgrind.supp"
# The CLI scripts get this wrapper as their scoresde binary: every scoresde process is checked.
cat > "$out/scoresde" << EOF
#!/bin/sh
exec $vg --log-file=$out/scoresde.%p.log $build/apps/scoresde "\$@"
EOF
chmod +x "$out/scoresde"

# OMP_WAIT_POLICY set: scoresde then never re-executes itself to set it (apps/scoresde.c), which
# valgrind would not follow — the new image would run unchecked.
export CK_FORK=no OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=passive BAD_INPUTS_TIMEOUT=3600

# one line per test: "check PATH" or "cli SCRIPT"
list="$out/tests.txt"
find "$build/tests" -type f -perm -u+x -name '*_test_*' | sort | sed 's/^/check /' > "$list"
for s in "$src"/tests/apps/test_cli_*.sh; do echo "cli $s"; done >> "$list"
if [ -n "${MEMCHECK_FILTER:-}" ]; then # e.g. MEMCHECK_FILTER='ode|bad_inputs'
    grep -E "$MEMCHECK_FILTER" "$list" > "$list.tmp" || true
    mv "$list.tmp" "$list"
fi

export vg out src
# shellcheck disable=SC2016
xargs -n 2 -P "$jobs" sh -c '
    kind=$0 path=$1 name=$(basename "$1" .sh) start=$(date +%s) rc=0
    if [ "$kind" = check ]; then
        (cd "$(dirname "$path")" && $vg --log-file="$out/$name.%p.log" "./$name") > "$out/$name.out" 2>&1 || rc=$?
    else
        sh "$path" "$out/scoresde" "$src" > "$out/$name.out" 2>&1 || rc=$?
    fi
    echo "$name exit $rc $(($(date +%s) - start)) s" >> "$out/status.txt"' < "$list"

# ---- summary ----------------------------------------------------------------------------------------
summary="$out/summary.txt"
n_logs=$(ls "$out"/*.log 2> /dev/null | wc -l)
complete=$(grep -l "ERROR SUMMARY" "$out"/*.log 2> /dev/null | wc -l)
errors=$(grep -h "ERROR SUMMARY" "$out"/*.log | awk '{ s += $4 } END { print s + 0 }')
lost=$(grep -h -E "(definitely|indirectly|possibly) lost:" "$out"/*.log | awk '{ gsub(",", "", $4); s += $4 } END { print s + 0 }')
failed=$(awk '$3 != 0' "$out/status.txt" | wc -l)
{
    echo "memcheck: $(wc -l < "$list") tests, $n_logs processes checked ($complete ran to their end;"
    echo "the others were killed on purpose by the kill/interrupt tests, or are --version's probe of"
    echo "the BLAS kernel, a child valgrind does not follow)"
    echo "valgrind errors: $errors; bytes lost (definitely + indirectly + possibly): $lost"
    echo "tests that failed under valgrind: $failed"
    awk '$3 != 0 { print "  " $0 }' "$out/status.txt"
    echo "slowest:"
    sort -k4 -n -r "$out/status.txt" | head -5 | sed 's/^/  /'
} > "$summary"
cat "$summary"
[ "$errors" -eq 0 ] && [ "$lost" -eq 0 ] && [ "$failed" -eq 0 ]
