#!/bin/sh
# An installed tree works on its own. Installs into a temporary prefix with `cmake --install` (nothing
# is copied from the build by hand), then, from a directory inside neither the build nor the source
# tree and with LD_LIBRARY_PATH unset:
#   - the installed scoresde and libraries carry a RUNPATH relative to $ORIGIN, none into the build
#     tree, and ldd resolves every scoresde library into the prefix;
#   - `scoresde --version` runs, and `scoresde sample` with no --model reads the shipped model from
#     PREFIX/share/scoresde (the summary names the file it loaded); with that directory hidden it
#     fails naming the places it looked, none of them in the source tree, and SCORESDE_DATA_DIR
#     points it elsewhere;
#   - the user guide's C example compiles against the installed copy through pkg-config only, and runs.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -eu
build=$1 source=$2 extra=${3:-}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
prefix=$(cd "$prefix" && pwd -P) # scoresde sees its prefix through /proc/self/exe, links resolved
fail() {
    echo "test_install.sh: $*" >&2
    exit 1
}

cmake --install "$build" --prefix "$prefix" >/dev/null
unset LD_LIBRARY_PATH SCORESDE_DATA_DIR
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
mkdir "$prefix/run"
cd "$prefix/run"
test -f "$prefix/include/scoresde/slv_sde.h" || fail "no $prefix/include/scoresde/slv_sde.h"
libdir=$(cd "$(pkg-config --variable=libdir scoresde)" && pwd -P)
scoresde=$prefix/bin/scoresde
datadir=$prefix/share/scoresde

# Every scoresde library of FILE resolves into the prefix, and nothing is missing.
check_libraries() {
    deps=$(ldd "$1") || fail "ldd $1 failed"
    if echo "$deps" | grep -q 'not found'; then
        fail "$1: libraries not found: $deps"
    fi
    outside=$(echo "$deps" | awk -v p="$prefix/" '/lib(scoresde_[a-z]+|scorenet)\.so/ && index($3, p) != 1')
    test -z "$outside" || fail "$1 loads scoresde libraries from outside $prefix: $outside"
    test -n "$(echo "$deps" | grep 'libscoresde_solvers\.so')" || fail "$1: no libscoresde_solvers in: $deps"
}
for f in "$scoresde" "$libdir/libscoresde_base.so" "$libdir/libscoresde_solvers.so" "$libdir/libscoresde_sde.so" \
    "$libdir/libscorenet.so" "$libdir/libscoresde_netscore.so"; do
    runpath=$(readelf -d "$f" | grep -E '\((RUNPATH|RPATH)\)' || true)
    # shellcheck disable=SC2016 # $ORIGIN is literal
    echo "$runpath" | grep -q 'RUNPATH.*\[\$ORIGIN' || fail "$f: no RUNPATH relative to \$ORIGIN: '$runpath'"
    if echo "$runpath" | grep -qF "$build"; then
        fail "$f: RUNPATH into the build tree: $runpath"
    fi
    case $f in *.so) ;; *) check_libraries "$f" ;; esac
done
check_libraries "$libdir/libscoresde_sde.so"
check_libraries "$libdir/libscoresde_netscore.so"

"$scoresde" --version | grep -q '^scoresde [0-9]' || fail "scoresde --version: no version line"

# The default model, with a cheap sampler (20 Euler steps of the probability-flow ODE).
cheap="--num 4 --sampler ode --ode-solver euler --steps 20 --quiet"
# shellcheck disable=SC2086
summary=$("$scoresde" sample $cheap --out samples.csv)
echo "$summary" | awk -v m="$datadir/fashion_mnist.sgm" '$1 == "model" && $2 == m { found = 1 } END { exit !found }' ||
    fail "sample did not read $datadir/fashion_mnist.sgm: $summary"
test "$(awk 'END { print NR }' samples.csv)" -eq 5 || fail "samples.csv: expected a header and 4 rows"
awk -F, 'NF != 784 { exit 1 }' samples.csv || fail "samples.csv: expected 784 columns on every line"
# the summary's share of pixels beyond ±1.1 is the share in the file
counted=$(awk -F, 'NR > 1 { for (k = 1; k <= NF; k++) { n++; if ($k > 1.1 || $k < -1.1) b++ } }
    END { printf "%.3f", 100 * b / n }' samples.csv)
echo "$summary" | grep -q "^range  *$counted% of pixels beyond ±1.1" ||
    fail "range line does not say $counted%: $(echo "$summary" | grep '^range')"

# With the installed models hidden (inside the temporary prefix) nothing else may stand in.
mv "$datadir" "$datadir.hidden"
# shellcheck disable=SC2086
if "$scoresde" sample $cheap --out hidden.csv >/dev/null 2>err.txt; then
    fail "sample ran with $datadir hidden; the model came from elsewhere"
fi
grep -qF "is in none of the places looked: $datadir/fashion_mnist.sgm (" err.txt ||
    fail "the error does not name $datadir/fashion_mnist.sgm: $(cat err.txt)"
if grep -qF -e "$source" -e "$build" err.txt; then
    fail "the installed scoresde looked into the source or build tree: $(cat err.txt)"
fi
# shellcheck disable=SC2086
summary=$(SCORESDE_DATA_DIR="$datadir.hidden" "$scoresde" sample $cheap --out override.csv)
echo "$summary" | awk -v m="$datadir.hidden/fashion_mnist.sgm" '$1 == "model" && $2 == m { found = 1 } END { exit !found }' ||
    fail "SCORESDE_DATA_DIR=$datadir.hidden: sample did not read the model there: $summary"
mv "$datadir.hidden" "$datadir"

# shellcheck disable=SC2046,SC2086
cc -std=c11 -Wall -Wextra -Werror $extra "$source/docs/examples/own_sde.c" \
    $(pkg-config --cflags --libs scoresde) -o "$prefix/own_sde"
check_libraries "$prefix/own_sde"
"$prefix/own_sde"
