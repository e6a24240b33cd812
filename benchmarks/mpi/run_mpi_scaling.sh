#!/bin/sh
# The measurements behind benchmarks/results/mpi_scaling.md: wall time of `scoresde` on K = 1 and 2
# MPI ranks (one thread each) for sampling, likelihood and training; per-item costs and their
# spread; the load balance they imply at 8, 64 and 512 ranks (balance.awk); the time of the
# gradient reduction per training step on 2 ranks.
# Usage: benchmarks/mpi/run_mpi_scaling.sh BUILD_DIR [REPEATS]   (BUILD_DIR configured with
# -DSCORESDE_MPI=ON). The machine is shared: each timed case runs REPEATS times (default 3), the
# best time is kept and printed with the load average at the end of its runs.
set -eu
build=$1 reps=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin="$build/apps/scoresde"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
net="$src/models/gmm2d.sgm"
gmm="gmm:$src/models/gmm2d.txt"
q="--quiet --threads 1"
summary_time='s/^time *\([0-9.]*\) s.*/\1/p'             # sample, likelihood: the command's own timer
train_time='s/.*, loss [-0-9.e]* -> [-0-9.e]*, \([0-9.]*\) s .*/\1/p' # train: the training loop

# best_of NAME K SED ARGS...: mpiexec -np K scoresde ARGS, REPEATS times: the least wall time SED
# extracts, and the least CPU time (user + system, all ranks and mpiexec, start-up included).
best_of() {
    name=$1 K=$2 expr=$3
    shift 3
    best="" cpu=""
    for r in $(seq "$reps"); do
        /usr/bin/time -o "$dir/time.txt" -f "%U %S" mpiexec -np "$K" "$bin" "$@" > "$dir/out.txt" 2>&1
        t=$(sed -n "$expr" "$dir/out.txt" | tail -1)
        c=$(awk '{ print $1 + $2 }' "$dir/time.txt")
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }')
        cpu=$(awk -v a="$cpu" -v b="$c" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }')
    done
    echo "$name,$K,$best,$cpu,$(cut -d' ' -f1 /proc/loadavg)"
}

"$bin" sample --model "$gmm" --sde vp --num 512 --out "$dir/pts.csv" $q > /dev/null
"$bin" train --data fashion-mnist --arch mlp --hidden 512 --blocks 3 --steps 2 --batch 16 --out "$dir/f.sgm" $q > /dev/null

echo "case,ranks,wall_seconds,cpu_seconds,load_average"
for K in 1 2; do
    best_of "start-up: sample gmm oracle, 1 sample" $K "$summary_time" sample --model "$gmm" --sde vp --num 1 --out "$dir/one.csv" $q
done
for K in 1 2; do
    best_of "sample: gmm2d.sgm ode:dopri5 1e-5, 512 samples, batch 32" $K "$summary_time" \
        sample --model "$net" --sampler ode --num 512 --batch 32 --out "$dir/s.csv" $q
    best_of "likelihood: gmm2d.sgm dopri5 1e-5 exact trace, 256 points, batch 16" $K "$summary_time" \
        likelihood --model "$net" --in "$dir/pts.csv" --num 256 --batch 16 --hutchinson exact --out "$dir/l.csv" $q
    best_of "sample: fashion-mnist MLP 512x3, pc@100, 64 samples, batch 8" $K "$summary_time" \
        sample --model "$dir/f.sgm" --sampler pc --N 100 --num 64 --batch 8 --out "$dir/fs.npy" $q
    best_of "train: gmm2d MLP 256x3, batch 512, 200 steps" $K "$train_time" \
        train --data "$gmm" --sde vp --steps 200 --batch 512 --warmup 10 --checkpoint-every 100000 \
        --out "$dir/t.sgm" $q
    best_of "train: fashion-mnist MLP 512x3, batch 128, 20 steps" $K "$train_time" \
        train --data fashion-mnist --arch mlp --hidden 512 --blocks 3 --steps 20 --batch 128 --warmup 10 \
        --checkpoint-every 100000 --out "$dir/f2.sgm" $q
done

echo "# gradient reduction on 2 ranks (ordered chain + broadcast; includes waiting for the slower rank):"
for arch in "--data $gmm --sde vp --batch 512" "--data fashion-mnist --arch mlp --hidden 512 --blocks 3 --batch 128"; do
    mpiexec -np 2 "$bin" train $arch --steps 30 --warmup 10 --checkpoint-every 100000 --log-every 100000 \
        --out "$dir/r.sgm" --threads 1 2>&1 | sed -n 's/^train: /#   /p'
done

# The parts of a training step on one core (CPU time): shard gradients, batch draw, Adam/EMA.
"$build/benchmarks/mpi/bench_train_parts" | sed 's/^/# /'

# Per-item costs: one sample per chunk (seconds and NFE per sample), the likelihood's NFE per point.
SCORESDE_DIST_TRACE="$dir/trace.csv" "$bin" sample --model "$net" --sampler ode --num 256 --batch 1 \
    --out "$dir/s1.csv" $q > /dev/null
awk -F, 'NR > 1 { print $5 }' "$dir/trace.csv" > "$dir/sample_seconds.txt"
awk -F, 'NR > 1 { print $6 }' "$dir/trace.csv" > "$dir/sample_nfe.txt"
awk -F, 'NR > 1 { print $3 }' "$dir/l.csv" > "$dir/logp_nfe.txt"
for f in sample_seconds sample_nfe logp_nfe; do
    echo "# balance from $f, 100000 items in chunks of 32:"
    awk -v N=100000 -v b=32 -v Ks="2 8 64 512" -v seed=1 -f "$here/balance.awk" "$dir/$f.txt" | sed 's/^/#   /'
done
echo "# balance from sample_seconds, 100000 items in chunks of 8:"
awk -v N=100000 -v b=8 -v Ks="64 512" -v seed=1 -f "$here/balance.awk" "$dir/sample_seconds.txt" | sed 's/^/#   /'
