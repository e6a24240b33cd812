#!/bin/sh
# Installs what is missing, builds scoresde (Release) and runs the main job: 64 samples of the
# shipped Fashion-MNIST model (a U-Net) into samples.png, then the solver table of a geometric
# Brownian motion. The sampler is EDM's stochastic sampler (Heun steps with churn) at 10 steps: 19
# network evaluations per image, a few seconds on 2 cores; on this model it is the best of the
# sampler study at <= 20 evaluations (benchmarks/results/samplers_images.md). The paper's PC sampler
# (1000 steps, the default of `scoresde sample`) takes about a minute and a half.
# Usage: scripts/demo.sh  (build tree: build/)
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSCORESDE_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" --target scoresde
./build/apps/scoresde sample --num 64 --sampler sde --sde-solver edm-churn --steps 10 --out samples.png
./build/apps/scoresde solve --sde gbm --param mu=0.05 --param sigma=0.2 --method sri2 --steps 256 --paths 100000
