#!/bin/sh
# scoresde --version: the version, the BLAS and the kernel in use; with OPENBLAS_CORETYPE set, the
# forced kernel and the one this CPU would get without it. And the OpenMP wait-policy exec at start
# (apps/scoresde.c) runs once and leaves a user's setting alone.
set -eu
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. Without OPENBLAS_CORETYPE: "BLAS: <config>; kernel <name>", nothing about forcing.
env -u OPENBLAS_CORETYPE "$bin" --version > "$dir/plain.txt"
head -1 "$dir/plain.txt" | grep -q '^scoresde [0-9]' || fail "no version line: $(cat "$dir/plain.txt")"
grep -q '^BLAS: .*; kernel [A-Za-z0-9_]*$' "$dir/plain.txt" || fail "no BLAS line naming the kernel: $(cat "$dir/plain.txt")"
own=$(sed -n 's/^BLAS: .*; kernel \([A-Za-z0-9_]*\)$/\1/p' "$dir/plain.txt")
[ "$(env -u OPENBLAS_CORETYPE "$bin" --blas-kernel)" = "$own" ] || fail "--blas-kernel disagrees with --version ($own)"
if "$bin" --help | grep -q -- --blas-kernel; then fail "--help lists the hidden --blas-kernel"; fi

# 2. OPENBLAS_CORETYPE=Sandybridge: Sandybridge in use, forced, and this CPU's own choice named
#    (the kernel of step 1 — unless $bin runs under valgrind, whose CPU differs from the one the
#    probe runs on natively), or said to be the same.
OPENBLAS_CORETYPE=Sandybridge "$bin" --version > "$dir/forced.txt"
grep -q '; kernel Sandybridge (forced by OPENBLAS_CORETYPE' "$dir/forced.txt" ||
    fail "Sandybridge not reported as the forced kernel in use: $(cat "$dir/forced.txt")"
grep -q "this CPU's own choice would be [A-Za-z0-9_]* — unset the variable\|Sandybridge is also this CPU's own choice" "$dir/forced.txt" ||
    fail "this CPU's own choice not named: $(cat "$dir/forced.txt")"
case "$bin" in
*memcheck*) ;;
*) if [ "$own" = Sandybridge ]; then
       grep -q "Sandybridge is also this CPU's own choice" "$dir/forced.txt" || fail "own choice: $(cat "$dir/forced.txt")"
   else
       grep -q "this CPU's own choice would be $own " "$dir/forced.txt" ||
           fail "this CPU's own choice ($own) not named: $(cat "$dir/forced.txt")"
   fi ;;
esac

# 3. A name OpenBLAS does not know is reported as not applied.
OPENBLAS_CORETYPE=NoSuchKernel "$bin" --version > "$dir/bogus.txt" 2> /dev/null
grep -q "kernel $own (OPENBLAS_CORETYPE=NoSuchKernel was not applied" "$dir/bogus.txt" ||
    fail "unknown kernel name: $(cat "$dir/bogus.txt")"

# 4. The wait-policy exec: with neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT set the program
#    re-executes itself once (a loop would hang here) and then behaves as usual; set, it is kept.
env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$bin" sample --help > "$dir/help.txt" || fail "sample --help after the exec"
grep -q -- '--threads' "$dir/help.txt" || fail "sample --help after the exec printed no options"
env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$bin" solve --steps 8 --paths 10 > /dev/null || fail "solve without OMP_WAIT_POLICY"
OMP_WAIT_POLICY=active "$bin" sample --help > /dev/null || fail "sample --help with OMP_WAIT_POLICY=active"
echo "ok: $(tail -1 "$dir/forced.txt")"
