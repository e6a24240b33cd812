#!/bin/sh
# bad_inputs.sh — feeds the scoresde command line every kind of bad input we could think of and
# checks that each one is refused cleanly: the expected exit status (1: a reported failure,
# 2: a usage error) and a message naming what is wrong, never a crash, a hang or a sanitizer report.
#
#   sh tests/apps/bad_inputs.sh BIN SRC              check every case (the ctest apps_test_cli_bad_inputs)
#   sh tests/apps/bad_inputs.sh BIN SRC --table FILE also write the Markdown table (docs/bad-inputs.md)
#
# Every case runs under `timeout` (a hang is a failure). Paths of the scratch directory are shown
# relative to it in the table, so the table does not change from one run to the next.
set -eu
abspath() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }
bin=$(abspath "$1") src=$(abspath "$2")
table=""
[ "${3:-}" = "--table" ] && table=$(abspath "$4")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
failures=0 count=0
rows="$dir/rows.md"
: > "$rows"
limit=${BAD_INPUTS_TIMEOUT:-120}

# case_ SECTION "WHAT" EXIT "SUBSTRING" scoresde-args...
case_() {
    section=$1 what=$2 want_rc=$3 want_msg=$4
    shift 4
    count=$((count + 1))
    rc=0
    timeout "$limit" "$bin" "$@" > out.txt 2> err.txt < /dev/null || rc=$?
    first=$(grep -v '^(see ' err.txt | grep -v '^[a-z]*: [0-9]*%' | head -n 1 | sed "s#$dir/##g")
    ok=1
    [ "$rc" -eq "$want_rc" ] || ok=0
    grep -F -q -- "$want_msg" err.txt || ok=0
    if grep -E -q 'AddressSanitizer|LeakSanitizer|runtime error:' err.txt; then ok=0; fi
    if [ $ok -eq 0 ]; then
        failures=$((failures + 1))
        echo "FAIL [$section] $what: scoresde $*" >&2
        echo "     exit $rc (expected $want_rc); expected message containing: $want_msg" >&2
        sed 's/^/     | /' err.txt | head -n 20 >&2
    fi
    # table row: escape pipes
    args=$(printf '%s ' "$@" | sed "s#$dir/##g; s/ *$//; s/|/\\\\|/g")
    msg=$(printf '%s' "$first" | sed 's/|/\\|/g')
    printf '| %s | %s | `scoresde %s` | %s | %s |\n' "$section" "$what" "$args" "$rc" "$msg" >> "$rows"
}

# ---- files ------------------------------------------------------------------------------------------
cp "$src/models/gmm2d.txt" gmm2d.txt
printf '3 2\n0.5 0 0 0 1 1 1\n0.5 2 2 2 1 1 1\n' > gmm3d.txt
: > empty.txt
printf '1 268435456\n' > gmm_huge.txt
printf '2 1\n1 nan 0 1 1\n' > gmm_nan.txt
printf '2 1\n1 0 0 1 -1\n' > gmm_negstd.txt
printf '2 2\n1 0 0 1 1\n' > gmm_short.txt
printf 'hello world\n' > gmm_text.txt
printf '2 1\n1 1e300 -1e300 1 1\n' > gmm_far.txt
printf '100 100000\n1 0 1\n' > gmm_big.txt
printf 'x0,x1\n0.5,-1\n1,2\n-3,0.25\n' > pts.csv
printf 'x0,x1\n0.5,-1\n' > one.csv
printf 'x0,x1,x2\n0.5,-1,2\n1,2,3\n' > pts3.csv
printf 'x0,x1\n1,nan\n' > nan.csv
printf 'x0,x1\n1,inf\n' > inf.csv
: > empty.csv
printf 'x0,x1\n' > header_only.csv
printf 'x0,x1\n1,2\n3\n' > ragged.csv
printf 'x0,x1\n1,abc\n' > text.csv
printf '1,2\n3,4\n' > noheader.csv
printf 'x0,x0\n1,2\n' > repeated.csv
printf 'x1,x2\n1,2\n' > missing_x0.csv
printf 'x0,x1\n1e999,2\n' > overflow.csv
# .npy files: magic, version 1.0, header length, header, data
npy() { # npy FILE HEADER DATA_BYTES
    h=$2
    len=$((${#h} + 1))
    pad=$(( (64 - (10 + len) % 64) % 64 ))
    hl=$((len + pad))
    { printf '\223NUMPY\001\000'; printf "\\$(printf '%03o' $((hl % 256)))\\$(printf '%03o' $((hl / 256)))";
      printf '%s' "$h"; printf "%${pad}s" ''; printf '\n'; head -c "$3" /dev/zero; } > "$1"
}
npy huge.npy "{'descr': '<f8', 'fortran_order': False, 'shape': (268435456, 2), }" 0
npy short.npy "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }" 40
npy dim3.npy "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }" 48
npy int.npy "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }" 16
npy fortran.npy "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }" 32
npy scalar.npy "{'descr': '<f8', 'fortran_order': False, 'shape': (), }" 8
npy zero.npy "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 2), }" 0
npy nan.npy "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }" 8
printf '\000\000\000\000\000\000\370\177' >> nan.npy
printf 'hello, not numpy' > bad.npy
mkdir -p emptydir idxdir
printf '\000\000\010\003\000\000\000\002\000\000\000\034\000\000\000\034' > idxdir/train-images-idx3-ubyte
printf '\000\000\010\001\000\000\000\002\000\001' > idxdir/train-labels-idx1-ubyte

# tiny trained networks: a 2-D VP model, and its checkpoint
"$bin" train --data moons --sde vp --hidden 8 --blocks 1 --fourier 4 --steps 4 --batch 16 --warmup 1 \
    --checkpoint-every 2 --threads 1 --quiet --out net2.sgm > /dev/null 2>&1
head -c 100 net2.sgm > net_trunc.sgm
cp net2.sgm net_flip.sgm
printf 'X' | dd of=net_flip.sgm bs=1 seek=300 conv=notrunc 2> /dev/null
: > net_empty.sgm
cp gmm2d.txt net_text.sgm

# ---- the cases ----------------------------------------------------------------------------------------
S=options
case_ $S "unknown option" 2 "unknown option '--foo'" solve --foo 1
case_ $S "option without its value" 2 "--steps needs a value" solve --steps
case_ $S "option given twice" 2 "--steps given twice" solve --steps 5 --steps 6
case_ $S "stray argument" 2 "unexpected argument 'extra'" solve extra
case_ $S "flag with a value" 2 "--quiet takes no value" sample --quiet=1
case_ $S "unknown command" 2 "unknown command 'solv'" solv
case_ $S "non-numeric integer" 2 "--steps: 'abc' is not a non-negative integer" solve --steps abc
case_ $S "non-numeric float" 2 "--rtol: 'tight' is not a finite number" solve --method adaptive --rtol tight
case_ $S "number with trailing text" 2 "--t1: '1.5s' is not a finite number" solve --t1 1.5s
case_ $S "NaN as an option" 2 "--t1: 'nan' is not a finite number" solve --t1 nan
case_ $S "Inf as an option" 2 "--t1: 'inf' is not a finite number" solve --t1 inf
case_ $S "integer overflow" 2 "is not a non-negative integer" solve --paths 99999999999999999999999
case_ $S "negative count" 2 "--paths: '-5' is negative" solve --paths -5
case_ $S "negative seed" 2 "--seed: '-1' is negative" solve --seed -1
case_ $S "zero steps" 2 "--steps: 0 is out of range (expected 1 to 1000000000000)" solve --steps 0
case_ $S "zero paths" 2 "--paths: 0 is out of range" solve --paths 0
case_ $S "too many threads" 2 "--threads: 5000 is out of range (expected 0 to 1024)" solve --threads 5000
case_ $S "unknown choice" 2 "--sde: unknown value 'heston'" solve --sde heston
case_ $S "rtol = 0" 2 "--rtol: 0 is out of range (expected (0, 1])" solve --method adaptive --rtol 0
case_ $S "rtol > 1" 2 "--rtol: 2 is out of range" solve --method adaptive --rtol 2
case_ $S "negative atol" 2 "--atol: -1 is out of range" solve --method adaptive --atol -1
case_ $S "t1 = t0" 2 "--t1 0 must be greater than --t0 0" solve --t1 0
case_ $S "t1 < t0" 2 "--t1 1 must be greater than --t0 2" solve --t0 2 --t1 1
case_ $S "parameter not of the form name=value" 2 "'mu' is not of the form name=value" solve --param mu
case_ $S "parameter value not a number" 2 "'mu=fast': value is not a finite number" solve --param mu=fast
case_ $S "parameter the SDE does not have" 2 "'gbm' has no parameter 'theta'" solve --param theta=1
case_ $S "OU with theta <= 0" 2 "ou needs theta > 0" solve --sde ou --param theta=0
case_ $S "x0 of the wrong dimension" 2 "--x0: 2 values given, 'lorenz' has dimension 3" solve --sde lorenz --x0 1,2
case_ $S "x0 not numbers" 2 "--x0: '1,two' is not a comma-separated list" solve --x0 1,two
case_ $S "additive-noise method on multiplicative noise" 2 "--method sra1 needs additive noise" solve --sde gbm --method sra1
case_ $S "--save-every with an adaptive method" 2 "--save-every works with fixed-step methods only" solve --method adaptive --save-every 2
case_ $S "zero samples" 2 "--num: 0 is out of range" sample --model gmm:gmm2d.txt --num 0
case_ $S "zero batch" 2 "--batch: 0 is out of range" sample --model gmm:gmm2d.txt --batch 0
case_ $S "eps outside (0, 0.5]" 2 "--eps: 0.9 is out of range" sample --model gmm:gmm2d.txt --eps 0.9
case_ $S "process with N = 1" 2 "--N: 1 is out of range (expected 2 to" sample --model gmm:gmm2d.txt --N 1
case_ $S "sigma_min >= sigma_max" 1 "sigma" sample --model gmm:gmm2d.txt --sde ve --sigma-min 5 --sigma-max 1
case_ $S "beta_min > beta_max" 1 "beta" sample --model gmm:gmm2d.txt --sde vp --beta-min 30 --beta-max 20
case_ $S "negative eps" 1 "eps = -0.5, expected 0 <= eps < T = 1" sample --model gmm:gmm2d.txt --eps -0.5
case_ $S "tolerance below what doubles resolve (ARKODE)" 1 "ODE back end failed at t = 1, sample 0: dopri5: ERKStepEvolve failed with ARK_TOO_MUCH_ACC" sample --model gmm:gmm2d.txt --sampler ode --ode-solver dopri5 --rtol 1e-300 --atol 1e-300 --num 2 --quiet
case_ $S "tolerance below what doubles resolve (rk45)" 1 "step size underflow at t = 1, sample 0: rk45: path 0: step size" sample --model gmm:gmm2d.txt --sampler ode --rtol 1e-300 --atol 1e-300 --num 2 --quiet
case_ $S "snr = 0" 2 "--snr: 0 is out of range" sample --model gmm:gmm2d.txt --snr 0
case_ $S "predictor and corrector both none" 2 "a PC sampler needs a predictor or a corrector" sample --model gmm:gmm2d.txt --predictor none --corrector none
case_ $S "corrector options with the ODE sampler" 2 "--predictor/--corrector apply to --sampler pc only" sample --model gmm:gmm2d.txt --sampler ode --corrector langevin
case_ $S "class the mixture does not have" 2 "--class 7: needs a gmm: model with more than 7 components" sample --model gmm:gmm2d.txt --class 7
case_ $S "class guidance on a network" 2 "--class 0: needs a gmm: model" sample --model net2.sgm --class 0
case_ $S "compare: sampler spec without a family" 2 "is not of the form pc:..., ode:... or sde:..." compare --model gmm:gmm2d.txt --samplers heun
case_ $S "compare: fixed-step ODE with fractional steps" 2 "a fixed-step solver takes a whole number of steps" compare --model gmm:gmm2d.txt --samplers ode:heun@2.5
case_ $S "compare: adaptive ODE with tolerance >= 1" 2 "an adaptive solver takes a tolerance below 1" compare --model gmm:gmm2d.txt --samplers ode:dopri5@3
case_ $S "compare: no repeats" 2 "--repeats: 0 is out of range (expected 1 to 1000)" compare --model gmm:gmm2d.txt --repeats 0
case_ $S "compare: reference-flow tolerance 0" 2 "--flow-tol: 0 is out of range" compare --model gmm:gmm2d.txt --flow-tol 0
case_ $S "compare: one sample per sampler" 2 "--num: 1, compare needs at least 2 samples per sampler" compare --model gmm:gmm2d.txt --num 1

S=files
case_ $S "model file missing" 1 "missing.txt: cannot open: No such file or directory" sample --model gmm:missing.txt
case_ $S "GMM file empty" 1 "empty.txt: expected the header 'd K', found no data" sample --model gmm:empty.txt
case_ $S "GMM file of prose" 1 "gmm_text.txt:1: expected the header 'd K' (two positive integers), found 'hello'" sample --model gmm:gmm_text.txt
case_ $S "GMM header claims 2^28 components" 1 "gmm_huge.txt:1: expected K = 268435456 component lines after the header, found 0" sample --model gmm:gmm_huge.txt
case_ $S "GMM with a NaN mean" 1 "gmm_nan.txt:2: component 1: mean_1 is nan, expected a finite number" sample --model gmm:gmm_nan.txt
case_ $S "GMM with a negative std" 1 "gmm_negstd.txt:2: component 1: std_2 = -1, expected > 0" sample --model gmm:gmm_negstd.txt
case_ $S "GMM with fewer components than announced" 1 "expected K = 2 component lines after the header, found 1" sample --model gmm:gmm_short.txt
case_ $S "training data: GMM with a NaN" 1 "gmm_nan.txt:2: component 1: mean_1 is nan, expected a finite number" train --data gmm:gmm_nan.txt --out m.sgm
case_ $S "training data: GMM header over the reader's limit" 1 "gmm_huge.txt:1: expected K = 268435456 component lines after the header, found 0" train --data gmm:gmm_huge.txt --out m.sgm
case_ $S "training data: GMM header larger than its text" 1 "gmm_big.txt:2: component 1: expected 1 + 2d = 201 numbers (weight, 100 means, 100 stds), found 3" train --data gmm:gmm_big.txt --out m.sgm
case_ $S "weights file truncated" 1 "net_trunc.sgm: truncated: file holds 100 bytes" sample --model net_trunc.sgm
case_ $S "weights file with a flipped byte" 1 "net_flip.sgm: checksum mismatch" sample --model net_flip.sgm
case_ $S "weights file empty" 1 "net_empty.sgm: truncated: file holds 0 bytes" sample --model net_empty.sgm
case_ $S "weights file that is a text file" 1 "net_text.sgm: bad magic '# A ' (expected 'SGM1')" sample --model net_text.sgm
case_ $S "weights file missing" 1 "nothere.sgm: cannot open: No such file or directory" sample --model nothere.sgm
case_ $S "points file missing" 1 "--in missing.csv: cannot open" likelihood --model gmm:gmm2d.txt --in missing.csv
case_ $S "CSV empty" 1 "empty.csv: empty file (expected a header row with columns x0..x{d-1})" likelihood --model gmm:gmm2d.txt --in empty.csv
case_ $S "CSV with only a header" 1 "header_only.csv: no data rows after the header" likelihood --model gmm:gmm2d.txt --in header_only.csv
case_ $S "CSV without a header" 1 "noheader.csv: header has no data columns (expected x0..x{d-1})" likelihood --model gmm:gmm2d.txt --in noheader.csv
case_ $S "CSV with a repeated column" 1 "repeated.csv: header column x0 is repeated (expected x0..x1 once each)" likelihood --model gmm:gmm2d.txt --in repeated.csv
case_ $S "CSV without column x0" 1 "missing_x0.csv: header column x0 is missing" likelihood --model gmm:gmm2d.txt --in missing_x0.csv
case_ $S "CSV with NaN" 1 "nan.csv:2: field x1 is nan (expected a finite number)" likelihood --model gmm:gmm2d.txt --in nan.csv
case_ $S "CSV with Inf" 1 "inf.csv:2: field x1 is inf (expected a finite number)" likelihood --model gmm:gmm2d.txt --in inf.csv
case_ $S "CSV number overflowing a double" 1 "overflow.csv:2: field x0 is inf" likelihood --model gmm:gmm2d.txt --in overflow.csv
case_ $S "CSV with a short row" 1 "ragged.csv:3: 1 fields, the header has 2" likelihood --model gmm:gmm2d.txt --in ragged.csv
case_ $S "CSV with text in a number column" 1 "text.csv:2: field x1 is not a number" likelihood --model gmm:gmm2d.txt --in text.csv
case_ $S "CSV of the wrong dimension" 1 "pts3.csv: 3 data columns, the model expects dimension 2" likelihood --model gmm:gmm2d.txt --in pts3.csv
case_ $S ".npy header claims 2^28 rows" 1 "huge.npy: truncated .npy file: shape (268435456, 2) needs 4294967296 bytes of data, the file holds 0" likelihood --model gmm:gmm2d.txt --in huge.npy
case_ $S ".npy data cut short" 1 "short.npy: truncated .npy file" likelihood --model gmm:gmm2d.txt --in short.npy
case_ $S ".npy of the wrong dimension" 1 "dim3.npy: rows have 3 values, the model expects dimension 2" likelihood --model gmm:gmm2d.txt --in dim3.npy
case_ $S ".npy of integers" 1 "int.npy: .npy dtype not supported (expected '<f4' or '<f8')" likelihood --model gmm:gmm2d.txt --in int.npy
case_ $S ".npy in Fortran order" 1 "fortran.npy: .npy in Fortran order not supported" likelihood --model gmm:gmm2d.txt --in fortran.npy
case_ $S ".npy scalar" 1 "scalar.npy: .npy array is a scalar" likelihood --model gmm:gmm2d.txt --in scalar.npy
case_ $S ".npy with no rows" 1 "zero.npy: .npy array is empty" likelihood --model gmm:gmm2d.txt --in zero.npy
case_ $S ".npy with NaN" 1 "nan.npy: row 0, column 1 is nan (expected a finite number)" likelihood --model gmm:gmm2d.txt --in nan.npy
case_ $S ".npy that is not one" 1 "bad.npy: not a .npy file (bad magic)" likelihood --model gmm:gmm2d.txt --in bad.npy
case_ $S "unknown built-in point set" 1 "'toy:spiral': expected toy:swissroll" likelihood --model gmm:gmm2d.txt --in toy:spiral
case_ $S "generated points without --num" 1 "'toy:moons' draws fresh points: 1000000000 are too many (at most 10000000; give --num)" likelihood --model gmm:gmm2d.txt --in toy:moons
case_ $S "unknown Fashion-MNIST split" 1 "expected fashion-mnist:test or fashion-mnist:train" likelihood --model gmm:gmm2d.txt --in fashion-mnist:val
case_ $S "output directory missing" 1 "--out nodir/s.csv: cannot create: No such file or directory" sample --model gmm:gmm2d.txt --out nodir/s.csv
case_ $S "PNG of 3-D points" 1 "PNG output needs an image model or 2-D points (this model has dimension 3)" sample --model gmm:gmm3d.txt --num 4 --out s.png
case_ $S "Fashion-MNIST directory empty" 1 "emptydir/train-images-idx3-ubyte: cannot open" train --data fashion-mnist --data-dir emptydir --out m.sgm
case_ $S "Fashion-MNIST IDX file cut short" 1 "train-images-idx3-ubyte: truncated: header says 2×28×28 = 1568 bytes, file holds 0" train --data fashion-mnist --data-dir idxdir --out m.sgm

S=shapes
case_ $S "points of another dimension than the network" 1 "pts3.csv: 3 data columns, the model expects dimension 2" likelihood --model net2.sgm --in pts3.csv
case_ $S "latents of another dimension" 1 "pts3.csv: 3 data columns, the model expects dimension 2" decode --model net2.sgm --in pts3.csv --out x.csv
case_ $S "--sde other than the network's" 1 "--sde ve, but the model was trained for vp" sample --model net2.sgm --sde ve
case_ $S "noise schedule given for a network" 1 "the noise schedule is part of a trained model" sample --model net2.sgm --beta-max 10
case_ $S "mask longer than the dimension" 2 "--mask '1,0,1' has more than 2 entries (the model's dimension)" inpaint --model gmm:gmm2d.txt --in pts.csv --mask 1,0,1 --out i.csv
case_ $S "mask shorter than the dimension" 2 "--mask '1' has 1 entries, the model's dimension is 2" inpaint --model gmm:gmm2d.txt --in pts.csv --mask 1 --out i.csv
case_ $S "mask not 0/1" 2 "--mask '1,2' is not a comma-separated list of 0 and 1" inpaint --model gmm:gmm2d.txt --in pts.csv --mask 1,2 --out i.csv
case_ $S "image mask on points" 2 "--mask 'top' is an image mask; this model has points of dimension 2" inpaint --model gmm:gmm2d.txt --in pts.csv --mask top --out i.csv
case_ $S "interpolation with one point" 1 "one.csv: 1 row, two are needed (the ends)" interpolate --model gmm:gmm2d.txt --in one.csv --out i.csv
case_ $S "U-Net on 2-D points" 2 "--arch unet needs image data" train --data moons --arch unet --out m.sgm
case_ $S "resume with another network size" 1 "cannot resume" train --data moons --sde vp --hidden 16 --blocks 1 --fourier 4 --steps 8 --batch 16 --warmup 1 --threads 1 --quiet --checkpoint net2.sgm.ckpt --resume --out m.sgm
case_ $S "resume with another batch size" 1 "cannot resume: batch is 16 in the checkpoint, 32 requested" train --data moons --sde vp --hidden 8 --blocks 1 --fourier 4 --steps 8 --batch 32 --warmup 1 --threads 1 --quiet --checkpoint net2.sgm.ckpt --resume --out m.sgm
case_ $S "resume from a weights file" 1 "net2.sgm: a weights file without training state, not a checkpoint" train --data moons --sde vp --hidden 8 --blocks 1 --fourier 4 --steps 8 --batch 16 --warmup 1 --threads 1 --quiet --checkpoint net2.sgm --resume --out m.sgm
case_ $S "training: missing --out" 2 "--data and --out are required" train --data moons
case_ $S "training: unknown data set" 2 "--data: unknown data set 'spirals'" train --data spirals --out m.sgm
case_ $S "training: unknown objective" 2 "--objective: unknown value 'sliced' (expected one of: dsm,ssm,ssm-vr,esm)" train --data moons --objective sliced --out m.sgm
case_ $S "exact score matching on images" 2 "--objective esm takes the full trace, one tangent pass per data dimension: refused for D = 784 > 64" train --data fashion-mnist --objective esm --out m.sgm
case_ $S "sliced score matching on the U-Net" 2 "--objective ssm needs the tangent pass of --arch mlp" train --data fashion-mnist --arch unet --objective ssm --out m.sgm
case_ $S "no projections" 2 "--projections: 0 is out of range (expected 1 to 1024)" train --data moons --objective ssm --projections 0 --out m.sgm
case_ $S "discrete noise levels with sub-VP" 2 "--noise-levels 10: expected 0 (continuous time) or at least 2, with --sde ve (NCSN) or vp (DDPM)" train --data moons --sde subvp --noise-levels 10 --out m.sgm
case_ $S "annealed Langevin on a VP model" 2 "--sampler ald: annealed Langevin dynamics runs on the noise levels of a VE model" sample --model net2.sgm --sampler ald
case_ $S "annealed Langevin options with another sampler" 2 "--noise-levels/--steps-per-level/--step-lr apply to --sampler ald only" sample --model gmm:gmm2d.txt --sampler ode --steps-per-level 10
case_ $S "training: zero steps" 2 "--steps: 0 is out of range" train --data moons --steps 0 --out m.sgm
case_ $S "training: learning rate 0" 2 "--lr: 0 is out of range" train --data moons --lr 0 --out m.sgm
case_ $S "training: EMA decay > 1" 2 "--ema: 1.5 is out of range" train --data moons --ema 1.5 --out m.sgm
case_ $S "training: network too wide" 2 "--hidden: 100000 is out of range" train --data moons --hidden 100000 --out m.sgm

S=numerics
case_ $S "mixture whose modes are 1e300 apart (score overflows)" 1 "at t = " sample --model gmm:gmm_far.txt --num 4 --quiet
# Networks whose weights are scaled (checksum repaired): ×1e3 and ×1e6 make the score so steep
# that the adaptive solvers cannot follow it, ×1e30 overflows it. Needs python3 (skipped without).
if command -v python3 > /dev/null; then
    for factor in 1e3 1e6 1e30; do
        python3 - net2.sgm "net_x$factor.sgm" "$factor" <<'PY'
import struct, sys, zlib
src, dst, factor = sys.argv[1], sys.argv[2], float(sys.argv[3])
b = bytearray(open(src, 'rb').read())
flags, = struct.unpack_from('<I', b, 8)
note_bytes, = struct.unpack_from('<I', b, 96)              # after magic, version, flags, config
pos = 100 + note_bytes
n_params, = struct.unpack_from('<Q', b, pos + 8)
n_tensors, = struct.unpack_from('<I', b, pos + 16)
pos += 20 + 68 * n_tensors                                  # the parameter table
for i in range(n_params * (2 if flags & 1 else 1)):         # parameters, then the EMA copy
    v, = struct.unpack_from('<f', b, pos + 4 * i)
    struct.pack_into('<f', b, pos + 4 * i, v * factor)
struct.pack_into('<I', b, len(b) - 4, zlib.crc32(bytes(b[:-4])) & 0xffffffff)
open(dst, 'wb').write(b)
PY
    done
    case_ $S "network scaled ×1e30: the score overflows" 1 "non-finite value (NaN or Inf) at t = 1, sample 0: score model returned" sample --model net_x1e30.sgm --num 2 --threads 1 --quiet --out nf.csv
    case_ $S "network scaled ×1e6: ODE step budget exhausted (ARKODE)" 1 "step budget exhausted at t = 1, sample 0: dopri5: max_steps = 100000 steps taken" sample --model net_x1e6.sgm --sampler ode --ode-solver dopri5 --num 2 --threads 1 --quiet --out budget.csv
    case_ $S "network scaled ×1e6: ODE step size underflow (rk45)" 1 "step size underflow at t = 1, sample 0: rk45: path 0: step size" sample --model net_x1e6.sgm --sampler ode --num 2 --threads 1 --quiet --out budget.csv
    case_ $S "network scaled ×1e6: adaptive SDE step underflow" 1 "step size underflow at t = 1, sample 0: slv_sde_solver_solve_adaptive: path 0 needs a step below |t1 - t0|/2^40" sample --model net_x1e6.sgm --sampler sde --sde-solver adaptive --num 2 --threads 1 --quiet --out underflow.csv
    case_ $S "network scaled ×1e3: adaptive SDE step budget exhausted" 1 "step budget exhausted at t = 0.99998" sample --model net_x1e3.sgm --sampler sde --sde-solver adaptive --num 2 --threads 1 --quiet --out budget2.csv
    case_ $S "network scaled ×1e30: likelihood of a point" 1 "non-finite value (NaN or Inf) at t = 1e-05, sample 0" likelihood --model net_x1e30.sgm --in pts.csv --threads 1 --quiet --out l.csv
    # nothing half-written is left behind by any of them
    for f in nf.csv budget.csv underflow.csv budget2.csv l.csv; do
        if ls "$f"* > /dev/null 2>&1; then
            echo "FAIL: $f (or a temporary of it) left behind by a failed run" >&2
            failures=$((failures + 1))
        fi
    done
else
    echo "bad_inputs: python3 not found, the scaled-network cases are skipped" >&2
fi

# ---- report -------------------------------------------------------------------------------------------
if [ -n "$table" ]; then
    {
        echo "# What bad input gets"
        echo
        echo "Generated by \`sh tests/apps/bad_inputs.sh build/apps/scoresde . --table docs/bad-inputs.md\`; the same"
        echo "script runs as the ctest \`apps_test_cli_bad_inputs\` and fails if any exit status or message changes,"
        echo "if anything crashes, hangs (${limit} s) or trips a sanitizer. Exit status 2 is a usage error (the"
        echo "message is followed by \"(see 'scoresde CMD --help')\"), 1 a reported failure, 0 success. The message"
        echo "is the first line on stderr; scratch-directory paths are shown relative to it."
        echo
        echo "| kind | bad input | command | exit | message |"
        echo "|---|---|---|---|---|"
        cat "$rows"
        echo
        echo "$count cases, $failures unexpected."
    } > "$table.tmp" && mv "$table.tmp" "$table"
fi
echo "bad_inputs: $count cases, $failures failed"
[ "$failures" -eq 0 ]
