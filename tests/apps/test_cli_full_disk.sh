#!/bin/sh
# A checkpoint write that runs out of room leaves the previous checkpoint intact and is reported
# (exit 1, the file and the system error named); resuming afterwards still ends with the bits of an
# uninterrupted run. Out of room two ways: a file-size limit (ulimit -f: EFBIG, scoresde ignores
# SIGXFSZ) always; a full tmpfs (ENOSPC) when mount is allowed (root), else that part is skipped.
# Also: SIGINT during training stops at the next step with a checkpoint and exit 130.
# Args: <scoresde binary> <source dir>.
set -eu
abspath() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }
bin=$(abspath "$1") src=$(abspath "$2")
dir=$(mktemp -d)
mounted=""
cleanup() {
    [ -z "$mounted" ] || umount "$mounted" 2> /dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# --log-every 1: the interrupt flag is polled every step. Same relative arguments in every run.
train() {
    exec "$bin" train --data "gmm:$src/models/gmm2d.txt" --hidden 16 --blocks 1 --steps 200 --batch 64 \
        --checkpoint-every 10 --log-every 1 --threads 1 --resume --quiet --out m.sgm > /dev/null 2> err.txt
}

mkdir "$dir/ref"
cd "$dir/ref"
(train) || fail "uninterrupted run: $(cat err.txt)"

# 1. SIGINT once the first checkpoint exists: exit 130, a checkpoint of the step reached
mkdir "$dir/a"
cd "$dir/a"
train &
pid=$!
n=0
while [ ! -f m.sgm.ckpt ]; do
    n=$((n + 1))
    [ "$n" -lt 2000 ] || fail "no checkpoint appeared"
    sleep 0.005
done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT: exit $rc (expected 130): $(cat err.txt)"
grep -q "interrupted at step [0-9]*; checkpoint m.sgm.ckpt (continue with --resume)" err.txt ||
    fail "SIGINT message: $(cat err.txt)"
[ ! -e m.sgm ] || fail "SIGINT: the weights file was written"
cp m.sgm.ckpt saved.ckpt
ckpt_bytes=$(wc -c < m.sgm.ckpt)
echo "full_disk: interrupted with $(sed 's/.*at step \([0-9]*\).*/step \1/' err.txt), checkpoint of $ckpt_bytes bytes"

# 2. file-size limit below the checkpoint's size: the next checkpoint write fails
rc=0
(ulimit -f $((ckpt_bytes / 512 / 2)) && train) || rc=$?
[ "$rc" -eq 1 ] || fail "ulimit -f: exit $rc (expected 1): $(cat err.txt)"
grep -q "m.sgm.ckpt: write failed: File too large (nothing was written)" err.txt || fail "ulimit -f message: $(cat err.txt)"
cmp -s m.sgm.ckpt saved.ckpt || fail "ulimit -f: the previous checkpoint changed"
[ ! -e m.sgm ] || fail "ulimit -f: a weights file was written"
[ "$(ls | grep -c '\.tmp\.')" -eq 0 ] || fail "ulimit -f: a temporary file was left: $(ls)"
echo "full_disk: ulimit -f: $(cat err.txt)"

# 3. a full tmpfs: room for one checkpoint and a half
if mkdir "$dir/fs" && mount -t tmpfs -o size=$((ckpt_bytes * 3 / 2)) scoresde-test "$dir/fs" 2> /dev/null; then
    mounted="$dir/fs"
    cp saved.ckpt "$dir/fs/m.sgm.ckpt"
    cd "$dir/fs"
    rc=0
    (train) || rc=$?
    [ "$rc" -eq 1 ] || fail "full tmpfs: exit $rc (expected 1): $(cat err.txt)"
    grep -q "No space left on device" err.txt || fail "full tmpfs message: $(cat err.txt)"
    cmp -s m.sgm.ckpt "$dir/a/saved.ckpt" || fail "full tmpfs: the previous checkpoint changed"
    [ "$(ls | grep -c '\.tmp\.')" -eq 0 ] || fail "full tmpfs: a temporary file was left: $(ls)"
    echo "full_disk: tmpfs: $(cat err.txt)"
    cd "$dir/a"
else
    echo "full_disk: tmpfs part skipped (mount not permitted)"
fi

# 4. resumed without a limit: the bits of the uninterrupted run
(train) || fail "resume after the failed writes: $(cat err.txt)"
cmp -s m.sgm "$dir/ref/m.sgm" || fail "weights after the failed writes differ from the uninterrupted run"
cmp -s m.sgm.ckpt "$dir/ref/m.sgm.ckpt" || fail "final checkpoint differs from the uninterrupted run"
echo "full_disk: resumed run bit-identical to the uninterrupted one"
