#!/bin/sh
# --help says what the command does: for every subcommand and every option, the default --help
# prints is the value the parser leaves when the option is not given (as --print-options shows
# it), printed once; choices are listed themselves, not as {…}; the help column is aligned by
# display width (a multi-byte character such as × or … is one column) and no line is wider than
# 100 columns. Also: --print-options shows parsed values, and the likelihood's --model default is
# real (the shipped model), as its help says.
# Args: <scoresde binary> <source dir> [png_check].
set -eu
bin=$1 src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# entries FILE: one line per option of a --help text, its wrapped lines joined
entries() {
    awk '/^options:/ { on = 1; next }
         on && /^$/ { if (cur != "") print cur; on = 0; cur = ""; next }
         on && /^  --/ { if (cur != "") print cur; cur = $0; next }
         on && /^    / { line = $0; sub(/^ +/, cur ~ /,$/ ? "" : " ", line); cur = cur line; next }
         END { if (cur != "") print cur }' "$1"
}

for cmd in solve sample likelihood encode decode interpolate inpaint compare train evaluate; do
    "$bin" $cmd --help > "$dir/help.txt" || fail "$cmd --help exited $?"
    "$bin" $cmd --print-options > "$dir/opts.txt" || fail "$cmd --print-options exited $?"
    [ -s "$dir/opts.txt" ] || fail "$cmd --print-options printed nothing"
    ! grep -qF '{…}' "$dir/help.txt" || fail "$cmd --help still shows {…} placeholders"
    # width and alignment, in display columns (UTF-8 continuation bytes removed before counting)
    awk -v cmd="$cmd" '/^options:/ { on = 1; next } on && /^$/ { on = 0 }
        { s = $0; gsub(/[\200-\277]/, "", s) }
        !/^  scoresde / && length(s) > 100 { print cmd ": line wider than 100 columns: " $0; bad = 1 }
        on {
             if (s ~ /^  --/ && match(s, /^  --[^ ]+( [^ ]+)?  +/) && RLENGTH != 28) {
                 print cmd ": help text not at column 29: " $0; bad = 1 } }
        END { exit bad }' "$dir/help.txt" || fail "$cmd --help layout"
    entries "$dir/help.txt" > "$dir/entries.txt"
    while IFS= read -r entry; do
        name=$(echo "$entry" | awk '{ sub(/^--/, "", $1); print $1 }')
        case $name in help | print-options) continue ;; esac
        parsed=$(sed -n "s/^$name=//p" "$dir/opts.txt")
        n_default=$(echo "$entry" | grep -o -i 'default' | wc -l)
        if echo "$entry" | grep -q ' (required)$'; then
            [ "$n_default" -eq 0 ] || fail "$cmd --$name: required, yet its help names a default: $entry"
            [ "$parsed" = "(required)" ] || fail "$cmd --$name: help says required, --print-options '$parsed'"
        elif echo "$entry" | grep -q ' (default .*)$'; then
            [ "$n_default" -eq 1 ] || fail "$cmd --$name: 'default' $n_default times: $entry"
            printed=$(echo "$entry" | sed 's/.* (default \(.*\))$/\1/')
            [ "$printed" = "$parsed" ] ||
                fail "$cmd --$name: --help prints the default '$printed', the parser leaves '$parsed'"
        else
            # flags (off unless given) and repeatable options have no default to print
            [ "$n_default" -eq 0 ] || fail "$cmd --$name: a default in words outside '(default …)': $entry"
            [ -z "$parsed" ] || [ "$parsed" = off ] ||
                fail "$cmd --$name: no default printed, the parser leaves '$parsed'"
        fi
    done < "$dir/entries.txt"
    # every parsed option is listed in the help
    while IFS= read -r line; do
        name=${line%%=*}
        grep -q -- "^  --$name[ ]" "$dir/entries.txt" || grep -q -- "^  --$name\$" "$dir/entries.txt" ||
            fail "$cmd: --$name is parsed but not in --help"
    done < "$dir/opts.txt"
done

# --print-options shows what was parsed, and a derived default only until the option is given
"$bin" sample --num 5 --sampler ode --out x.npy --print-options > "$dir/opts.txt"
grep -qx 'num=5' "$dir/opts.txt" && grep -qx 'sampler=ode' "$dir/opts.txt" && grep -qx 'out=x.npy' "$dir/opts.txt" ||
    fail "sample --print-options after options: $(cat "$dir/opts.txt")"
"$bin" train --print-options > "$dir/opts.txt"
grep -qx 'checkpoint=OUT.ckpt, beside --out' "$dir/opts.txt" || fail "train: checkpoint default: $(grep checkpoint "$dir/opts.txt")"
grep -qx 'data-dir=/usr/share/datasets/fashion-mnist' "$dir/opts.txt" || fail "train: data-dir default"
"$bin" solve --method sri2 --print-options | grep -qx 'method=sri2' || fail "solve --print-options"

# the defaults --help names in words are what the commands do: likelihood without --model reads
# the shipped model (one 784-d point, 5 Euler steps: cheap)
awk 'BEGIN { for (k = 0; k < 784; k++) printf "%sx%d", k ? "," : "", k; print "";
             for (k = 0; k < 784; k++) printf "%s%.3f", k ? "," : "", (k % 28) / 14 - 1; print "" }' > "$dir/img.csv"
"$bin" likelihood --in "$dir/img.csv" --ode-solver euler --steps 5 --quiet > "$dir/l.txt" ||
    fail "likelihood without --model: exit $?"
grep -q '^model .*fashion_mnist.sgm (vp, .*d = 784; no --model given: the shipped model)' "$dir/l.txt" ||
    fail "likelihood without --model did not read the shipped model: $(cat "$dir/l.txt")"
grep -q 'ODE euler (5 fixed steps)' "$dir/l.txt" || fail "likelihood summary of a fixed-step solver: $(cat "$dir/l.txt")"
grep -q '^rows  *not written (no --out given)' "$dir/l.txt" || fail "likelihood summary without --out"
echo ok
