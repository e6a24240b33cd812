#!/bin/sh
# Every bad input of tests/apps/bad_inputs.sh is refused with its expected exit status and message
# (the table docs/bad-inputs.md is that script's output). Args: <scoresde binary> <source dir>.
exec sh "$(dirname "$0")/bad_inputs.sh" "$1" "$2"
