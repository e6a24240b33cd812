#!/bin/sh
# NCSN- and DDPM-trained networks (scoresde train --noise-levels) on models/gmm2d.txt sample with
# their native samplers (annealed Langevin dynamics; ancestral sampling on the model's own β_i) and
# with the continuous ones (PC, probability-flow ODE): the mode weights of 400 samples are within
# 0.1 of the mixture's 0.5 / 0.3 / 0.2 (4 standard errors of a weight near 0.5). Plus the sliced
# objectives' command line: a short ssm-vr run, esm refused for images, --noise-levels with sub-VP.
set -eu
bin=$1 src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
gmm="gmm:$src/models/gmm2d.txt"
q="--quiet --threads 1"
net="--hidden 48 --blocks 2 --lr 3e-3 --batch 256 --steps 2000"

# nearest-mode weights of a CSV of samples against (−4, 0) 0.5, (3, 3) 0.3, (3, −3) 0.2
check_modes() {
    awk -F, -v what="$2" 'NR > 1 {
        d1 = ($1 + 4)^2 + $2^2; d2 = ($1 - 3)^2 + ($2 - 3)^2; d3 = ($1 - 3)^2 + ($2 + 3)^2
        k = d1 < d2 ? (d1 < d3 ? 1 : 3) : (d2 < d3 ? 2 : 3); c[k]++; n++ }
        END { w[1] = 0.5; w[2] = 0.3; w[3] = 0.2; bad = 0
              for (k = 1; k <= 3; k++) { e = c[k] / n - w[k]; if (e < 0) e = -e; if (e > 0.1) bad = 1 }
              printf "%s: mode weights %.3f %.3f %.3f\n", what, c[1] / n, c[2] / n, c[3] / n
              exit bad }' "$1" || fail "$2: mode weights more than 0.1 from 0.5 0.3 0.2"
}

"$bin" train --data "$gmm" --sde ve --noise-levels 20 $net --out "$dir/ncsn.sgm" $q >/dev/null
"$bin" train --data "$gmm" --sde vp --noise-levels 100 $net --out "$dir/ddpm.sgm" $q >/dev/null
[ "$(head -c 8 "$dir/ncsn.sgm" | tail -c 4 | od -An -tu4 | tr -d ' ')" = 2 ] || fail "NCSN model not a version-2 file"

s="--num 400 --seed 3 $q"
"$bin" sample --model "$dir/ncsn.sgm" --sampler ald --steps-per-level 50 --step-lr 5e-5 --out "$dir/a.csv" $s >/dev/null
check_modes "$dir/a.csv" "NCSN, annealed Langevin"
"$bin" sample --model "$dir/ncsn.sgm" --N 200 --out "$dir/b.csv" $s >/dev/null
check_modes "$dir/b.csv" "NCSN, PC reverse diffusion + Langevin"
"$bin" sample --model "$dir/ncsn.sgm" --sampler ode --rtol 1e-3 --atol 1e-3 --out "$dir/c.csv" $s >/dev/null
check_modes "$dir/c.csv" "NCSN, probability-flow ODE"
"$bin" sample --model "$dir/ddpm.sgm" --predictor ancestral --corrector none --out "$dir/d.csv" $s > "$dir/d.txt"
grep -q "NFE *100.0" "$dir/d.txt" || fail "DDPM ancestral sampling did not take the model's 100 steps: $(cat "$dir/d.txt")"
check_modes "$dir/d.csv" "DDPM, ancestral"
"$bin" sample --model "$dir/ddpm.sgm" --predictor euler_maruyama --corrector none --N 200 --out "$dir/e.csv" $s >/dev/null
check_modes "$dir/e.csv" "DDPM, reverse SDE (Euler-Maruyama)"
"$bin" sample --model "$dir/ddpm.sgm" --sampler ode --rtol 1e-3 --atol 1e-3 --out "$dir/f.csv" $s >/dev/null
check_modes "$dir/f.csv" "DDPM, probability-flow ODE"

# the sliced objectives from the command line, and what is refused
"$bin" train --data "$gmm" --objective ssm-vr --projections 2 --projection gaussian --hidden 16 --blocks 1 \
    --steps 20 --batch 32 --out "$dir/s.sgm" $q > "$dir/s.txt"
grep -q "(ssm-vr)" "$dir/s.txt" || fail "ssm-vr run: $(cat "$dir/s.txt")"
set +e
"$bin" train --data fashion-mnist --objective esm --steps 1 --out "$dir/x.sgm" $q 2> "$dir/e1.txt"; rc1=$?
"$bin" train --data "$gmm" --sde subvp --noise-levels 10 --steps 1 --out "$dir/x.sgm" $q 2> "$dir/e2.txt"; rc2=$?
"$bin" train --data "$gmm" --objective sliced --steps 1 --out "$dir/x.sgm" $q 2> "$dir/e3.txt"; rc3=$?
"$bin" sample --model "$dir/ddpm.sgm" --sampler ald --num 1 --out "$dir/x.csv" $q 2> "$dir/e4.txt"; rc4=$?
set -e
[ $rc1 -eq 2 ] && grep -q "esm.*784 > 64" "$dir/e1.txt" || fail "esm on images: rc $rc1 $(cat "$dir/e1.txt")"
[ $rc2 -eq 2 ] && grep -q "noise-levels" "$dir/e2.txt" || fail "sub-VP discrete: rc $rc2 $(cat "$dir/e2.txt")"
[ $rc3 -eq 2 ] && grep -q "objective" "$dir/e3.txt" || fail "unknown objective: rc $rc3 $(cat "$dir/e3.txt")"
[ $rc4 -ne 0 ] && grep -qi "ve" "$dir/e4.txt" || fail "ald on a VP model: rc $rc4 $(cat "$dir/e4.txt")"
[ ! -e "$dir/x.sgm" ] && [ ! -e "$dir/x.csv" ] || fail "a refused command left an output file"
echo ok
