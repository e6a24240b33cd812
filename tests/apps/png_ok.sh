# png_ok FILE W H: FILE decodes as a PNG (png_check, the test's third argument, in $check; the
# check is skipped without it), is W×H pixels and not blank. Sourced by the CLI tests after they
# define fail().
png_ok() {
    [ -z "${check:-}" ] && return 0
    info=$("$check" "$1") || fail "$1 does not decode as a PNG"
    echo "$info" | awk -v w="$2" -v h="$3" '{ exit !($1 == w && $2 == h && $3 > 0.005) }' ||
        fail "$1: $info (expected $2 $3 and some content)"
}
