#!/bin/sh
# scoresde compare --resume: PREFIX.runs.csv keeps every run as its sampler finishes, and the same
# command with --resume reads the samplers it holds instead of running them again —
#  (a) a full run of three samplers gives the reference PREFIX.csv;
#  (b) two samplers, then all three with --resume: the first two come from the runs file (stderr),
#      and PREFIX.csv equals the reference in every column but seconds and seconds_se;
#  (c) --resume with another --num fails (exit 1) naming the file and num, and leaves it as it was;
#  (d) a line cut short fails (exit 1) naming the file and the line; without --resume the file is
#      simply written again;
#  (e) the runs file holds the identity line, the header and repeats × samplers runs.
# Args: <scoresde binary> <source dir> [png_check].
set -eu
bin=$1 src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
gmm="gmm:$src/models/gmm2d.txt"
all="ode:ddim@10,ode:dpmpp-2m@10,pc:euler_maruyama@50"
compare() { "$bin" compare --model "$gmm" --sde vp --repeats 2 "$@"; }
mkdir "$dir/ref" "$dir/res"

# (a) the reference
compare --num 300 --samplers "$all" --out "$dir/ref/c" --quiet > /dev/null

# (b) two samplers, then all three from where they stopped
compare --num 300 --samplers "ode:ddim@10,ode:dpmpp-2m@10" --out "$dir/res/c" --quiet > /dev/null
compare --num 300 --samplers "$all" --out "$dir/res/c" --resume > /dev/null 2> "$dir/err.txt"
runs="$dir/res/c.runs.csv"
for s in ode:ddim@10 ode:dpmpp-2m@10; do
    grep -qF "compare: $s (from $runs)" "$dir/err.txt" || fail "$s not read from the runs file: $(cat "$dir/err.txt")"
done
grep -qF "compare: pc:euler_maruyama@50 (seed" "$dir/err.txt" || fail "pc:euler_maruyama@50 not run: $(cat "$dir/err.txt")"
# without_times CSV: the columns but seconds and seconds_se, picked by their header names
without_times() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) keep[i] = $i != "seconds" && $i != "seconds_se" }
                           { line = $1; for (i = 2; i <= NF; i++) if (keep[i]) line = line "," $i; print line }' "$1"; }
without_times "$dir/ref/c.csv" > "$dir/ref.txt"
without_times "$dir/res/c.csv" > "$dir/res.txt"
[ "$(head -1 "$dir/ref/c.csv")" = "$(head -1 "$dir/res/c.csv")" ] || fail "CSV header: $(head -1 "$dir/res/c.csv")"
head -1 "$dir/ref.txt" | grep -q '^sampler,nfe,energy_distance,' || fail "columns kept: $(head -1 "$dir/ref.txt")"
[ "$(wc -l < "$dir/ref.txt")" -eq 4 ] || fail "reference rows: $(cat "$dir/ref/c.csv")"
cmp -s "$dir/ref.txt" "$dir/res.txt" || fail "the resumed CSV differs: $(diff "$dir/ref.txt" "$dir/res.txt")"

# (e) the runs file: identity, header, 2 repeats × 3 samplers
head -1 "$runs" | grep -q "^# scoresde compare runs: model=$gmm sde=vp .*num=300 .*repeats=2 " ||
    fail "identity line: $(head -1 "$runs")"
sed -n 2p "$runs" | grep -q '^sampler,repeat,nfe,seconds,' || fail "runs header: $(sed -n 2p "$runs")"
awk -F, 'NR > 2 { n++; if (NF != 23) bad = 1; seen[$1 "/" $2] = 1 }
         END { exit bad || n != 6 || !(("ode:ddim@10/0" in seen) && ("ode:dpmpp-2m@10/1" in seen) &&
                                       ("pc:euler_maruyama@50/1" in seen)) }' "$runs" ||
    fail "runs lines: $(cat "$runs")"

# (c) another comparison's runs: exit 1, the file and the field named, nothing written
expect1() { rc=0; compare "$@" > /dev/null 2> "$dir/err.txt" || rc=$?; [ $rc -eq 1 ] || fail "$* exited $rc"; }
cp "$runs" "$dir/runs.before"
expect1 --num 200 --samplers "$all" --out "$dir/res/c" --resume
grep -qF "$runs" "$dir/err.txt" && grep -q 'num=300.*num=200' "$dir/err.txt" || fail "--num 200: $(cat "$dir/err.txt")"
cmp -s "$runs" "$dir/runs.before" || fail "--num 200 changed the runs file"

# (d) a line cut short: exit 1 naming the file and the line; without --resume it is written anew
mkdir "$dir/bad"
awk 'NR == 4 { print substr($0, 1, length($0) / 2); next } { print }' "$runs" > "$dir/bad/c.runs.csv"
expect1 --num 300 --samplers "$all" --out "$dir/bad/c" --resume
grep -qF "$dir/bad/c.runs.csv line 4" "$dir/err.txt" || fail "cut line: $(cat "$dir/err.txt")"
compare --num 300 --samplers ode:ddim@10 --out "$dir/bad/c" --quiet > /dev/null
[ "$(wc -l < "$dir/bad/c.runs.csv")" -eq 4 ] || fail "not written anew: $(cat "$dir/bad/c.runs.csv")"
echo ok
