#!/bin/sh
# scoresde solve end to end: the CSV it writes, the strong error its w columns let anyone check,
# and the exit codes of bad input.
set -eu
bin=$1 src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
check=${3:-}
. "$src/tests/apps/png_ok.sh" # png_ok FILE W H

# 1. GBM with SRIW1: header, one row per path, and X(T) against the exact solution on the same W.
"$bin" solve --sde gbm --param mu=0.1 --param sigma=0.3 --method sri2 --steps 64 --paths 500 \
    --seed 7 --out "$dir/gbm.csv" > "$dir/summary.txt"
[ "$(head -1 "$dir/gbm.csv")" = "path,x0,w0" ] || fail "gbm header: $(head -1 "$dir/gbm.csv")"
[ "$(wc -l < "$dir/gbm.csv")" -eq 501 ] || fail "gbm: expected 500 rows"
awk -F, 'NR > 1 { exact = exp((0.1 - 0.045) + 0.3 * $3); e = $2 - exact; if (e < 0) e = -e;
          if (e > max) max = e } END { if (max > 1e-3) { print "max strong error " max; exit 1 } }' \
    "$dir/gbm.csv" || fail "gbm strong error too large for SRIW1 at 64 steps"
grep -q "exact mean" "$dir/summary.txt" || fail "summary lacks the exact mean column"

# Progress on stderr in steps (a line per percent off a terminal), none with --quiet; adaptive
# solves count percent of the span.
"$bin" solve --sde gbm --method em --steps 50 --paths 100 > /dev/null 2> "$dir/progress.txt"
grep -q '^solve: 100% (50/50' "$dir/progress.txt" || fail "solve progress: $(tail -1 "$dir/progress.txt")"
"$bin" solve --sde gbm --method adaptive --paths 100 > /dev/null 2> "$dir/progress.txt"
grep -q '^solve: 100% (100/100' "$dir/progress.txt" || fail "adaptive progress: $(tail -1 "$dir/progress.txt")"
"$bin" solve --sde gbm --method em --steps 50 --paths 100 --quiet > /dev/null 2> "$dir/progress.txt"
[ ! -s "$dir/progress.txt" ] || fail "--quiet: $(head -1 "$dir/progress.txt")"

# 2. Same seed, different thread counts: identical files.
"$bin" solve --sde ou --method sra1 --steps 100 --paths 300 --seed 3 --threads 1 --out "$dir/a.csv" >/dev/null
"$bin" solve --sde ou --method sra1 --steps 100 --paths 300 --seed 3 --threads 2 --out "$dir/b.csv" >/dev/null
cmp -s "$dir/a.csv" "$dir/b.csv" || fail "thread count changed the result"

# 3. --save-every: rows at t0, every K steps and t1, with a trailing t column.
"$bin" solve --sde lorenz --method sra3 --steps 40 --paths 2 --save-every 10 --out "$dir/l.csv" >/dev/null
[ "$(head -1 "$dir/l.csv")" = "path,x0,x1,x2,w0,w1,w2,t" ] || fail "lorenz header: $(head -1 "$dir/l.csv")"
[ "$(wc -l < "$dir/l.csv")" -eq 11 ] || fail "lorenz --save-every 10 of 40 steps: expected 10 rows + header"

# 3b. --plot: the terminal histogram and the paths, as PNG files
"$bin" solve --sde gbm --method em --steps 64 --paths 2000 --save-every 8 --plot "$dir/g" >/dev/null
for f in g_hist g_paths; do
    [ "$(head -c 4 "$dir/$f.png" | tail -c 3)" = "PNG" ] || fail "--plot did not write $f.png"
    png_ok "$dir/$f.png" 900 700
done

# 4. Adaptive runs and reports its steps.
"$bin" solve --sde double-well --method adaptive --rtol 1e-3 --atol 1e-3 --paths 50 > "$dir/ad.txt"
grep -q "adaptive" "$dir/ad.txt" || fail "adaptive summary"

# 5. Bad input: exit status 2, a message naming the option, no output file.
expect_usage() {
    set +e
    "$bin" solve "$@" --out "$dir/bad.csv" > /dev/null 2> "$dir/err.txt"
    rc=$?
    set -e
    [ $rc -eq 2 ] || fail "'$*' exited $rc, expected 2"
    [ ! -e "$dir/bad.csv" ] || fail "'$*' left an output file"
}
expect_usage --method rk99
expect_usage --sde nosuch
expect_usage --steps -5
expect_usage --steps 0
expect_usage --steps abc
expect_usage --t0 1 --t1 0
expect_usage --x0 1,2
expect_usage --sde gbm --method sra1
expect_usage --param nosuch=1
expect_usage --param mu
expect_usage --rtol 0 --method adaptive
expect_usage --unknown-option
grep -q -- "--unknown-option" "$dir/err.txt" || fail "message does not name the unknown option"

# 6. A file that cannot be written: exit 1, a message naming it.
set +e
"$bin" solve --paths 10 --out /nonexistent-dir/x.csv > /dev/null 2> "$dir/err.txt"
rc=$?
set -e
[ $rc -eq 1 ] || fail "unwritable --out exited $rc"
grep -q "/nonexistent-dir/x.csv" "$dir/err.txt" || fail "message does not name the file"
echo "ok"
