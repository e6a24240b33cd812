#!/bin/sh
# Class-conditional sampling of the default image model (issue 16, item 4): 500 samples per class
# guided by the shipped time-dependent classifier, judged by the shipped clean classifier (the share
# of samples it assigns to the class asked for) and by the Fréchet distance to that class's test
# images.
#
#   sh benchmarks/fmnist/guidance.sh BUILD_DIR [SCALE] [NUM] [SAMPLER...]
#
# SCALE: guidance scale (default 16); NUM: samples per class (default 500); SAMPLER: `sample`
# options (default "--sampler sde --sde-solver dpmpp-2m-sde --steps 20"). Writes
# benchmarks/results/guidance.md. About 8 minutes on one core.
#
# Why these defaults (100 Shirt samples, the hardest class, share the clean classifier gives it):
# scale 4: PC (N = 200) 0.77, dpmpp-2m-sde@20 0.77, edm-heun@10 0.57, edm-churn@10 0.34;
# dpmpp-2m-sde@20 at scale 8: 0.86, at 16: 0.91. EDM's churn, the best unguided sampler at this
# budget, loses the guidance at 10 steps (0.37 -> 0.15 from scale 2 to 8). The cause is its
# largest re-noising on the long steps of a 10-step grid, not the guidance: at 20 steps the same
# churn gives 0.60 / 0.80 / 0.93 at scales 2 / 4 / 8, and at 10 steps churn 0 gives 0.73 (table in
# docs/user-guide.md, section 7).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$(cd "$1" && pwd)/apps/scoresde
scale=${2:-16}
num=${3:-500}
shift $(($# < 3 ? $# : 3))
sampler=${*:-"--sampler sde --sde-solver dpmpp-2m-sde --steps 20"}
[ -x "$bin" ] || { echo "guidance.sh: no $bin (build first)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive
names="T-shirt Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag Boot"

# share NAME FILE: the class histogram's value for NAME in `evaluate`'s output
share() { sed -n "s/^class histogram.* $1 \([0-9.]*\).*/\1/p" "$2"; }

{
    echo "# Class-conditional sampling of the default image model (issue 16, item 4)"
    echo
    echo "\`sh benchmarks/fmnist/guidance.sh BUILD $scale $num\`: the shipped U-Net"
    echo "\`models/fashion_mnist.sgm\` guided by the shipped time-dependent classifier"
    echo "\`models/fmnist_tclassifier.sgc\` (score + scale · ∇ₓ log p_t(k | x)), \`$sampler\`,"
    echo "guidance scale $scale, $num samples per class, seed 3; judged by the shipped clean classifier"
    echo "\`models/fmnist_classifier.sgc\` (test accuracy 0.883) and by the Fréchet distance of its"
    echo "features to the 1000 test images of the class."
    echo
    echo "    for k in 0 1 2 3 4 5 6 7 8 9; do"
    echo "      scoresde sample --class \$k --guidance-scale $scale $sampler --num $num --seed 3 --out g\$k.npy"
    echo "      scoresde evaluate --images g\$k.npy --num $num            # class histogram (clean classifier)"
    echo "      scoresde evaluate --images g\$k.npy --num $num --class \$k # Fréchet distance to class k's test images"
    echo "    done"
    echo
    echo "| class | share the clean classifier assigns to it | Fréchet distance to the class's test images |"
    echo "|---|---:|---:|"
} > "$tmp/md"
k=0
worst=1
for name in $names; do
    echo "guidance.sh: class $k ($name) ..." >&2
    # shellcheck disable=SC2086
    "$bin" sample --class $k --guidance-scale "$scale" $sampler --num "$num" --seed 3 --out "$tmp/g$k.npy" \
        --quiet > /dev/null
    "$bin" evaluate --images "$tmp/g$k.npy" --num "$num" --quiet > "$tmp/all.txt"
    "$bin" evaluate --images "$tmp/g$k.npy" --num "$num" --class $k --quiet > "$tmp/class.txt"
    s=$(share "$name" "$tmp/all.txt")
    fd=$(sed -n 's/^Frechet distance *\([0-9.]*\).*/\1/p' "$tmp/class.txt")
    echo "| $k $name | $s | $fd |" >> "$tmp/md"
    worst=$(awk -v a="$worst" -v b="$s" 'BEGIN { print (b < a ? b : a) }')
    k=$((k + 1))
done
{
    echo
    echo "Smallest share: $worst (goal: at least 0.90 for every class)."
} >> "$tmp/md"
cp "$tmp/md" "$src/benchmarks/results/guidance.md"
echo "wrote $src/benchmarks/results/guidance.md" >&2
