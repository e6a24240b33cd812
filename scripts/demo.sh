#!/bin/sh
# Installs what is missing, builds scoresde (Release) and runs the main job: 64 samples of the
# shipped Fashion-MNIST model into samples.png, then the solver table of a geometric Brownian motion.
# Usage: scripts/demo.sh  (build tree: build/)
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSCORESDE_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" --target scoresde
./build/apps/scoresde sample --num 64 --out samples.png
./build/apps/scoresde solve --sde gbm --param mu=0.05 --param sigma=0.2 --method sri2 --steps 256 --paths 100000
