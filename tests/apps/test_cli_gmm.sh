#!/bin/sh
# The model-using subcommands end to end on the Gaussian-mixture oracle: the files they write,
# their numbers against closed forms, and the exit codes of bad input.
set -eu
bin=$1 src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
check=${3:-}
. "$src/tests/apps/png_ok.sh" # png_ok FILE W H
gmm="gmm:$src/models/gmm2d.txt"
q="--quiet"

# sample: CSV, .npy and PNG
"$bin" sample --model "$gmm" --sde vp --sampler ode --num 300 --seed 1 --out "$dir/s.csv" $q >/dev/null
[ "$(head -1 "$dir/s.csv")" = "x0,x1" ] || fail "sample header"
[ "$(wc -l < "$dir/s.csv")" -eq 301 ] || fail "sample rows"
"$bin" sample --model "$gmm" --sde ve --num 64 --out "$dir/s.npy" $q >/dev/null
[ "$(head -c 6 "$dir/s.npy" | tail -c 5)" = "NUMPY" ] || fail "npy magic"
"$bin" sample --model "$gmm" --sde subvp --sampler sde --sde-solver sra1 --steps 200 --num 200 --out "$dir/s.png" $q >/dev/null
[ "$(head -c 4 "$dir/s.png" | tail -c 3)" = "PNG" ] || fail "png signature"
[ "$(wc -c < "$dir/s.png")" -gt 5000 ] || fail "png too small"
png_ok "$dir/s.png" 900 700

# batch split does not change samples (PC sampler, noise keyed by sample index)
"$bin" sample --model "$gmm" --sde vp --num 10 --batch 10 --seed 4 --out "$dir/a.csv" $q >/dev/null
"$bin" sample --model "$gmm" --sde vp --num 10 --batch 3 --seed 4 --out "$dir/b.csv" $q >/dev/null
cmp -s "$dir/a.csv" "$dir/b.csv" || fail "batch split changed the samples"

# likelihood with the exact trace equals the closed form (beta_max 40: p_T matches the prior)
"$bin" likelihood --model "$gmm" --sde vp --beta-max 40 --in "$dir/s.csv" --num 50 --hutchinson exact \
    --rtol 1e-6 --atol 1e-6 --out "$dir/l.csv" $q > "$dir/l.txt"
[ "$(head -1 "$dir/l.csv")" = "logp,bpd,nfe,exact_logp" ] || fail "likelihood header"
awk -F, 'NR > 1 { e = $1 - $4; if (e < 0) e = -e; if (e > m) m = e }
         END { if (m > 0.01) { print "largest error " m; exit 1 } }' "$dir/l.csv" || fail "likelihood error > 0.01 nats"
grep -q "bits/dim" "$dir/l.txt" || fail "likelihood summary"

# encode then decode returns the input
"$bin" encode --model "$gmm" --sde vp --in "$dir/s.csv" --num 20 --rtol 1e-7 --atol 1e-7 --out "$dir/z.csv" $q >/dev/null
"$bin" decode --model "$gmm" --sde vp --in "$dir/z.csv" --rtol 1e-7 --atol 1e-7 --no-denoise --out "$dir/x.csv" $q >/dev/null
head -21 "$dir/s.csv" > "$dir/s20.csv"
paste -d, "$dir/s20.csv" "$dir/x.csv" | awk -F, 'NR > 1 { for (k = 1; k <= 2; k++) { e = $k - $(k + 2);
    if (e < 0) e = -e; s = $k < 0 ? -$k : $k; if (e > 1e-4 * (s + 1)) bad++ } } END { exit bad > 0 }' \
    || fail "encode/decode round trip"
# encode --round-trip reports the same largest relative error as the two commands above
"$bin" encode --model "$gmm" --sde vp --in "$dir/s.csv" --num 20 --rtol 1e-7 --atol 1e-7 --out "$dir/z2.csv" \
    --round-trip $q > "$dir/rt.txt"
reported=$(sed -n 's/^round trip:.*largest \([^;]*\);.*/\1/p' "$dir/rt.txt")
measured=$(paste -d, "$dir/s20.csv" "$dir/x.csv" | awk -F, 'NR > 1 { m = 0; e = 0
    for (k = 1; k <= 2; k++) { a = $k < 0 ? -$k : $k; if (a > m) m = a; b = $k - $(k + 2); if (b < 0) b = -b; if (b > e) e = b }
    if (e / m > w) w = e / m } END { printf "%.6g", w }')
awk -v r="$reported" -v m="$measured" 'BEGIN { exit !(r > 0 && r < 1e-4 && r < 1.5 * m && m < 1.5 * r) }' \
    || fail "encode --round-trip: reported $reported, measured $measured"
cmp -s "$dir/z.csv" "$dir/z2.csv" || fail "encode --round-trip changed the latents"

# interpolate and inpaint
"$bin" interpolate --model "$gmm" --sde vp --in "$dir/s.csv" --points 7 --out "$dir/i.csv" $q >/dev/null
[ "$(wc -l < "$dir/i.csv")" -eq 8 ] || fail "interpolate rows"
"$bin" inpaint --model "$gmm" --sde vp --in "$dir/s.csv" --num 30 --mask 1,0 --out "$dir/ip.csv" $q >/dev/null
paste -d, "$dir/s.csv" "$dir/ip.csv" | awk -F, 'NR > 1 && NR <= 31 { e = $1 - $3; if (e < 0) e = -e; if (e > 1e-9) bad++ }
    END { exit bad > 0 }' || fail "inpaint changed a known coordinate"

# compare writes its three reports
"$bin" compare --model "$gmm" --sde vp --samplers "pc:euler_maruyama@200,ode:heun@20" --num 100 --out "$dir/cmp" $q >/dev/null
head -1 "$dir/cmp.csv" | grep -q "^sampler,nfe,seconds,energy_distance,mode_weight_error," || fail "compare csv"
[ "$(wc -l < "$dir/cmp.csv")" -eq 3 ] || fail "compare rows"
grep -q "| sampler |" "$dir/cmp.md" || fail "compare markdown"
[ -s "$dir/cmp.png" ] || fail "compare png"
png_ok "$dir/cmp.png" 900 700
png_ok "$dir/cmp_time.png" 900 700

# class guidance: every sample lands in the asked component (component 2 has mean (3, -3))
"$bin" sample --model "$gmm" --sde vp --class 2 --num 100 --out "$dir/g.csv" $q >/dev/null
awk -F, 'NR > 1 && !($1 > 0 && $2 < -0.5) { bad++ } END { exit bad > 0 }' "$dir/g.csv" || fail "guided samples outside component 2"

# bad input: message, exit status, nothing written
expect() {
    want=$1; shift
    set +e
    "$@" > /dev/null 2> "$dir/err.txt"
    rc=$?
    set -e
    [ $rc -eq "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$dir/err.txt")"
}
printf 'x0,x1,x2\n1,2,3\n' > "$dir/d3.csv"
expect 1 "$bin" likelihood --model "$gmm" --in "$dir/d3.csv" --out "$dir/bad.csv"
grep -q "dimension 2" "$dir/err.txt" || fail "wrong dimension message: $(cat "$dir/err.txt")"
printf 'x0,x1\n1,nan\n' > "$dir/nan.csv"
expect 1 "$bin" likelihood --model "$gmm" --in "$dir/nan.csv" --out "$dir/bad.csv"
grep -q "nan.csv:2" "$dir/err.txt" || fail "NaN message: $(cat "$dir/err.txt")"
: > "$dir/empty.csv"
# decode with a fast sampler: 40 steps of DPM-Solver++(3M) land near the exact flow (a tight rk45)
# from the same latents — measured max 0.19 over 64 points, most far below; 20 NFE reported
"$bin" sample --model "$gmm" --sde vp --sampler pc --num 64 --seed 5 --out "$dir/fp.csv" --quiet >/dev/null
"$bin" encode --model "$gmm" --sde vp --in "$dir/fp.csv" --out "$dir/fz.csv" --quiet >/dev/null
"$bin" decode --model "$gmm" --sde vp --in "$dir/fz.csv" --out "$dir/fx.csv" --ode-solver dpmpp-3m --steps 40 \
    --no-denoise > "$dir/fast.txt"
grep -q "with dpmpp-3m (40 steps, logsnr schedule): NFE 40.0 per point" "$dir/fast.txt" || fail "fast decode summary: $(cat "$dir/fast.txt")"
"$bin" decode --model "$gmm" --sde vp --in "$dir/fz.csv" --out "$dir/fr.csv" --rtol 1e-8 --atol 1e-8 --no-denoise \
    --quiet >/dev/null
paste -d, "$dir/fx.csv" "$dir/fr.csv" | awk -F, 'NR > 1 { for (k = 1; k <= 2; k++) { e = $k - $(k + 2);
    s += e * e; n++ } } END { if (!(sqrt(s / n) < 0.05)) { print "rms " sqrt(s / n); exit 1 } }' ||
    fail "fast decode more than 0.05 (RMS) from the exact flow"
expect 2 "$bin" encode --model "$gmm" --sde vp --in "$dir/fp.csv" --out "$dir/bad.csv" --ode-solver ddim
expect 1 "$bin" encode --model "$gmm" --in "$dir/empty.csv" --out "$dir/bad.csv"
grep -q "empty" "$dir/err.txt" || fail "empty-file message"
printf '2 1\n1 0 0 1\n' > "$dir/bad.gmm"
expect 1 "$bin" sample --model "gmm:$dir/bad.gmm" --out "$dir/bad.csv"
grep -q "bad.gmm:2" "$dir/err.txt" || fail "bad gmm message: $(cat "$dir/err.txt")"
expect 1 "$bin" sample --model "$dir/nosuch.sgm" --out "$dir/bad.csv"
expect 2 "$bin" sample --model "$gmm" --rtol -1 --out "$dir/bad.csv"
expect 2 "$bin" sample --model "$gmm" --num 0 --out "$dir/bad.csv"
expect 2 "$bin" sample --model "$gmm" --sampler nosuch --out "$dir/bad.csv"
expect 2 "$bin" inpaint --model "$gmm" --in "$dir/s.csv" --mask 1,0,1 --out "$dir/bad.csv"
expect 2 "$bin" sample --model "$gmm" --class 7 --out "$dir/bad.csv"
expect 2 "$bin" compare --model "$gmm" --samplers "ode:rk99" --out "$dir/bad"
[ ! -e "$dir/bad.csv" ] || fail "a failed command left an output file"
ls "$dir" | grep -q "tmp\." && fail "a temporary file was left behind"
echo ok
