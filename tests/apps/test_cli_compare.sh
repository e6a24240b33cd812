#!/bin/sh
# scoresde compare on the 2-D mixture oracle (VP): the CSV keeps its first columns and adds the
# measures with error bars, and the numbers mean what they say —
#  - SW2 is >= 0 and inside its own interval (lo <= value <= hi), for every sampler;
#  - the flow error against the reference flow of the same latents ranks the samplers by order:
#    dpmpp-3m at 40 steps and dpm-solver-3 at 40 NFE are 10x better than DDIM at 10, dopri5
#    (rtol 1e-5) better than 1e-3;
#  - PC at 1000 steps has a cross-entropy gap within 4 SE of 0 (its samples are nearly exact),
#    DDIM at 10 steps one more than 4 SE away;
#  - stochastic samplers have no flow error (nan), and the .md says so; no other value is nan;
#  - --repeats 2 gives means with standard errors; bad values of the new options exit 2.
# Args: <scoresde binary> <source dir> [png_check].
set -eu
bin=$1 src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
check=${3:-}
. "$src/tests/apps/png_ok.sh" # png_ok FILE W H
gmm="gmm:$src/models/gmm2d.txt"
q="--quiet"

"$bin" compare --model "$gmm" --sde vp --num 2000 --seed 3 --out "$dir/c" $q \
    --samplers "pc:euler_maruyama@1000,ode:ddim@10,ode:dpmpp-3m@40,ode:dpm-solver-3@14,ode:dopri5,sde:dpmpp-2m-sde@20" \
    > "$dir/out.txt"
csv="$dir/c.csv"
head -1 "$csv" | grep -q '^sampler,nfe,seconds,energy_distance,mode_weight_error,' || fail "old columns not first: $(head -1 "$csv")"
[ "$(wc -l < "$csv")" -eq 7 ] || fail "compare rows: $(wc -l < "$csv")"
# col VALUE-NAME SAMPLER: the value of a column (by header name) for one sampler
col() { awk -F, -v name="$1" -v s="$2" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $1 == s { print $(c[name]) }' "$csv"; }
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
         { v = $(c["sw2"]); lo = $(c["sw2_lo"]); hi = $(c["sw2_hi"])
           if (v == "nan" || !(v >= 0 && lo <= v && v <= hi)) { print "SW2 of " $1 ": " v " [" lo ", " hi "]"; bad = 1 }
           if ($(c["xent_gap"]) == "nan" || $(c["xent_gap_se"]) == "nan") { print "gap of " $1 " is nan"; bad = 1 } }
         END { exit bad }' "$csv" || fail "SW2 or the gap"
ddim=$(col flow_rms ode:ddim@10) m3=$(col flow_rms ode:dpmpp-3m@40) s3=$(col flow_rms ode:dpm-solver-3@14)
dopri=$(col flow_rms ode:dopri5)
awk -v d="$ddim" -v a="$m3" -v b="$s3" -v r="$dopri" 'BEGIN { exit !(a < d / 10 && b < d / 10 && r < 1e-3 && d > 0) }' ||
    fail "flow errors: ddim@10 $ddim, dpmpp-3m@40 $m3, dpm-solver-3@14 $s3, dopri5 $dopri"
for s in pc:euler_maruyama@1000 sde:dpmpp-2m-sde@20; do
    [ "$(col flow_rms $s)" = nan ] || fail "$s has a flow error"
    grep -q "No flow error.*$s" "$dir/c.md" || fail "the .md does not say $s has no flow error"
done
gap=$(col xent_gap pc:euler_maruyama@1000) se=$(col xent_gap_se pc:euler_maruyama@1000)
awk -v g="$gap" -v s="$se" 'BEGIN { exit !(g < 4 * s && g > -4 * s) }' || fail "PC 1000: gap $gap ± $se"
gap=$(col xent_gap ode:ddim@10) se=$(col xent_gap_se ode:ddim@10)
awk -v g="$gap" -v s="$se" 'BEGIN { exit !(g > 4 * s) }' || fail "DDIM 10: gap $gap ± $se"
grep -q '^| sampler | NFE |' "$dir/c.md" || fail "markdown table"
! grep -q 'nan' "$dir/c.md" || fail "the .md shows nan (missing values are '-')"
for f in c c_time c_xent; do png_ok "$dir/$f.png" 900 700; done
png_ok "$dir/c_work.png" 1440 700

# repeats: means with standard errors, the repeats column
"$bin" compare --model "$gmm" --sde ve --num 300 --repeats 2 --out "$dir/r" $q \
    --samplers "ode:edm-heun@10,sde:edm-churn@10" > /dev/null
awk -F, 'NR > 1 && !($6 == 2 && $7 != "nan" && $14 != "nan") { bad = 1 } END { exit bad }' "$dir/r.csv" ||
    fail "repeats: $(cat "$dir/r.csv")"
grep -q 'Means over 2 seeds' "$dir/r.md" || fail "repeats: the .md does not say so"

# bad values of the options compare added: usage errors naming the option
expect2() { rc=0; "$bin" "$@" > /dev/null 2> "$dir/err.txt" || rc=$?; [ $rc -eq 2 ] || fail "$* exited $rc"; }
expect2 compare --model "$gmm" --repeats 0
grep -q -- '--repeats: 0 is out of range' "$dir/err.txt" || fail "repeats 0: $(cat "$dir/err.txt")"
expect2 compare --model "$gmm" --flow-tol 0
grep -q -- '--flow-tol' "$dir/err.txt" || fail "flow-tol 0: $(cat "$dir/err.txt")"
expect2 compare --model "$gmm" --num 1
grep -q -- '--num: 1' "$dir/err.txt" || fail "num 1: $(cat "$dir/err.txt")"
echo ok
