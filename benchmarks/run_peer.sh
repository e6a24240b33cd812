#!/bin/sh
# benchmarks/run_peer.sh — scoresde beside the official algorithms' stack (PyTorch + scipy), in one
# run of about 16 minutes on 2 idle cores (24 with --detected-kernel): network (MLPs and the U-Net), PC/ODE
# samplers, likelihood, training, the Fashion-MNIST U-Net end to end,
# the sgemm peak, scaling in samples and dimension. Writes benchmarks/results/peer_*.csv, peer_report.md
# and PNGs.
#
#   benchmarks/run_peer.sh [--quick] [--detected-kernel] [--model-2d FILE.sgm] [--results DIR]   (run as root the first time)
#   benchmarks/run_peer.sh --only unet [--quick]      (one section; see benchmarks/peer/run_peer.py --help)
#
# Installs what is missing (scripts/setup.sh --bench: python3-torch, python3-scipy, python3-numpy,
# linux-perf; and python3-matplotlib for the plots), builds Release into build-bench/ (or $BUILD),
# then runs benchmarks/peer/run_peer.py with Debian's /usr/bin/python3.
set -eu
cd "$(dirname "$0")/.."
build=${BUILD:-build-bench}

scripts/setup.sh --bench
if ! dpkg-query -W -f='${Status}' python3-matplotlib 2>/dev/null | grep -q "install ok installed"; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "run_peer.sh: installing python3-matplotlib (plots)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-matplotlib >/dev/null
    else
        echo "run_peer.sh: python3-matplotlib missing (run as root to install it): no plots" >&2
    fi
fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSCORESDE_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target scoresde peer_cbench arkode_control bench_scorenet bench_unet >/dev/null
exec /usr/bin/python3 benchmarks/peer/run_peer.py --build "$build" "$@"
