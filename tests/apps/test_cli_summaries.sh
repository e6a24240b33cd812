#!/bin/sh
# The summaries say what happened: the step count of fixed-step solvers (not tolerances), the
# method name the user asked for, the units of the adaptive counters, how far an interrupted
# adaptive solve had come, which losses train reports, and each default that was applied (the
# process of a gmm: model, the output file and its format). Also the output files: W(t) at every
# saved time of solve --save-every, and .npy outputs that keep float64 input as float64.
# Args: <scoresde binary> <source dir> [png_check].
set -eu
abspath() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }
bin=$(abspath "$1") src=$(abspath "$2")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }
gmm="gmm:$src/models/gmm2d.txt"
q="--quiet"

# ---- solve ---------------------------------------------------------------------------------------
"$bin" solve --sde gbm --method sri2 --steps 64 --paths 100 > s.txt
grep -q '^method  *sri2 (another name for sriw1)$' s.txt || fail "solve --method sri2: $(grep method s.txt)"
grep -q '^steps  *64 of h = 0.015625, the same for every path$' s.txt || fail "fixed steps: $(grep steps s.txt)"
grep -q '^evals  *128 drift, 256 diffusion: batched calls, each on all 100 paths$' s.txt ||
    fail "fixed evals: $(grep evals s.txt)"
"$bin" solve --sde double-well --method adaptive --paths 50 > a.txt
grep -q '^method  *adaptive: sra1 with error control per path, rtol 0.001, atol 0.001$' a.txt ||
    fail "adaptive method line: $(grep method a.txt)"
grep -q '^steps  *[0-9]* accepted, [0-9]* rejected, summed over the 50 paths ([0-9.]* accepted per path' a.txt ||
    fail "adaptive steps line: $(grep steps a.txt)"
grep -q '^evals  *[0-9]* drift, [0-9]* diffusion: batched calls, each on every path due at that time$' a.txt ||
    fail "adaptive evals line: $(grep evals a.txt)"

# an interrupted adaptive solve says how far its paths had come (not t = t0)
"$bin" solve --sde gbm --method adaptive --rtol 1e-7 --atol 1e-7 --paths 20000 --t1 50 > /dev/null 2> int.err &
pid=$!
sleep 2
kill -INT "$pid" 2> /dev/null || fail "the adaptive solve finished within 2 s"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || fail "interrupted solve exited $rc: $(cat int.err)"
far=$(sed -n 's/.*had reached at most t = \([0-9.e+-]*\) .*/\1/p' int.err)
[ -n "$far" ] || fail "interrupted adaptive solve: $(cat int.err)"
awk -v t="$far" 'BEGIN { exit !(t > 0 && t < 50) }' || fail "interrupted at t = $far, expected within (0, 50)"

# --save-every: W(t) - W(t0) at every saved time, the same Brownian path the solver used: with
# SRIW1 at 64 steps the exact GBM solution on that W matches X(t) at every saved time
"$bin" solve --sde gbm --param mu=0.1 --param sigma=0.3 --method sri2 --steps 64 --paths 200 --seed 7 \
    --save-every 8 --out every.csv > /dev/null
[ "$(head -1 every.csv)" = "path,x0,w0,t" ] || fail "--save-every header"
[ "$(wc -l < every.csv)" -eq $((9 * 200 + 1)) ] || fail "--save-every 8 of 64 steps: expected 9 times × 200 paths"
awk -F, 'NR > 1 && $3 == "" { bad++ } END { exit bad > 0 }' every.csv || fail "--save-every left w empty"
awk -F, 'NR > 1 { e = $2 - exp((0.1 - 0.045) * $4 + 0.3 * $3); if (e < 0) e = -e; if (e > m) m = e }
         END { if (m > 1e-3) { print "largest strong error " m; exit 1 } }' every.csv ||
    fail "W(t) at the saved times is not the path the solver used"
awk -F, 'NR > 1 && $4 == 0 && $3 != 0 { bad++ } END { exit bad > 0 }' every.csv || fail "W(t0) is not 0"
"$bin" solve --sde gbm --param mu=0.1 --param sigma=0.3 --method sri2 --steps 64 --paths 200 --seed 7 \
    --out final.csv > /dev/null
awk -F, 'NR > 1 && $4 == 1 { print $1 "," $2 "," $3 }' every.csv > t1.csv
tail -n +2 final.csv | cmp -s - t1.csv || fail "the t1 rows of --save-every differ from a run without it"

# ---- model commands: the defaults applied, the solver's steps, the output format ------------------
"$bin" sample --model "$gmm" --num 20 --out a.txt $q > s1.txt
grep -q '^model  *gmm:.*(vp, beta 0.1..20, d = 2; no --sde given: vp for gmm: models)$' s1.txt ||
    fail "gmm model without --sde: $(grep model s1.txt)"
grep -q '^samples  *20 -> a.txt (CSV: the extension is not .csv or .npy)$' s1.txt || fail "a.txt: $(grep samples s1.txt)"
"$bin" sample --model "$gmm" --sde ve --num 20 $q > s2.txt
grep -q '^samples  *20 -> samples.csv (CSV; no --out given)$' s2.txt || fail "no --out: $(grep samples s2.txt)"
[ "$(wc -l < samples.csv)" -eq 21 ] || fail "no --out: samples.csv not written"
grep -q '^model  *gmm:.*(ve, sigma 0.01..50, d = 2)$' s2.txt || fail "--sde given: $(grep model s2.txt)"
grep -q '^sampler  *pc:reverse_diffusion+langevin, 1000 steps$' s2.txt || fail "pc sampler: $(grep sampler s2.txt)"
"$bin" sample --model "$gmm" --sde vp --sampler ode --ode-solver euler --steps 30 --num 20 --out e.csv $q > s3.txt
grep -q '^sampler  *ode:euler, 30 fixed steps$' s3.txt || fail "fixed-step ODE sampler: $(grep sampler s3.txt)"
"$bin" sample --model "$gmm" --sde vp --sampler ode --num 20 --out r.npy $q > s4.txt
grep -q '^sampler  *ode:rk45, adaptive steps: rtol 1e-05, atol 1e-05$' s4.txt || fail "adaptive ODE sampler: $(grep sampler s4.txt)"
grep -q '^samples  *20 -> r.npy (.npy float32)$' s4.txt || fail ".npy: $(grep samples s4.txt)"
"$bin" encode --model "$gmm" --sde vp --in e.csv --ode-solver euler --out z.csv $q > e.txt
grep -q '^encoded 20 points with euler (100 fixed steps): ' e.txt || fail "encode with euler: $(cat e.txt)"
"$bin" likelihood --model "$gmm" --in e.csv --ode-solver heun --steps 40 --hutchinson exact $q > l.txt
grep -q 'ODE heun (40 fixed steps)' l.txt || fail "likelihood with heun: $(cat l.txt)"
grep -q '^model .*no --sde given: vp for gmm: models' l.txt || fail "likelihood model line: $(cat l.txt)"
"$bin" inpaint --model "$gmm" --sde vp --in e.csv --mask 1,0 --sampler ode --ode-solver rk4 --steps 10 --out ip.csv $q > ip.txt
grep -q 'with ode:rk4, 10 fixed steps (NFE' ip.txt || fail "inpaint with rk4: $(cat ip.txt)"

# .npy keeps float64: a float64 input gives float64 latents and points unless --dtype says otherwise
npy_dtype() { head -c 128 "$1" | LC_ALL=C tr -cd '[:print:]' | LC_ALL=C sed -n "s/.*'descr': '\\([<>a-z0-9]*\\)'.*/\\1/p"; }
"$bin" sample --model "$gmm" --sde vp --num 10 --dtype float64 --out x64.npy $q > /dev/null
[ "$(npy_dtype x64.npy)" = "<f8" ] || fail "sample --dtype float64 wrote $(npy_dtype x64.npy)"
[ "$(wc -c < x64.npy)" -eq $((128 + 10 * 2 * 8)) ] || fail "x64.npy size $(wc -c < x64.npy)"
"$bin" encode --model "$gmm" --sde vp --in x64.npy --out z64.npy $q > z.txt
[ "$(npy_dtype z64.npy)" = "<f8" ] || fail "encode of a float64 .npy wrote $(npy_dtype z64.npy)"
grep -q -- '-> z64.npy (.npy float64)' z.txt || fail "encode summary: $(cat z.txt)"
"$bin" decode --model "$gmm" --sde vp --in z64.npy --dtype float32 --out x32.npy $q > /dev/null
[ "$(npy_dtype x32.npy)" = "<f4" ] || fail "decode --dtype float32 wrote $(npy_dtype x32.npy)"
"$bin" decode --model "$gmm" --sde vp --in z.csv --out xc.npy $q > /dev/null
[ "$(npy_dtype xc.npy)" = "<f4" ] || fail "decode of a CSV wrote $(npy_dtype xc.npy)"
"$bin" decode --model "$gmm" --sde vp --in z64.npy --out back.csv --rtol 1e-8 --atol 1e-8 --no-denoise $q > /dev/null
"$bin" sample --model "$gmm" --sde vp --num 10 --dtype float64 --out x64.csv $q > /dev/null
paste -d, x64.csv back.csv | awk -F, 'NR > 1 { for (k = 1; k <= 2; k++) { e = $k - $(k + 2); if (e < 0) e = -e;
    if (e > 1e-4) bad++ } } END { exit bad > 0 }' || fail "float64 round trip through .npy"

# ---- train: which losses the summary reports ------------------------------------------------------
"$bin" train --data moons --steps 120 --batch 32 --hidden 32 --blocks 1 --log-every 50 --log log.csv \
    --out m.sgm $q > t.txt
last=$(tail -1 log.csv | cut -d, -f3) # loss_avg of the last logged interval, steps 101..120
grep -q "^trained mlp vp (dsm) on moons: steps 0..120, loss [0-9.]* -> [0-9.]*, [0-9.]* s -> m.sgm$" t.txt ||
    fail "train summary: $(cat t.txt)"
awk -v l="$last" '/^loss / { if ($2 + 0 <= 0 || index($0, "at step 1 (one batch)") == 0) exit 1;
    if (index($0, "mean of steps 101..120") == 0) exit 1; split($0, a, "-> "); split(a[2], b, " ");
    if ((b[1] - l) ^ 2 > 1e-9) exit 1; ok = 1 } END { exit !ok }' t.txt ||
    fail "train loss line (last logged mean $last): $(grep '^loss' t.txt)"
grep -q '^files  *m.sgm, checkpoint m.sgm.ckpt (no --checkpoint given: OUT.ckpt), log log.csv$' t.txt ||
    fail "train files line: $(grep files t.txt)"
grep -q '^process  *vp (no --sde given)$' t.txt || fail "train without --sde: $(cat t.txt)"
[ -s m.sgm.ckpt ] || fail "the default checkpoint m.sgm.ckpt was not written"
echo ok
