#!/bin/sh
# Every kind of PNG scoresde writes, decoded (png_check, libpng): its size — image grids upscaled
# by an integer factor so that a grid is at least 512 px wide, with thin separators; plots
# 900×700 — and that it is not blank. The size the summary states is the size of the file.
# Args: <scoresde binary> <source dir> <png_check>.
set -eu
abspath() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }
bin=$(abspath "$1") src=$(abspath "$2")
[ $# -ge 3 ] || { echo "FAIL: usage: $0 SCORESDE SOURCE_DIR PNG_CHECK" >&2; exit 1; }
check=$(abspath "$3")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }
gmm="gmm:$src/models/gmm2d.txt"
q="--quiet"

# expect_png FILE WIDTH HEIGHT MIN_CONTENT: decodes, has that size, and at least that fraction of
# its pixels differs from the background
expect_png() {
    info=$("$check" "$1") || fail "$1 does not decode as a PNG"
    set -- "$@" $info
    [ "$5" -eq "$2" ] && [ "$6" -eq "$3" ] || fail "$1 is $5×$6, expected $2×$3"
    awk -v c="$7" -v m="$4" 'BEGIN { exit !(c >= m) }' || fail "$1 is blank: content $7 < $4"
}
# summary_size FILE: the "W×H px" a summary stated
summary_size() { sed -n 's/.*, \([0-9]*\)×\([0-9]*\) px).*/\1 \2/p' "$1" | head -1; }

# ---- image grids (the shipped Fashion-MNIST model; 2 Euler steps of the ODE keep it cheap) ------
cheap="--sampler ode --ode-solver euler --steps 2 --threads 1"
# 4 images, 2×2 of 28 px: scale 10 (2·28·10 = 560 >= 512), gaps of 2 px
"$bin" sample $cheap --num 4 --out grid.png $q > s.txt
expect_png grid.png 566 566 0.2
grep -q 'grid.png (PNG: 2×2 grid at 10×, 566×566 px)' s.txt || fail "sample summary: $(cat s.txt)"
# the native size on request: --scale 1, 1-px gaps
"$bin" sample $cheap --num 4 --scale 1 --out native.png $q > /dev/null
expect_png native.png 59 59 0.2
# 64 images (the README's command): 8×8, scale 3
"$bin" sample $cheap --num 64 --out big.png $q > s64.txt
expect_png big.png 690 690 0.2
[ "$(summary_size s64.txt)" = "690 690" ] || fail "sample summary of 64 images: $(cat s64.txt)"

# latents for decode / interpolate / inpaint: two rows of 784 values
awk 'BEGIN { srand(3); for (k = 0; k < 784; k++) printf "%sx%d", k ? "," : "", k; print "";
             for (r = 0; r < 2; r++) { for (k = 0; k < 784; k++) printf "%s%.4f", k ? "," : "", 2 * rand() - 1; print "" } }' > lat.csv
"$bin" decode --in lat.csv --ode-solver euler --steps 2 --threads 1 --out dec.png $q > d.txt
expect_png dec.png 566 284 0.2
[ "$(summary_size d.txt)" = "566 284" ] || fail "decode summary: $(cat d.txt)"
# a 10-image interpolation row: scale 2 (10·28·2 = 560), 582×60 (was 291×30)
"$bin" interpolate --in lat.csv --latent --points 10 --ode-solver euler --steps 2 --threads 1 --out row.png $q > i.txt
expect_png row.png 582 60 0.2
[ "$(summary_size i.txt)" = "582 60" ] || fail "interpolate summary: $(cat i.txt)"
# inpainting: rows of (masked, sample, original), 3 columns: scale 7
"$bin" inpaint --in lat.csv --num 2 --mask top $cheap --out ip.png $q > ip.txt
expect_png ip.png 596 398 0.2
[ "$(summary_size ip.txt)" = "596 398" ] || fail "inpaint summary: $(cat ip.txt)"

# ---- plots: 900×700 -------------------------------------------------------------------------------
"$bin" sample --model "$gmm" --sde vp --num 300 --out scatter.png $q > sc.txt
expect_png scatter.png 900 700 0.03
[ "$(summary_size sc.txt)" = "900 700" ] || fail "scatter summary: $(cat sc.txt)"
printf 'x0,x1\n-4,0\n3,3\n' > ends.csv
"$bin" interpolate --model "$gmm" --sde vp --in ends.csv --points 12 --out path.png $q > p.txt
expect_png path.png 900 700 0.03
"$bin" solve --sde gbm --method em --steps 64 --paths 2000 --save-every 8 --plot sol > /dev/null
expect_png sol_hist.png 900 700 0.03
expect_png sol_paths.png 900 700 0.01
"$bin" compare --model "$gmm" --sde vp --samplers "pc:euler_maruyama@100,ode:heun@20" --num 100 --out cmp $q > /dev/null
expect_png cmp.png 900 700 0.005
expect_png cmp_time.png 900 700 0.005
echo ok
