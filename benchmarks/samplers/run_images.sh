#!/bin/sh
# The sampler study of issue 18 on the default image model (models/fashion_mnist.sgm): every fast
# sampler at 10, 20, 35, 50 and 100 score evaluations per sample, beside PC at 1000 steps and
# dopri5, measured by `scoresde compare` (Fréchet distance of the shipped classifier's features to
# the test set, bootstrap standard error, and the floor of as many training images).
#
#   sh benchmarks/samplers/run_images.sh BUILD_DIR [NUM] [BUDGETS]
#
# Builds nothing: BUILD_DIR/apps/scoresde must exist. NUM samples per sampler (default 1000);
# BUDGETS the NFE columns (default "10 20 35 50 100"; a run with fewer columns is taken up by a
# later run with more, which adds only the missing samplers).
# About 75 minutes on 2 idle cores: the comparison keeps every finished sampler in
# BUILD_DIR/samplers_images/cmp.runs.csv, so running the script again after an interruption goes
# on where it stopped (compare --resume). Writes benchmarks/results/samplers_images.csv (compare's
# columns), samplers_images.md, samplers_images.png (Fréchet distance against NFE) and
# samplers_images_time.png (against seconds), and keeps one grid of samples per sampler in
# BUILD_DIR/samplers_images/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
bin=$build/apps/scoresde
num=${2:-1000}
budgets=${3:-"10 20 35 50 100"}
[ -x "$bin" ] || { echo "run_images.sh: no $bin (build first)" >&2; exit 2; }
out="$src/benchmarks/results"
work="$build/samplers_images"
mkdir -p "$work"
export OMP_WAIT_POLICY=passive

. "$here/fast_list.sh"
list="ode:dopri5,$(fast_list "$budgets"),pc:euler_maruyama@1000" # PC last: alone a third of the time

load=$(cut -d' ' -f1 /proc/loadavg)
"$bin" compare --model "$src/models/fashion_mnist.sgm" --num "$num" --batch 250 --samplers "$list" --resume \
    --out "$work/cmp" > "$work/table.txt"
{
    echo "# Samplers on the default image model (issue 18, item 4)"
    echo
    echo "\`sh benchmarks/samplers/run_images.sh BUILD $num\`: \`scoresde compare --model models/fashion_mnist.sgm\`,"
    echo "$num samples per sampler (seed 0), every fast sampler at $(echo $budgets | sed 's/ /, /g') NFE (the step"
    echo "count giving at most that many evaluations), PC (Euler–Maruyama, the VP default) at 1000 steps"
    echo "and dopri5 (rtol = atol = 1e-5). Fréchet distance: the shipped classifier's 256-d features"
    echo "against the 10 000 test images, bootstrap standard error, beside the floor of $num training"
    echo "images. Load average when the last part started: $load;"
    echo "$("$bin" --version | grep '^BLAS'). Seconds are wall time on 2 cores."
    echo
    cat "$work/cmp.md"
} > "$out/samplers_images.md"
cp "$work/cmp.csv" "$out/samplers_images.csv"
cp "$work/cmp.png" "$out/samplers_images.png"
cp "$work/cmp_time.png" "$out/samplers_images_time.png"
echo "wrote $out/samplers_images.csv, samplers_images.md, samplers_images.png, samplers_images_time.png" >&2
