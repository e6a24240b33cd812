#!/bin/sh
# The image model's goals of issue 16 that are not the sampler study's (that one is
# benchmarks/samplers/run_images.sh: Fréchet distances at 1000 samples): bits/dim on 500 test
# images, samples inside the data range before any clipping, the encode -> decode round trip, and
# the pictures of docs/images/.
#
#   sh benchmarks/fmnist/run.sh BUILD_DIR [MODEL] [FAST_SAMPLER]
#
# MODEL defaults to the shipped models/fashion_mnist.sgm; FAST_SAMPLER (the study's best at <= 20
# NFE, as `scoresde sample` options) to "--sampler sde --sde-solver edm-churn --steps 10". Builds
# nothing.
# Writes benchmarks/results/fmnist_model.md (each number beside the command that measured it) and
# docs/images/fmnist_{samples,interpolation,inpainting}.png. About 15 minutes on 2 idle cores.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$(cd "$1" && pwd)/apps/scoresde
model=${2:-$src/models/fashion_mnist.sgm}
fast=${3:-"--sampler sde --sde-solver edm-churn --steps 10"}
[ -x "$bin" ] || { echo "run.sh: no $bin (build first)" >&2; exit 2; }
[ -f "$model" ] || { echo "run.sh: no model $model" >&2; exit 2; }
results="$src/benchmarks/results"
images="$src/docs/images"
mkdir -p "$images"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
md="$tmp/md"
export OMP_WAIT_POLICY=passive

# step LABEL COMMAND...: runs the command (model first), keeps its summary, and puts both in the report
step() {
    label=$1
    shift
    echo "run.sh: $label ..." >&2
    "$bin" "$@" --quiet > "$tmp/out.txt"
    {
        echo "### $label"
        echo
        echo "    scoresde $*" | sed "s#$src/##g; s#$tmp/##g"
        echo
        sed 's/^/    /' "$tmp/out.txt"
        echo
    } >> "$md"
}

{
    echo "# The shipped Fashion-MNIST model: likelihood, data range, round trip, pictures (issue 16)"
    echo
    echo "\`sh benchmarks/fmnist/run.sh BUILD\` on $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%d);"
    echo "model \`$(echo "$model" | sed "s#$src/##")\`; $("$bin" --version | grep '^BLAS')."
    echo "Each block is the command and its summary as printed. Fréchet distances (1000 samples,"
    echo "every sampler) are in samplers_images.md."
    echo
} > "$md"

step "bits/dim: 500 test images, uniform dequantisation, rk45 1e-5, one Rademacher probe each" \
    likelihood --model "$model" --in fashion-mnist:test --num 500 --seed 0 --out "$tmp/bpd.csv"
step "data range: 100 PC samples (the paper's sampler, N = 1000)" \
    sample --model "$model" --num 100 --seed 1 --out "$tmp/pc.npy"
step "data range: 200 probability-flow ODE samples (dopri5, rtol = atol = 1e-5)" \
    sample --model "$model" --num 200 --seed 1 --sampler ode --ode-solver dopri5 --out "$tmp/ode.npy"
step "round trip: 20 test images encoded and decoded at rtol = atol = 1e-7" \
    encode --model "$model" --in fashion-mnist:test --num 20 --rtol 1e-7 --atol 1e-7 --round-trip \
    --out "$tmp/z.npy"
# shellcheck disable=SC2086
step "pictures: 64 samples with the study's best sampler at <= 20 NFE" \
    sample --model "$model" --num 64 --seed 2 $fast --out "$images/fmnist_samples.png"
step "pictures: interpolation between the first two test images (ankle boot -> pullover)" \
    interpolate --model "$model" --in fashion-mnist:test --points 10 --out "$images/fmnist_interpolation.png"
step "pictures: inpainting of 8 test images, top half known (PC, N = 1000)" \
    inpaint --model "$model" --in fashion-mnist:test --num 8 --mask top --seed 3 \
    --out "$images/fmnist_inpainting.png"

cp "$md" "$results/fmnist_model.md"
echo "wrote $results/fmnist_model.md and docs/images/fmnist_{samples,interpolation,inpainting}.png" >&2
