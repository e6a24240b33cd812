#!/bin/sh
# mpirun -np K scoresde sample|likelihood|encode|decode|compare: the output files are byte-identical
# for K = 1, 2, 3 ranks and to a run without mpirun (the chunks are the --batch index ranges of a
# one-process run, whichever rank computes them); rank 0 shows the progress of the total; a
# failure on rank 0 alone, before the ranks work together, does not leave the others waiting.
# Usage: test_mpi_points.sh SCORESDE SOURCE_DIR MPIEXEC
set -eu
bin=$1 src=$2 mpiexec=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
gmm="gmm:$src/models/gmm2d.txt"
net="$src/models/gmm2d.sgm"
q="--quiet --threads 1"

# same NAME EXT ARGS...: `scoresde ARGS --out NAME.K.EXT` alone and on K = 1, 2, 3 ranks: same bytes.
same() {
    name=$1 ext=$2
    shift 2
    "$bin" "$@" --out "$dir/$name.0.$ext" $q > /dev/null
    for K in 1 2 3; do
        timeout 300 "$mpiexec" -np $K "$bin" "$@" --out "$dir/$name.$K.$ext" $q > "$dir/$name.$K.txt" \
            || fail "$name on $K ranks: exit status $?"
        cmp "$dir/$name.0.$ext" "$dir/$name.$K.$ext" || fail "$name: $K ranks differ from one process"
    done
    [ "$(wc -l < "$dir/$name.2.txt")" -ge 1 ] || fail "$name: no summary from rank 0"
    echo "$name: byte-identical for 1, 2, 3 ranks"
}

# The Gaussian-mixture oracle: adaptive ODE (each chunk its own NFE), PC with the batch-averaged
# Langevin step (a sample depends on its batch-mates), the ODE with one step sequence per batch,
# the adaptive reverse SDE; then likelihoods of the first set with Hutchinson probes.
same gmm_ode csv sample --model "$gmm" --sde vp --sampler ode --num 500 --batch 40 --seed 1
same gmm_pc npy sample --model "$gmm" --sde ve --sampler pc --corrector langevin --langevin-norm batch \
    --N 200 --num 300 --batch 32 --seed 5
same gmm_joint csv sample --model "$gmm" --sde subvp --sampler ode --joint --num 300 --batch 50 --seed 2
same gmm_sde csv sample --model "$gmm" --sde vp --sampler sde --sde-solver adaptive --num 200 --batch 30 --seed 4
same gmm_logp csv likelihood --model "$gmm" --sde vp --in "$dir/gmm_ode.0.csv" --num 200 --batch 16 \
    --hutchinson gaussian --seed 3

# The shipped 2-D network: sampling, exact-trace likelihood, encode and decode.
same net_ode csv sample --model "$net" --sampler ode --rtol 1e-3 --atol 1e-3 --num 64 --batch 16 --seed 7
same net_logp npy likelihood --model "$net" --in "$dir/gmm_ode.0.csv" --num 40 --batch 8 \
    --hutchinson exact --rtol 1e-3 --atol 1e-3
same net_encode csv encode --model "$net" --in "$dir/gmm_ode.0.csv" --num 24 --batch 8 --rtol 1e-4 --atol 1e-4
same net_decode csv decode --model "$net" --in "$dir/net_encode.0.csv" --batch 5 --rtol 1e-4 --atol 1e-4

# compare: the same table but for the wall time (column 3).
for K in 1 2; do
    timeout 300 "$mpiexec" -np $K "$bin" compare --model "$gmm" --sde vp --samplers "pc:euler_maruyama@100,ode:heun@20" \
        --num 200 --batch 32 --out "$dir/cmp$K" $q > /dev/null || fail "compare on $K ranks"
    cut -d, -f1,2,4,5 "$dir/cmp$K.csv" > "$dir/cmp$K.cut"
done
cmp "$dir/cmp1.cut" "$dir/cmp2.cut" || fail "compare: 2 ranks give another table: $(cat "$dir/cmp2.csv")"
echo "compare: same NFE, energy distance and mode weights for 1 and 2 ranks"

# Rank 0 shows progress over the total and the load balance; the others print nothing.
timeout 300 "$mpiexec" -np 2 "$bin" sample --model "$gmm" --sde vp --sampler ode --num 200 --batch 20 \
    --out "$dir/p.csv" --threads 1 > "$dir/p.txt" 2> "$dir/p.err" || fail "progress run"
grep -q "sample: 100% (200/200" "$dir/p.err" || fail "no progress over the total: $(cat "$dir/p.err")"
grep -q "sample: 2 ranks, 10 chunks of 20" "$dir/p.err" || fail "no load-balance line: $(cat "$dir/p.err")"
[ "$(grep -c '^samples ' "$dir/p.txt")" -eq 1 ] || fail "summary not printed once: $(cat "$dir/p.txt")"

# Rank 0 cannot open --out: it fails before the shared part and the others must not wait forever.
set +e
timeout 120 "$mpiexec" -np 2 "$bin" sample --model "$gmm" --sde vp --num 100 --out "$dir/no/such/dir/x.csv" $q \
    > /dev/null 2> "$dir/err.txt"
rc=$?
set -e
[ $rc -eq 1 ] || fail "unwritable --out on 2 ranks: exit status $rc (124 = hung): $(cat "$dir/err.txt")"
grep -q "no/such/dir" "$dir/err.txt" || fail "unwritable --out: message $(cat "$dir/err.txt")"
echo "failure on rank 0 alone: exit 1, no hang"
echo ok
