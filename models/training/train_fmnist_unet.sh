#!/bin/sh
# The Fashion-MNIST U-Net of issue 16, trained in the background across sessions (resumable).
#   models/training/train_fmnist_unet.sh BUILD_DIR RUN_DIR [SEED]
# SEED (default 1, the shipped model) other than 1 trains the same recipe from another seed into
# fmnist_unet_seedSEED.{sgm,ckpt} and its loss log (issue 16 item 5: are the encodings of two
# independently trained models the same?).
# Runs BUILD_DIR/apps/scoresde (a Release build at a fixed commit, kept apart from the working
# build) in RUN_DIR under nice, with a checkpoint every 200 steps: run it again to continue from
# RUN_DIR/fmnist_unet.ckpt (a copy of the latest checkpoint is kept in models/training/ between
# sessions). Stop it with SIGTERM (it writes a checkpoint and exits); pause it with SIGSTOP while
# timing anything. The kernel: OpenBLAS' own choice (Cooperlake on the project's machine, 1.2× the
# forced Haswell on the U-Net; tests/kernels.sh checks the two agree to rounding on this CPU).
set -eu
build=$(cd "$1" && pwd) run=$2 seed=${3:-1}
name=fmnist_unet
[ "$seed" = 1 ] || name=fmnist_unet_seed$seed
mkdir -p "$run"
cd "$run"
OMP_WAIT_POLICY=passive exec env -u OPENBLAS_CORETYPE nice -n 19 "$build/apps/scoresde" train \
  --data fashion-mnist --sde vp --arch unet --base-channels 32 --levels 3 \
  --steps 16000 --batch 128 --lr 5e-4 --warmup 500 --grad-clip 1 --ema 0.999 --seed "$seed" --threads 2 \
  --checkpoint "$name.ckpt" --checkpoint-every 200 --resume --out "$name.sgm" \
  --log "${name}_loss.csv" --log-every 50 --quiet
