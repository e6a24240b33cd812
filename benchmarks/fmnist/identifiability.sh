#!/bin/sh
# Uniquely identifiable encoding (paper §4.3; issue 16, item 5): two models trained by the same
# recipe from different seeds encode the same test images through the probability-flow ODE; the
# claim is that the two latents of one image nearly coincide, although each is a 784-d Gaussian
# draw as far as either model is concerned.
#
#   sh benchmarks/fmnist/identifiability.sh BUILD_DIR MODEL_A MODEL_B [NUM] [RTOL]
#
# NUM test images (default 100; the same dequantised points for both models: fashion-mnist:test
# with --seed 0), encoded with rk45 at rtol = atol = RTOL (default 1e-5). For each image i with
# latents a_i (model A) and b_i (model B) it reports the relative distance
#     same  ‖a_i − b_i‖ / ‖a_i‖                 (one image, two models)
# beside the same ratio for two different images,
#     other ‖a_i − b_j‖ / ‖a_i‖, j ≠ i          (two images, two models)
#     within ‖a_i − a_j‖ / ‖a_i‖, j ≠ i         (two images, one model)
# as means over images (over all pairs for the last two) with the standard error over i, and the
# correlation of a_i with b_i (coordinates as samples) beside that of a_i with b_j. Two independent
# N(0, I) vectors are √2 ≈ 1.41 apart relative to their norm and uncorrelated. Writes
# benchmarks/results/identifiability.md and, where /usr/bin/python3 has matplotlib
# (scripts/setup.sh --bench), identifiability.png: the first 100 latent coordinates of the first
# image under both models, as the paper's figure, and all coordinates of A against B. Model A is
# also encoded at RTOL/100 (the distance between the two encodings is the solver's share) and
# under another dequantisation draw of the same images (how far noise below the 8-bit quantum
# moves a latent). Keeps the latents in BUILD_DIR/identifiability/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
bin=$build/apps/scoresde
model_a=$2
model_b=$3
num=${4:-100}
tol=${5:-1e-5}
[ -x "$bin" ] || { echo "identifiability.sh: no $bin (build first)" >&2; exit 2; }
for m in "$model_a" "$model_b"; do
    [ -f "$m" ] || { echo "identifiability.sh: no model file $m" >&2; exit 2; }
done
work="$build/identifiability"
mkdir -p "$work"
export OMP_WAIT_POLICY=passive

# a_tight: model A at 1/100 of the tolerance, to show how much of the distance is solver error
tight=$(awk -v t="$tol" 'BEGIN { print t / 100 }')
# a_dequant: model A on the same images under another dequantisation draw (seed 1), to show how
# much a latent moves with noise below the 8-bit quantum
for side in a b a_tight a_dequant; do
    model=$model_a side_tol=$tol seed=0
    [ "$side" = b ] && model=$model_b
    [ "$side" = a_tight ] && side_tol=$tight
    [ "$side" = a_dequant ] && seed=1
    "$bin" encode --model "$model" --in fashion-mnist:test --num "$num" --seed "$seed" --rtol "$side_tol" \
        --atol "$side_tol" --out "$work/$side.csv" --dtype float64 --quiet > "$work/$side.txt"
done

# distances A B [same]: the three relative distances and the two correlations as "mean se" pairs,
# one per line; with `same`, only the first (one image under A and under B), skipping the pairs
distances() {
    awk -F, -v same_only="$([ "${3:-}" = same ] && echo 1 || echo 0)" '
        FNR == 1 { next }                      # header
        FILENAME == ARGV[1] { na++; for (k = 1; k <= NF; k++) a[na, k] = $k; d = NF; next }
        { nb++; for (k = 1; k <= NF; k++) b[nb, k] = $k }
        function dist(x, i, y, j,   k, s, t) {
            s = 0
            for (k = 1; k <= d; k++) { t = (x == "a" ? a[i, k] : b[i, k]) - (y == "a" ? a[j, k] : b[j, k]); s += t * t }
            return sqrt(s)
        }
        function norm(i,   k, s) { s = 0; for (k = 1; k <= d; k++) s += a[i, k] * a[i, k]; return sqrt(s) }
        function corr(i, j,   k, ma, mb, sab, saa, sbb) {   # Pearson, a_i against b_j
            ma = 0; mb = 0
            for (k = 1; k <= d; k++) { ma += a[i, k]; mb += b[j, k] }
            ma /= d; mb /= d; sab = 0; saa = 0; sbb = 0
            for (k = 1; k <= d; k++) {
                sab += (a[i, k] - ma) * (b[j, k] - mb); saa += (a[i, k] - ma) ^ 2; sbb += (b[j, k] - mb) ^ 2
            }
            return sab / sqrt(saa * sbb)
        }
        function stat(v, n,   i, m, q) {     # mean and standard error of v[1..n]
            m = 0; for (i = 1; i <= n; i++) m += v[i]; m /= n
            q = 0; for (i = 1; i <= n; i++) q += (v[i] - m) ^ 2
            return sprintf("%.4f %.4f", m, sqrt(q / (n - 1) / n))
        }
        END {
            if (na != nb || na < 2) { print "identifiability.sh: latent files differ in rows or have < 2" > "/dev/stderr"; exit 1 }
            for (i = 1; i <= na; i++) {
                r = norm(i); same[i] = dist("a", i, "b", i) / r
                if (same_only) continue
                o = 0; w = 0; co = 0
                for (j = 1; j <= na; j++) if (j != i) {
                    o += dist("a", i, "b", j) / r; w += dist("a", i, "a", j) / r; co += corr(i, j)
                }
                other[i] = o / (na - 1); within[i] = w / (na - 1)
                corr_same[i] = corr(i, i); corr_other[i] = co / (na - 1)
            }
            print stat(same, na)
            if (same_only) exit
            print stat(other, na); print stat(within, na)
            print stat(corr_same, na); print stat(corr_other, na)
        }' "$1" "$2"
}
set -- $(distances "$work/a.csv" "$work/b.csv")
[ $# -eq 10 ] || { echo "identifiability.sh: distance computation failed" >&2; exit 1; }
solver_floor=$(distances "$work/a.csv" "$work/a_tight.csv" same)
dequant_floor=$(distances "$work/a.csv" "$work/a_dequant.csv" same)
ratio=$(awk -v s="$1" -v o="$3" 'BEGIN { printf "%.3f", s / o }')

{
    echo "# Uniquely identifiable encoding (issue 16, item 5; paper §4.3)"
    echo
    echo "\`sh benchmarks/fmnist/identifiability.sh BUILD $model_a $model_b $num $tol\`:"
    echo "$num Fashion-MNIST test images (fashion-mnist:test, seed 0: the same dequantised points for both)"
    echo "encoded by \`scoresde encode\` (rk45, rtol = atol = $tol) with two models of the same recipe"
    echo "trained from different seeds. Relative distances, mean over images ± standard error:"
    echo
    echo "| latents compared | ‖·‖ / ‖a_i‖ |"
    echo "|---|---|"
    echo "| same image, model A vs model B: ‖a_i − b_i‖ | $1 ± $2 |"
    echo "| different images, model A vs model B: ‖a_i − b_j‖, j ≠ i | $3 ± $4 |"
    echo "| different images, model A alone: ‖a_i − a_j‖, j ≠ i | $5 ± $6 |"
    echo "| same image, model A, rtol $tol vs $tight (solver error) | $(echo "$solver_floor" | sed 's/ / ± /') |"
    echo "| same image, model A, another dequantisation draw (seed 1 vs 0) | $(echo "$dequant_floor" | sed 's/ / ± /') |"
    echo
    echo "Correlation of the latent coordinates, mean over images ± standard error: same image"
    echo "under A and B, corr(a_i, b_i) = **$7 ± $8**; different images, corr(a_i, b_j), j ≠ i ="
    echo "$9 ± ${10}."
    echo
    echo "Same-image distance over different-image distance: **$ratio** (two independent N(0, I)"
    echo "latents: √2 ≈ 1.41 relative). $("$bin" --version | grep '^BLAS')."
    echo
    echo "NFE per image: A $(sed -n 's/.*NFE *\([0-9.]*\) per point.*/\1/p' "$work/a.txt" | head -1),"
    echo "B $(sed -n 's/.*NFE *\([0-9.]*\) per point.*/\1/p' "$work/b.txt" | head -1)."
} > "$src/benchmarks/results/identifiability.md"
cat "$src/benchmarks/results/identifiability.md"
if /usr/bin/python3 -c "import matplotlib, numpy" 2> /dev/null; then
    /usr/bin/python3 "$here/identifiability_plot.py" "$work/a.csv" "$work/b.csv" \
        "$src/benchmarks/results/identifiability.png" "$(basename "$model_a")" "$(basename "$model_b")"
    echo "wrote $src/benchmarks/results/identifiability.png" >&2
else
    echo "identifiability.sh: no matplotlib for /usr/bin/python3 (scripts/setup.sh --bench): no figure" >&2
fi
