#!/bin/sh
# SIGINT during `scoresde sample` and `scoresde likelihood` stops cleanly: exit 130, "interrupted",
# and with a CSV --out the completed batches are kept — the very rows an uninterrupted run gives for
# them (sample i depends on (seed, i) only; each point's likelihood on that point only). A .npy
# --out (whose header promised every row) is not written at all. No temporary file is left.
# Args: <scoresde binary> <source dir>.
set -eu
abspath() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }
bin=$(abspath "$1") src=$(abspath "$2")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }
gmm="gmm:$src/models/gmm2d.txt"

# run_and_interrupt ERRFILE CMD...: runs scoresde CMD in the background, sends SIGINT once its
# progress shows a completed batch, and leaves the exit status in $rc
run_and_interrupt() {
    err=$1
    shift
    "$bin" "$@" > /dev/null 2> "$err" &
    pid=$!
    n=0
    until grep -q '([1-9][0-9]*/' "$err" 2> /dev/null; do
        n=$((n + 1))
        [ "$n" -lt 6000 ] || fail "$1: no batch completed in 60 s: $(cat "$err")"
        kill -0 "$pid" 2> /dev/null || fail "$1: finished before it could be interrupted: $(cat "$err")"
        sleep 0.01
    done
    kill -INT "$pid"
    rc=0
    wait "$pid" || rc=$?
}
no_temporaries() {
    [ "$(ls | grep -c '\.tmp\.')" -eq 0 ] || fail "$1: a temporary file was left: $(ls)"
}

# ---- sample: 20 batches of 50, each ~0.4 s (PC with N = 20000) -----------------------------------
sample_args="--model $gmm --batch 50 --N 20000 --seed 3 --threads 1"
for ext in csv npy; do
    # shellcheck disable=SC2086
    run_and_interrupt "sample_$ext.err" sample $sample_args --num 1000 --out "s.$ext"
    [ "$rc" -eq 130 ] || fail "sample --out s.$ext: exit $rc after SIGINT (expected 130): $(cat "sample_$ext.err")"
    grep -q "scoresde sample: interrupted" "sample_$ext.err" || fail "sample --out s.$ext: $(cat "sample_$ext.err")"
    no_temporaries "sample --out s.$ext"
done
[ ! -e s.npy ] || fail "sample: an interrupted run wrote its .npy output"
kept=$(sed -n 's/.*the \([0-9]*\) completed samples are in s.csv.*/\1/p' sample_csv.err)
[ -n "$kept" ] || fail "sample: no completed samples reported: $(cat sample_csv.err)"
[ $((kept % 50)) -eq 0 ] && [ "$kept" -lt 1000 ] || fail "sample: $kept samples kept (whole batches of 50, fewer than 1000)"
[ "$(wc -l < s.csv)" -eq $((kept + 1)) ] || fail "sample: s.csv has $(wc -l < s.csv) lines for $kept samples"
# shellcheck disable=SC2086
"$bin" sample $sample_args --num "$kept" --quiet --out whole.csv > /dev/null
cmp -s s.csv whole.csv || fail "sample: the kept rows differ from an uninterrupted run of $kept samples"
echo "interrupt: sample kept $kept of 1000 samples, identical to an uninterrupted run; .npy not written"

# ---- likelihood: 40 batches of 50 points at rtol 1e-11 with the exact trace -----------------------
"$bin" sample --model "$gmm" --num 2000 --N 100 --seed 5 --quiet --out pts.csv > /dev/null
like_args="--model $gmm --in pts.csv --batch 50 --hutchinson exact --rtol 1e-11 --atol 1e-11 --threads 1"
# shellcheck disable=SC2086
run_and_interrupt like.err likelihood $like_args --out l.csv
[ "$rc" -eq 130 ] || fail "likelihood: exit $rc after SIGINT (expected 130): $(cat like.err)"
grep -q "scoresde likelihood: interrupted" like.err || fail "likelihood: $(cat like.err)"
no_temporaries likelihood
kept=$(sed -n 's/.*the \([0-9]*\) completed points are in l.csv.*/\1/p' like.err)
[ -n "$kept" ] || fail "likelihood: no completed points reported: $(cat like.err)"
[ $((kept % 50)) -eq 0 ] && [ "$kept" -lt 2000 ] || fail "likelihood: $kept points kept"
[ "$(wc -l < l.csv)" -eq $((kept + 1)) ] || fail "likelihood: l.csv has $(wc -l < l.csv) lines for $kept points"
# shellcheck disable=SC2086
"$bin" likelihood $like_args --num "$kept" --quiet --out whole_l.csv > /dev/null
cmp -s l.csv whole_l.csv || fail "likelihood: the kept rows differ from an uninterrupted run of $kept points"
echo "interrupt: likelihood kept $kept of 2000 points, identical to an uninterrupted run"
