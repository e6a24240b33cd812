#!/bin/sh
# The sampler study of issue 18 on the 2-D mixture oracle (models/gmm2d.txt, exact score): every
# fast sampler at 10, 20, 35, 50 and 100 score evaluations per sample, beside PC at 1000 steps and
# dopri5, for VE, VP and sub-VP, measured by `scoresde compare` (flow error against the same
# latents' reference flow, SW2 and the cross-entropy gap with their error bars).
#
#   sh benchmarks/samplers/run.sh BUILD_DIR [NUM] [REPEATS]
#
# Builds nothing: BUILD_DIR/apps/scoresde must exist. Writes benchmarks/results/samplers_2d.csv
# (a process column, then compare's columns), samplers_2d.md (one table per process) and
# samplers_2d.png (VP's work-precision diagram), with samplers_2d_<process>_{work,xent}.png beside
# it. About 1–2 minutes on 2 cores with the defaults (NUM 2000, REPEATS 2).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$(cd "$1" && pwd)/apps/scoresde
num=${2:-2000}
repeats=${3:-2}
[ -x "$bin" ] || { echo "run.sh: no $bin (build first)" >&2; exit 2; }
out="$src/benchmarks/results"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$here/fast_list.sh"
list="pc:euler_maruyama@1000,ode:dopri5,$(fast_list "10 20 35 50 100")"

{
    echo "# Samplers on the 2-D mixture oracle (issue 18, item 4)"
    echo
    echo "\`sh benchmarks/samplers/run.sh BUILD $num $repeats\`: \`scoresde compare --model gmm:models/gmm2d.txt\`,"
    echo "$num samples per sampler, $repeats seeds, every fast sampler at 10, 20, 35, 50 and 100 NFE"
    echo "(the step count giving at most that many evaluations), PC (Euler–Maruyama) at 1000 steps and"
    echo "dopri5 (rtol = atol = 1e-5). Flow error: against rk45 at 1e-10 from the same latents."
    echo
} > "$tmp/md"
first=1
for sde in vp ve subvp; do
    echo "run.sh: $sde ..." >&2
    "$bin" compare --model "gmm:$src/models/gmm2d.txt" --sde "$sde" --num "$num" --repeats "$repeats" \
        --samplers "$list" --out "$tmp/$sde" --quiet > /dev/null
    if [ $first -eq 1 ]; then
        sed -n '1s/^/process,/p' "$tmp/$sde.csv" > "$tmp/csv"
        first=0
    fi
    sed -n "2,\$s/^/$sde,/p" "$tmp/$sde.csv" >> "$tmp/csv"
    { echo "## $sde"; echo; cat "$tmp/$sde.md"; echo; } >> "$tmp/md"
    cp "$tmp/${sde}_work.png" "$out/samplers_2d_${sde}_work.png"
    cp "$tmp/${sde}_xent.png" "$out/samplers_2d_${sde}_xent.png"
done
cp "$tmp/csv" "$out/samplers_2d.csv"
cp "$tmp/md" "$out/samplers_2d.md"
cp "$out/samplers_2d_vp_work.png" "$out/samplers_2d.png"
echo "wrote $out/samplers_2d.csv, samplers_2d.md, samplers_2d.png and samplers_2d_<process>_{work,xent}.png" >&2
