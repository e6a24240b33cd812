#!/bin/sh
# Which diffusion process for the image model (issue 16: "choose the process by measurement"):
# the same small U-Net recipe trained under VE, VP and sub-VP for the same steps, then each
# model's Fréchet distance (1000 samples; the probability-flow ODE with rk45, the batched
# Dormand–Prince, and the study's fast sampler dpmpp-3m@20; the process's own PC sampler at
# N = 1000 on 200 samples) and bits/dim on 200 test images.
#
#   sh benchmarks/fmnist/process_choice.sh BUILD_DIR [STEPS]
#
# U-Net base 16, 3 levels, batch 64, lr 5e-4 (500 warm-up steps), EMA 0.999, seed 1, STEPS steps
# (default 8000: at 3000 steps, 3 epochs, the VP model's samples still score 278 ± 6 against a
# floor of 4.5 and noise images' 343 — too far from converged to tell the processes apart). Every
# process gets its defaults (VE: σ 0.01 .. 50; VP and sub-VP: β 0.1 .. 20). Everything is kept
# in BUILD_DIR/process_choice/STEPS/, and a second run goes on where the first stopped: a trained
# model is not trained again (an interrupted training resumes from its checkpoint), compare
# resumes from its runs files, a finished likelihood is kept. Writes
# benchmarks/results/process_choice.md. About an hour on 2 idle cores.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
bin=$build/apps/scoresde
steps=${2:-8000}
[ -x "$bin" ] || { echo "process_choice.sh: no $bin (build first)" >&2; exit 2; }
work="$build/process_choice/$steps"
mkdir -p "$work"
export OMP_WAIT_POLICY=passive
md="$work/report.md"

{
    echo "# Choosing the image model's process (issue 16)"
    echo
    echo "\`sh benchmarks/fmnist/process_choice.sh BUILD $steps\`: the same U-Net (base 16, 3 levels, batch 64,"
    echo "lr 5e-4 after 500 warm-up steps, EMA 0.999, seed 1) trained for $steps steps under each process,"
    echo "then measured with the same commands. Fréchet distance: shipped classifier features against the"
    echo "test set, bootstrap SE, beside the floor of as many training images. $("$bin" --version | grep '^BLAS')."
    echo
    echo "The training losses are not compared: each process weights its noise levels differently."
    echo
    echo "| process | train s | FD ode:rk45 (1e-5), 1000 | FD ode:dpmpp-3m@20, 1000 | FD PC N=1000, 200 | bits/dim, 200 test images |"
    echo "|---|---|---|---|---|---|"
} > "$md"

# column NAME FILE: the value of column NAME in the second line of a CSV
column() {
    awk -F, -v name="$1" 'NR == 1 { for (k = 1; k <= NF; k++) if ($k == name) c = k } NR == 2 { print $c }' "$2"
}
fd() { # fd CSV: "value ± se (floor f)"
    printf "%.1f ± %.1f (floor %.1f)" "$(column frechet "$1")" "$(column frechet_se "$1")" "$(column frechet_floor "$1")"
}

for sde in vp subvp ve; do
    model="$work/$sde.sgm"
    if [ ! -f "$model" ]; then
        echo "process_choice.sh: training $sde ..." >&2
        "$bin" train --data fashion-mnist --sde "$sde" --arch unet --base-channels 16 --levels 3 \
            --steps "$steps" --batch 64 --lr 5e-4 --warmup 500 --grad-clip 1 --ema 0.999 --seed 1 \
            --checkpoint-every 500 --resume --log "$work/$sde.loss.csv" --log-every 50 --out "$model" \
            --quiet > "$work/$sde.train.txt"
    fi
    # the paper's PC pairing for each process (the CLI's defaults)
    case $sde in ve) pc=pc:reverse_diffusion+langevin@1000 ;; *) pc=pc:euler_maruyama@1000 ;; esac
    echo "process_choice.sh: measuring $sde ..." >&2
    "$bin" compare --model "$model" --num 1000 --batch 250 --samplers ode:rk45,ode:dpmpp-3m@20 \
        --resume --out "$work/${sde}_ode" --quiet > /dev/null
    "$bin" compare --model "$model" --num 200 --samplers "$pc" --resume --out "$work/${sde}_pc" \
        --quiet > /dev/null
    if [ ! -s "$work/${sde}_bpd.txt" ]; then
        "$bin" likelihood --model "$model" --in fashion-mnist:test --num 200 --seed 0 --out "$work/${sde}_bpd.csv" \
            --quiet > "$work/${sde}_bpd.tmp"
        mv "$work/${sde}_bpd.tmp" "$work/${sde}_bpd.txt"
    fi
    bpd=$(sed -n 's/.*bits\/dim[^0-9]*\([0-9.]* ± [0-9.]*\).*/\1/p' "$work/${sde}_bpd.txt" | head -1)
    dopri=$(sed -n '2p' "$work/${sde}_ode.csv" > "$work/row.csv"; head -1 "$work/${sde}_ode.csv" |
        cat - "$work/row.csv" > "$work/one.csv"; fd "$work/one.csv")
    fast=$(sed -n '3p' "$work/${sde}_ode.csv" > "$work/row.csv"; head -1 "$work/${sde}_ode.csv" |
        cat - "$work/row.csv" > "$work/one.csv"; fd "$work/one.csv")
    # training seconds from the loss log (its rate column), whatever the interruptions
    seconds=$(awk -F, 'NR > 1 { s += 50 / $6 } END { printf "%.0f", s }' "$work/$sde.loss.csv")
    echo "| $sde | $seconds | $dopri | $fast | $(fd "$work/${sde}_pc.csv") | $bpd |" >> "$md"
done
cp "$md" "$src/benchmarks/results/process_choice.md"
echo "wrote $src/benchmarks/results/process_choice.md" >&2
