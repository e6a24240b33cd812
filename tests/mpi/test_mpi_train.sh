#!/bin/sh
# mpirun -np K scoresde train: data-parallel training.
#  - a fixed --grad-shards S: the weights (and checkpoint) are bit-identical for K = 1, 2, 3 ranks
#    and to one process without mpirun (the shard gradients are summed in shard order whatever K);
#  - a run stopped after 20 steps on 2 ranks and resumed on 1 (or 3) ranks ends with the bits of an
#    uninterrupted run;
#  - the default (one shard per rank): 1 and 2 ranks differ by float rounding only. Bound: the two
#    batch gradients differ by the rounding of splitting a sum of B = 256 float terms (relative
#    γ_B = B·2^-24 ≈ 1.5e-5 at most); Adam's step lr·m/(√v + ε) is scale-free in the gradient, so
#    each step's update differs by at most about lr·γ_B, and T steps by T·lr·γ_B ≈ 1.5e-5·T·lr. We
#    allow 1e-3·T·lr (a lost or doubled shard changes updates by O(lr) per step: O(T·lr));
#  - --reduce allreduce (MPI_Allreduce's order) within the same bound of the ordered sum.
# Usage: test_mpi_train.sh SCORESDE SOURCE_DIR MPIEXEC COMPARE_WEIGHTS
set -eu
bin=$1 src=$2 mpiexec=$3 cw=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
steps=40 lr=1e-3
tol=$(awk -v T=$steps -v lr=$lr 'BEGIN { printf "%.3g", 1e-3 * T * lr }')
# train RANKS ARGS: the same --out and --checkpoint for every run (the files' provenance note holds
# the command line); RANKS = 0: without mpirun. The checkpoint is kept for --resume.
train() {
    ranks=$1
    shift
    rm -f "$dir/w.sgm"
    case "$*" in *--resume*) ;; *) rm -f "$dir/w.ckpt" ;; esac
    set -- train --data "gmm:$src/models/gmm2d.txt" --sde vp --hidden 64 --batch 256 --lr $lr --warmup 10 \
        --seed 3 --checkpoint-every 10 --out "$dir/w.sgm" --checkpoint "$dir/w.ckpt" --quiet --threads 1 "$@"
    if [ "$ranks" -eq 0 ]; then
        "$bin" "$@" > "$dir/out.txt" || fail "train without mpirun: exit status $?"
    else
        timeout 300 "$mpiexec" -np "$ranks" "$bin" "$@" > "$dir/out.txt" || fail "train on $ranks ranks: exit status $?"
    fi
}

train 0 --steps $steps --grad-shards 6
cp "$dir/w.sgm" "$dir/s0.sgm"
cp "$dir/w.ckpt" "$dir/s0.ckpt"
for K in 1 2 3; do
    train $K --steps $steps --grad-shards 6
    cmp "$dir/s0.sgm" "$dir/w.sgm" || fail "--grad-shards 6: weights on $K ranks differ from one process"
    cmp "$dir/s0.ckpt" "$dir/w.ckpt" || fail "--grad-shards 6: checkpoint on $K ranks differs"
done
echo "--grad-shards 6: weights and checkpoint bit-identical for 1, 2, 3 ranks and without mpirun"

for K in 1 3; do
    train 2 --steps 20 --grad-shards 6
    train $K --steps $steps --grad-shards 6 --resume
    grep -q "steps 20\.\.$steps (resumed)" "$dir/out.txt" || fail "no resume on $K ranks: $(cat "$dir/out.txt")"
    "$cw" "$dir/s0.sgm" "$dir/w.sgm" exact || fail "stopped on 2 ranks, resumed on $K: not the uninterrupted bits"
done
echo "resume on another number of ranks: bit-identical to the uninterrupted run"

train 1 --steps $steps
cp "$dir/w.sgm" "$dir/d1.sgm"
train 2 --steps $steps
cp "$dir/w.sgm" "$dir/d2.sgm"
"$cw" "$dir/d1.sgm" "$dir/d2.sgm" "$tol" || fail "default shards: 1 and 2 ranks differ by more than $tol"
train 3 --steps $steps --grad-shards 3
cp "$dir/w.sgm" "$dir/o3.sgm"
train 3 --steps $steps --grad-shards 3 --reduce allreduce
"$cw" "$dir/o3.sgm" "$dir/w.sgm" "$tol" || fail "--reduce allreduce: more than $tol from the ordered sum"
echo "one shard per rank and --reduce allreduce: within $tol (1e-3 x steps x lr)"

# Bad --grad-shards: refused on every rank, no hang.
set +e
timeout 120 "$mpiexec" -np 2 "$bin" train --data "gmm:$src/models/gmm2d.txt" --steps 5 --batch 8 --grad-shards 1 \
    --out "$dir/bad.sgm" --quiet > /dev/null 2> "$dir/err.txt"
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "grad-shards 1" "$dir/err.txt" || fail "--grad-shards 1 on 2 ranks: status $rc, $(cat "$dir/err.txt")"
[ ! -e "$dir/bad.sgm" ] || fail "a failed run wrote its weights"
echo ok
