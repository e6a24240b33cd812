#!/bin/sh
# Installs the library into a temporary prefix with `cmake --install`, then compiles and runs the
# user guide's C example against the installed copy, found through pkg-config only.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -eu
build=$1 source=$2 extra=${3:-}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
test -f "$prefix/include/scoresde/slv_sde.h"
# shellcheck disable=SC2046,SC2086
cc -std=c11 -Wall -Wextra -Werror $extra "$source/docs/examples/own_sde.c" \
    $(pkg-config --cflags --libs scoresde) -o "$prefix/own_sde"
"$prefix/own_sde"
