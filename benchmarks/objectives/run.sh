#!/usr/bin/env bash
# benchmarks/objectives/run.sh — the training objectives compared at equal wall-clock time:
# denoising (dsm), sliced (ssm), variance-reduced sliced (ssm-vr) and exact (esm) score matching on
# the VP SDE, and the discrete schedules of DDPM (VP, 1000 steps) and NCSN (VE, 10 levels), on the
# 2-D mixture models/gmm2d.txt and on Fashion-MNIST. Writes benchmarks/results/objectives.{md,csv,png}.
#
# Equal time: a short calibration run of every row measures its steps/s; the row then trains for
# round(budget × rate) steps. The table reports the steps done, the cost per step of the real run
# and the training time that came out of it (the machine is shared, so it drifts from the budget).
#
# Metrics. 2-D: KL(p‖p_θ) = held-out E[log p − log p_θ] (exact mixture samples; scoresde likelihood
# with the exact trace; its standard error is the paired one), Fisher divergence to the exact score
# (bench_objectives fisher), energy distance and largest mode-weight error of samples (scoresde
# compare: Euler–Maruyama PC and dopri5 probability-flow ODE). Fashion-MNIST: bits/dim of test
# images (scoresde likelihood, Hutchinson probe, joint steps) and the Fréchet distance of samples
# (scoresde evaluate, PC Euler–Maruyama) and a grid of 16 samples. Losses are not compared: the objectives differ by constants.
#
# Usage: benchmarks/objectives/run.sh [--budget-2d SECONDS] [--budget-images SECONDS] [--quick]
#            [--threads N] [--build DIR] [--work DIR] [--out PREFIX] [--only 2d|images]
#   --quick     2-minute smoke run (tiny budgets and metric sizes); its report goes to the work dir
#               unless --out is given, so the committed results are not overwritten.
#   --build     build directory (default build-bench; configured and built here if needed)
#   --work      logs, weights and per-row results (default BUILD/objectives, or BUILD/objectives-quick)
#   --out       report prefix (default benchmarks/results/objectives)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
budget_2d=90
budget_images=210
threads=1
quick=0
only=""
build="$src/build-bench"
work=""
out=""
command_line="benchmarks/objectives/run.sh${*:+ $*}"

while [ $# -gt 0 ]; do
    case "$1" in
    --budget-2d) budget_2d=$2; shift 2 ;;
    --budget-images) budget_images=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --build) build=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 1 ;;
    esac
done
case "$only" in ""|2d|images) ;; *) echo "run.sh: --only '$only': expected 2d or images" >&2; exit 1 ;; esac

if [ "$quick" = 1 ]; then
    budget_2d=3 budget_images=4
    cal_2d=40 cal_images=6
    held_num=200 fisher_num=2000 fisher_num_at=500 compare_num=200 compare_samplers="pc:euler_maruyama@200,ode:dopri5"
    bpd_num=16 fd_num=64 fd_N=50
    work=${work:-$build/objectives-quick}
    out=${out:-$work/objectives_quick}
else
    cal_2d=200 cal_images=25
    held_num=1000 fisher_num=20000 fisher_num_at=5000 compare_num=2000 compare_samplers="pc:euler_maruyama,ode:dopri5"
    bpd_num=200 fd_num=500 fd_N=200
    work=${work:-$build/objectives}
    out=${out:-$src/benchmarks/results/objectives}
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)

export OMP_WAIT_POLICY=passive OPENBLAS_THREAD_TIMEOUT=4 OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads

# ---- build ------------------------------------------------------------------------------------
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSCORESDE_BENCHMARKS=ON > "$work/cmake.log"
fi
cmake --build "$build" --target scoresde bench_objectives -j 2 > "$work/build.log" 2>&1 ||
    { echo "run.sh: build failed, see $work/build.log" >&2; exit 1; }
sde="$build/apps/scoresde"
oracle="$build/benchmarks/objectives/bench_objectives"
gmm_file="$src/models/gmm2d.txt"
q="--quiet --threads $threads"

# ---- settings (one learning rate per data set, shared by every objective) --------------------------
# 2-D: residual MLP 128 wide, 3 blocks; batch 512; lr 1e-3 (as the shipped gmm2d.sgm).
train_2d="--data gmm:$gmm_file --arch mlp --hidden 128 --blocks 3 --batch 512 --lr 1e-3 --warmup 200 --ema 0.995 --seed 1"
# Fashion-MNIST: residual MLP 1024 wide, 2 blocks (the shipped model's shape: a residual MLP must
# be at least as wide as the 784-d data to represent r(x, t) ≈ x at large t, docs/models.md);
# batch 96; lr 1e-3 (as the shipped fashion_mnist.sgm).
train_images="--data fashion-mnist --arch mlp --hidden 1024 --blocks 2 --batch 96 --lr 1e-3 --warmup 100 --ema 0.995 --seed 1"
# rows: name | objective options
rows_2d=(
    "dsm|--sde vp --objective dsm"
    "ssm|--sde vp --objective ssm --projections 1"
    "ssm-vr|--sde vp --objective ssm-vr --projections 1"
    "esm|--sde vp --objective esm"
    "ddpm|--sde vp --noise-levels 1000 --objective dsm"
    "ncsn|--sde ve --noise-levels 10 --objective dsm"
)
rows_images=(
    "dsm|--sde vp --objective dsm"
    "ssm|--sde vp --objective ssm --projections 1"
    "ssm-vr|--sde vp --objective ssm-vr --projections 1"
    "esm|--sde vp --objective esm"
    "ddpm|--sde vp --noise-levels 1000 --objective dsm"
)

start_seconds=$(date +%s)
{
    echo "command=$command_line"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine=$(uname -srm), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(getconf _NPROCESSORS_ONLN) cores"
    echo "commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$src" diff --quiet HEAD -- scorenet sde solvers apps 2>/dev/null || echo ' + uncommitted changes in the library')"
    echo "threads=$threads"
    echo "quick=$quick"
    echo "budget_2d=$budget_2d"
    echo "budget_images=$budget_images"
    echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "train_2d=${train_2d//$src\//}"
    echo "train_images=$train_images"
    echo "held_num=$held_num"
    echo "fisher_num=$fisher_num"
    echo "compare_num=$compare_num"
    echo "compare_samplers=$compare_samplers"
    echo "bpd_num=$bpd_num"
    echo "fd_num=$fd_num"
    echo "fd_N=$fd_N"
} > "$work/meta.env"

log() { echo "[$(date '+%H:%M:%S')] $*"; }

# last_log_field CSV COLUMN: a column of the last line of a training log
last_log_field() {
    awk -F, -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next } { v = $c } END { print v }' "$1"
}

# calibrate SET NAME STEPS TRAIN_OPTS ROW_OPTS: steps/s of a short run (0 if it failed)
calibrate() {
    local set=$1 name=$2 steps=$3 common=$4 opts=$5 dir="$work/$1/$2"
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    if "$sde" train $common $opts --steps "$steps" --log-every "$steps" --checkpoint-every 100000000 \
        --out "$dir/calibrate.sgm" --log "$dir/calibrate.csv" $q > "$dir/calibrate.out" 2>&1; then
        last_log_field "$dir/calibrate.csv" steps_per_sec
    else
        echo 0
    fi
    rm -f "$dir/calibrate.sgm" "$dir/calibrate.sgm.ckpt"
}

# train_row SET NAME BUDGET RATE TRAIN_OPTS ROW_OPTS: trains net.sgm; writes result.env
train_row() {
    local set=$1 name=$2 budget=$3 rate=$4 common=$5 opts=$6 dir="$work/$1/$2"
    local res="$dir/result.env"
    {
        echo "set=$set"
        echo "row=$name"
        echo "options=$opts"
        echo "budget_s=$budget"
        echo "calib_steps_per_s=$rate"
    } > "$res"
    if awk -v r="$rate" 'BEGIN { exit !(r + 0 <= 0) }'; then
        echo "status=$(grep -m1 -o 'train: .*' "$dir/calibrate.out" | sed 's/^train: //' || echo 'calibration failed')" >> "$res"
        echo "steps=0" >> "$res"
        log "$set $name: not trained ($(sed -n 's/^status=//p' "$res"))"
        return 1
    fi
    local steps
    steps=$(awk -v b="$budget" -v r="$rate" 'BEGIN { s = int(b * r + 0.5); print s < 1 ? 1 : s }')
    local every=$(( steps / 100 > 10 ? steps / 100 : 10 ))
    log "$set $name: $steps steps ($rate steps/s calibrated, budget $budget s)"
    # shellcheck disable=SC2086
    if "$sde" train $common $opts --steps "$steps" --log-every "$every" --checkpoint-every 100000000 \
        --out "$dir/net.sgm" --log "$dir/train.csv" $q > "$dir/train.out" 2>&1; then
        rm -f "$dir/net.sgm.ckpt"
        local final_rate
        final_rate=$(last_log_field "$dir/train.csv" steps_per_sec)
        {
            echo "status=ok"
            echo "steps=$steps"
            echo "steps_per_s=$final_rate"
            awk -v r="$final_rate" -v s="$steps" 'BEGIN { printf "ms_per_step=%.4g\ntrain_s=%.1f\n", 1000 / r, s / r }'
            echo "final_loss_avg=$(last_log_field "$dir/train.csv" loss_avg)"
        } >> "$res"
        return 0
    fi
    rm -f "$dir/net.sgm.ckpt"
    local why
    why=$(grep -m1 -o 'train: .*' "$dir/train.out" | sed 's/^train: //' || true)
    {
        echo "status=failed: ${why:-exit status, see train.out}"
        echo "steps=$steps"
        if [ -s "$dir/train.csv" ]; then
            echo "steps_done=$(last_log_field "$dir/train.csv" step)"
        fi
    } >> "$res"
    log "$set $name: training failed: $why"
    return 1
}

# ---- 2-D Gaussian mixture ----------------------------------------------------------------------
run_2d() {
    local set=gmm2d
    mkdir -p "$work/$set"
    "$oracle" points --gmm "$gmm_file" --num "$held_num" --seed 2024 \
        --out "$work/$set/held.csv" --logp "$work/$set/held_logp.csv"
    declare -A rate
    local row name opts
    log "$set: calibrating ($cal_2d steps each)"
    for row in "${rows_2d[@]}"; do
        name=${row%%|*} opts=${row#*|}
        rate[$name]=$(calibrate "$set" "$name" "$cal_2d" "$train_2d" "$opts")
    done
    for row in "${rows_2d[@]}"; do
        name=${row%%|*} opts=${row#*|}
        local dir="$work/$set/$name"
        train_row "$set" "$name" "$budget_2d" "${rate[$name]}" "$train_2d" "$opts" || continue
        log "$set $name: metrics"
        "$sde" likelihood --model "$dir/net.sgm" --in "$work/$set/held.csv" --hutchinson exact --joint \
            --out "$dir/likelihood.csv" $q > "$dir/likelihood.out" 2>&1 ||
            echo "likelihood_status=failed: $(grep -m1 -o 'likelihood: .*' "$dir/likelihood.out" || true)" >> "$dir/result.env"
        "$oracle" fisher --model "$dir/net.sgm" --gmm "$gmm_file" --num "$fisher_num" --num-at "$fisher_num_at" \
            --seed 7 > "$dir/fisher.csv" 2> "$dir/fisher.err" ||
            echo "fisher_status=failed: $(head -1 "$dir/fisher.err")" >> "$dir/result.env"
        "$sde" compare --model "$dir/net.sgm" --reference "gmm:$gmm_file" --samplers "$compare_samplers" \
            --num "$compare_num" --seed 3 --out "$dir/compare" $q > "$dir/compare.out" 2>&1 ||
            echo "compare_status=failed: $(grep -m1 -o 'compare: .*' "$dir/compare.out" || true)" >> "$dir/result.env"
    done
}

# ---- Fashion-MNIST -------------------------------------------------------------------------------
run_images() {
    local set=fashion-mnist
    mkdir -p "$work/$set"
    declare -A rate
    local row name opts
    log "$set: calibrating ($cal_images steps each)"
    for row in "${rows_images[@]}"; do
        name=${row%%|*} opts=${row#*|}
        rate[$name]=$(calibrate "$set" "$name" "$cal_images" "$train_images" "$opts")
    done
    for row in "${rows_images[@]}"; do
        name=${row%%|*} opts=${row#*|}
        local dir="$work/$set/$name"
        train_row "$set" "$name" "$budget_images" "${rate[$name]}" "$train_images" "$opts" || continue
        log "$set $name: metrics"
        "$sde" likelihood --model "$dir/net.sgm" --in fashion-mnist:test --num "$bpd_num" --joint --seed 5 \
            --out "$dir/likelihood.csv" $q > "$dir/likelihood.out" 2>&1 ||
            echo "likelihood_status=failed: $(grep -m1 -o 'likelihood: .*' "$dir/likelihood.out" || true)" >> "$dir/result.env"
        "$sde" evaluate --model "$dir/net.sgm" --num "$fd_num" --N "$fd_N" --seed 3 $q > "$dir/evaluate.out" 2>&1 ||
            echo "evaluate_status=failed: $(grep -m1 -o 'evaluate: .*' "$dir/evaluate.out" || true)" >> "$dir/result.env"
        # 16 samples of the same sampler for the figure (samples 0..15 of evaluate's seed)
        "$sde" sample --model "$dir/net.sgm" --num 16 --N "$fd_N" --seed 3 --out "$dir/samples.png" $q \
            > "$dir/sample.out" 2>&1 || true
    done
}

[ "$only" = images ] || run_2d
[ "$only" = 2d ] || run_images

{
    echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "total_s=$(( $(date +%s) - start_seconds ))"
} >> "$work/meta.env"
/usr/bin/python3 "$here/report.py" --work "$work" --out "$out"
log "done in $(( $(date +%s) - start_seconds )) s: $out.md, $out.csv, $out.png"
