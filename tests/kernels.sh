#!/bin/sh
# The reproducibility promise (docs/reproducibility.md) under every OpenBLAS kernel this CPU can
# execute, at 1 and 2 default threads:
#   - bit-identical results for 1, 2 and 3 threads: the 'bits' cases of the scorenet tests
#     (snet_sgemm, the MLP forward/backward, whole training runs, the U-Net);
#   - agreement to rounding with the kernel in force for the rest of the suite (OPENBLAS_CORETYPE as
#     set, or OpenBLAS' own choice): kernel_probe's short training run and MLP forward, and
#     `scoresde sample` of the shipped image model.
# Usage: tests/kernels.sh BUILD_DIR   (called by scripts/test.sh after the main suite)
set -eu
build=$1
probe=$build/tests/scorenet/kernel_probe
scoresde=$build/apps/scoresde
out=$build/kernels
mkdir -p "$out"
export CK_FORK=no OMP_WAIT_POLICY=passive
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Bounds, relative to the largest magnitude in each file. Measured on an AMD EPYC (Zen 5) against
# Haswell for Sandybridge, Zen, SkylakeX and Cooperlake: trained weights after 60 steps ≤ 3.3e-7,
# MLP forward ≤ 5.4e-7, 8 PC samples (50 steps) of the shipped U-Net ≤ 6.4e-5 in a release build
# (Sandybridge; identical in this sanitized one): 50 noisy steps through a 12-layer network carry
# the last bits of a convolution further than one MLP forward does. The bounds leave 15× and more
# room for other CPUs and kernels.
tol_weights=1e-5 tol_forward=1e-5 tol_samples=1e-3

# The CPU flags each kernel's instructions need (OpenBLAS 0.3.21 kernel names).
needs() {
    case $1 in
    Sandybridge) echo avx ;;
    Haswell | Zen) echo "avx2 fma" ;;
    SkylakeX) echo "avx512f avx512cd avx512bw avx512dq avx512vl" ;;
    Cooperlake) echo "avx512f avx512cd avx512bw avx512dq avx512vl avx512_bf16" ;;
    esac
}
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
lacking() {
    for f in $(needs "$1"); do
        case "$flags" in *" $f "*) ;; *) echo "$f"; return ;; esac
    done
}

sample() { # sample KERNEL OUT: 8 images from the shipped model, fixed seed
    env OPENBLAS_CORETYPE="$1" "$scoresde" sample --sampler pc --N 50 --num 8 --seed 3 --quiet --out "$2" >/dev/null
}

reference=${OPENBLAS_CORETYPE:-detected}
echo "kernels.sh: reference kernel: $reference"
"$probe" run "$out/reference"
"$scoresde" sample --sampler pc --N 50 --num 8 --seed 3 --quiet --out "$out/reference_samples.csv" >/dev/null

passed=0 failed=0
check() { # check NAME COMMAND...: counts and reports one check
    name=$1
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "kernels.sh: FAILED: $name"; fi
}
bits() { # bits KERNEL THREADS TEST: a test's 'bits' case, its output shown only when it fails
    if OPENBLAS_CORETYPE=$1 OMP_NUM_THREADS=$2 CK_RUN_CASE=bits "$build/tests/scorenet/scorenet_test_$3" >"$out/log" 2>&1; then
        return 0
    fi
    cat "$out/log"
    return 1
}
for kernel in Sandybridge Haswell Zen SkylakeX Cooperlake; do
    missing=$(lacking $kernel)
    if [ -n "$missing" ]; then
        echo "kernels.sh: kernel $kernel skipped: this CPU lacks '$missing'"
        continue
    fi
    for threads in 1 2; do
        for t in gemm layers train unet; do
            check "$kernel, $threads threads: scorenet_test_$t bits" bits $kernel $threads $t
        done
    done
    OPENBLAS_CORETYPE=$kernel "$probe" run "$out/$kernel"
    sample $kernel "$out/${kernel}_samples.csv"
    check "$kernel: training run" "$probe" compare "$out/reference_weights.txt" "$out/${kernel}_weights.txt" $tol_weights
    check "$kernel: forward" "$probe" compare "$out/reference_forward.txt" "$out/${kernel}_forward.txt" $tol_forward
    check "$kernel: samples" "$probe" compare "$out/reference_samples.csv" "$out/${kernel}_samples.csv" $tol_samples
done
echo "kernels: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
