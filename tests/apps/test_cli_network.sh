#!/bin/sh
# The subcommands on the shipped 2-D network model (models/gmm2d.sgm, trained on models/gmm2d.txt):
# files written, the held-out likelihood against the closed form, and bad input.
set -eu
bin=$1 src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
check=${3:-}
. "$src/tests/apps/png_ok.sh" # png_ok FILE W H
model="$src/models/gmm2d.sgm"
gmm="gmm:$src/models/gmm2d.txt"
q="--quiet --threads 1"

# sample (ODE, PC with few steps) and a PNG plot
"$bin" sample --model "$model" --sampler ode --rtol 1e-3 --atol 1e-3 --num 100 --out "$dir/s.csv" $q >/dev/null
[ "$(wc -l < "$dir/s.csv")" -eq 101 ] || fail "sample rows"
"$bin" sample --model "$model" --N 100 --num 100 --out "$dir/s.png" $q >/dev/null
[ "$(head -c 4 "$dir/s.png" | tail -c 3)" = "PNG" ] || fail "png"
png_ok "$dir/s.png" 900 700

# likelihood of held-out mixture samples (exact trace: d = 2) close to the closed form, far above the prior's
"$bin" sample --model "$gmm" --sde vp --sampler ode --num 40 --seed 9 --out "$dir/held.csv" $q >/dev/null
"$bin" likelihood --model "$model" --in "$dir/held.csv" --hutchinson exact --out "$dir/l.csv" $q > "$dir/l.txt"
"$bin" likelihood --model "$gmm" --sde vp --in "$dir/held.csv" --hutchinson exact --out "$dir/lx.csv" $q >/dev/null
paste -d, "$dir/l.csv" "$dir/lx.csv" | awk -F, 'NR > 1 { gap += $1 - $7; n++ }
    END { gap /= n; if (gap < 0) gap = -gap; if (gap > 0.25) { print "mean gap " gap; exit 1 } }' \
    || fail "network log-likelihood more than 0.25 nats from the closed form on average"
awk -F, 'NR > 1 { s += $1; n++ } END { if (s / n < -4.5) { print s / n; exit 1 } }' "$dir/l.csv" \
    || fail "network log-likelihood not better than the N(0, I) prior (about -5.3 nats here)"

# encode/decode round trip through the network's probability flow
"$bin" encode --model "$model" --in "$dir/held.csv" --num 10 --rtol 1e-6 --atol 1e-6 --out "$dir/z.csv" $q >/dev/null
"$bin" decode --model "$model" --in "$dir/z.csv" --rtol 1e-6 --atol 1e-6 --no-denoise --out "$dir/x.csv" $q >/dev/null
head -11 "$dir/held.csv" | paste -d, - "$dir/x.csv" | awk -F, 'NR > 1 { for (k = 1; k <= 2; k++) {
    e = $k - $(k + 2); if (e < 0) e = -e; if (e > 1e-3) bad++ } } END { exit bad > 0 }' || fail "round trip"

# batch composition: with a network a point alone and inside a batch of 16 sees its score to the
# BLAS's rounding only (another row count picks other kernels: sgemv alone), and each keeps its own
# steps; where the rounding flips an accept/reject decision the two solutions differ by the
# solver's error, which falls with the tolerance (rk45: about in proportion). So at rtol 1e-8 the
# point alone and in the batch agree to within 1/100 of what three decades of tolerance change
# (proportionality alone gives 1/1000). Measured (Haswell kernel): 1.3e-7 against 1.5e-6; a leak
# between the samples of a batch would not shrink with the tolerance.
"$bin" encode --model "$model" --in "$dir/held.csv" --num 16 --rtol 1e-5 --atol 1e-5 --out "$dir/zb.csv" $q >/dev/null
"$bin" encode --model "$model" --in "$dir/held.csv" --num 16 --rtol 1e-8 --atol 1e-8 --out "$dir/zt.csv" $q >/dev/null
head -1 "$dir/held.csv" > "$dir/one.csv"
sed -n 7p "$dir/held.csv" >> "$dir/one.csv"
"$bin" encode --model "$model" --in "$dir/one.csv" --rtol 1e-8 --atol 1e-8 --out "$dir/z1.csv" $q >/dev/null
sed -n 7p "$dir/zb.csv" > "$dir/zb6.csv"
sed -n 7p "$dir/zt.csv" > "$dir/zt6.csv"
sed -n 2p "$dir/z1.csv" | paste -d, - "$dir/zt6.csv" "$dir/zb6.csv" | awk -F, '{
    for (k = 1; k <= 2; k++) {
        a = $k - $(k + 2); if (a < 0) a = -a; if (a > batch) batch = a
        t = $(k + 2) - $(k + 4); if (t < 0) t = -t; if (t > tol) tol = t } }
    END { if (!(batch <= tol / 100)) { print "alone vs batch at 1e-8: " batch ", tolerance 1e-5 vs 1e-8: " tol; exit 1 } }' \
    || fail "a point encoded alone differs from it in a batch by more than 1/100 of what the tolerance changes"

# progress inside one batch: a single batch of 8 moves the bar (one line per 10% off a terminal)
# through fractions of its 8 samples, and a likelihood batch likewise
"$bin" sample --model "$model" --num 8 --N 200 --out "$dir/p.csv" --threads 1 2> "$dir/p.txt" >/dev/null
[ "$(grep -c '^sample: [0-9]*% (' "$dir/p.txt")" -eq 10 ] || fail "sample progress: $(head -3 "$dir/p.txt")"
grep -q '^sample: [0-9]*% (3\.[0-9]/8' "$dir/p.txt" || fail "no progress inside the batch: $(head -5 "$dir/p.txt")"
"$bin" likelihood --model "$model" --in "$dir/held.csv" --num 8 --out "$dir/pl.csv" --threads 1 2> "$dir/pl.txt" >/dev/null
grep -q '^likelihood: [0-9]*% ([0-9]\.[0-9]/8' "$dir/pl.txt" || fail "no likelihood progress inside the batch: $(head -5 "$dir/pl.txt")"

# interpolate, inpaint, compare against the mixture it was trained on
"$bin" interpolate --model "$model" --in "$dir/held.csv" --points 5 --rtol 1e-3 --atol 1e-3 --out "$dir/i.csv" $q >/dev/null
[ "$(wc -l < "$dir/i.csv")" -eq 6 ] || fail "interpolate rows"
"$bin" inpaint --model "$model" --in "$dir/held.csv" --num 10 --mask 0,1 --N 100 --out "$dir/ip.csv" $q >/dev/null
"$bin" compare --model "$model" --reference "$gmm" --samplers "pc:euler_maruyama@100,ode:heun@20" --num 100 \
    --out "$dir/cmp" $q >/dev/null
awk -F, 'NR > 1 && ($5 == "nan" || $5 > 0.2) { bad++ } END { exit bad > 0 }' "$dir/cmp.csv" || fail "compare mode weights"

# a network for another data shape, a corrupt file
printf 'x0,x1,x2\n1,2,3\n' > "$dir/d3.csv"
set +e
"$bin" likelihood --model "$model" --in "$dir/d3.csv" > /dev/null 2> "$dir/err.txt"; rc1=$?
head -c 1000 "$model" > "$dir/trunc.sgm"
"$bin" sample --model "$dir/trunc.sgm" --out "$dir/bad.csv" > /dev/null 2> "$dir/err2.txt"; rc2=$?
"$bin" sample --model "$model" --sde ve --out "$dir/bad.csv" > /dev/null 2> "$dir/err3.txt"; rc3=$?
set -e
[ $rc1 -eq 1 ] && grep -q "dimension 2" "$dir/err.txt" || fail "wrong-shape data: $(cat "$dir/err.txt")"
[ $rc2 -eq 1 ] && grep -q "trunc.sgm" "$dir/err2.txt" || fail "truncated model: $(cat "$dir/err2.txt")"
[ $rc3 -eq 1 ] && grep -q "trained for vp" "$dir/err3.txt" || fail "--sde mismatch: $(cat "$dir/err3.txt")"
[ ! -e "$dir/bad.csv" ] || fail "a failed command left an output file"
echo ok
