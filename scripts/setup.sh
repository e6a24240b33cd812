#!/bin/sh
# Installs the Debian packages scoresde needs, and only those that are missing.
# Idempotent; run as root on Debian 12. Usage: scripts/setup.sh [--bench] [--mpi] [--fuzz]
set -eu

packages="build-essential cmake pkg-config libsundials-dev libgsl-dev libopenblas-dev check
zlib1g-dev libpng-dev libplplot-dev plplot-driver-cairo dataset-fashion-mnist valgrind"
for arg in "$@"; do
    case "$arg" in
    --bench) packages="$packages python3-torch python3-scipy python3-numpy python3-matplotlib linux-perf" ;;
    --mpi) packages="$packages libopenmpi-dev openmpi-bin" ;;
    --fuzz) packages="$packages clang libclang-rt-14-dev" ;;
    *) echo "setup.sh: unknown option '$arg' (expected --bench, --mpi or --fuzz)" >&2; exit 2 ;;
    esac
done

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages:$missing; run as root to install them" >&2
    exit 1
fi
echo "setup.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
