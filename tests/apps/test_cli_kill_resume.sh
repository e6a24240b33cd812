#!/bin/sh
# Training killed with SIGKILL at random moments, then resumed with --resume, ends with the bits of
# an uninterrupted run: the weights file and the last checkpoint are compared byte for byte (cmp).
# Every trial kills the run at a uniformly random time in [0, 1.1 × the uninterrupted run's wall
# time], again and again, until one run completes. A trial whose first run completes before its kill
# tested nothing: it starts again from nothing with the window halved (the machine may be faster now
# than when the reference was timed), so every trial ends with at least one kill behind it.
# KILL_TRIALS (default 24) trials; KILL_SEED seeds the kill times (printed, so a failure can be
# replayed). Args: <scoresde binary> <source dir>.
set -eu
abspath() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }
bin=$(abspath "$1") src=$(abspath "$2")
dir=$(mktemp -d)
[ -n "${KEEP_DIR:-}" ] || trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
trials=${KILL_TRIALS:-24}
seed=${KILL_SEED:-$(date +%s)}
echo "kill_resume: $trials trials, KILL_SEED=$seed"

# The same relative arguments everywhere: the weights file stores the command line as its note.
# exec: in `train &` the background job is scoresde itself, so $! is the process to kill.
train() {
    exec "$bin" train --data "gmm:$src/models/gmm2d.txt" --hidden 16 --blocks 1 --steps 200 --batch 64 \
        --checkpoint-every 10 --threads 1 --resume --quiet --out m.sgm > /dev/null 2> err.txt
}
now_ms() { date +%s%3N; }

mkdir "$dir/ref"
cd "$dir/ref"
t0=$(now_ms)
(train) || fail "uninterrupted run: $(cat err.txt)"
ref_ms=$(($(now_ms) - t0))
echo "kill_resume: uninterrupted run $ref_ms ms"

total_kills=0 total_restarts=0 leftovers=0
i=0
while [ "$i" -lt "$trials" ]; do
    i=$((i + 1))
    window=1.1 restarts=0
    while :; do
        rm -rf "$dir/t$i"
        mkdir "$dir/t$i"
        cd "$dir/t$i"
        kills=0 runs=0
        while :; do
            runs=$((runs + 1))
            [ "$runs" -le 60 ] || fail "trial $i: no run completed in 60 attempts"
            delay=$(awk -v s="$seed" -v i="$i" -v r="$restarts" -v k="$runs" -v ms="$ref_ms" -v w="$window" \
                'BEGIN { srand(s * 7919 + i * 131 + r * 17 + k); printf "%.3f", rand() * w * ms / 1000 }')
            rc=0
            train &
            pid=$!
            sleep "$delay"
            if kill -KILL "$pid" 2> /dev/null; then
                wait "$pid" 2> /dev/null || rc=$?
                # the run may have finished between sleep and kill: only 137 counts as killed
                if [ "$rc" -eq 137 ]; then
                    kills=$((kills + 1))
                    continue
                fi
            else
                wait "$pid" || rc=$?
            fi
            [ "$rc" -eq 0 ] || fail "trial $i, run $runs: exit $rc after $kills kills: $(cat err.txt)"
            break
        done
        [ "$kills" -eq 0 ] || break
        restarts=$((restarts + 1))
        [ "$restarts" -le 10 ] || fail "trial $i: no kill landed before the run completed in 10 restarts"
        window=$(awk -v w="$window" 'BEGIN { printf "%.4f", w / 2 }')
    done
    cmp -s m.sgm "$dir/ref/m.sgm" || fail "trial $i: weights differ from the uninterrupted run after $kills kills"
    cmp -s m.sgm.ckpt "$dir/ref/m.sgm.ckpt" || fail "trial $i: checkpoint differs after $kills kills"
    # a run killed inside an atomic write leaves its temporary (never the target) behind
    n_tmp=$(ls | grep -c '\.tmp\.' || true)
    leftovers=$((leftovers + n_tmp))
    total_kills=$((total_kills + kills))
    total_restarts=$((total_restarts + restarts))
done
echo "kill_resume: $trials trials, $total_kills kills (every trial at least one; $total_restarts restarts with a shorter window), all bit-identical; $leftovers temporaries of interrupted writes left"
