#!/usr/bin/env bash
# Bad input through the real binary: every case ends with exit 2 and ONE line naming the file and
# the row/offset, leaves no results behind, and (under mpirun) is printed once while every rank
# exits. The data corpus is shared with the unit tests (tests/bad_input/data/EXPECTED).
source "$(dirname "$0")/../lib.sh" "$@"
DIGITS="$SRC/configs/data/digits.csv"

config() { # config FILE DATA [extra yaml lines for data:]
  local file=$1 data=$2
  shift 2
  { echo "data:"; echo "  train: $data"; for l in "$@"; do echo "  $l"; done
    echo "run: {passes: 1, output: $WORK/out-$(basename "$file" .yaml)}"
    echo "models: [{kind: logistic, batch_size: 16}]"; } >"$file"
}
no_results() { # the failed run left no results
  if [[ -e "$WORK/out-$1/results.csv" || -n "$(ls "$WORK/out-$1/models" 2>/dev/null)" ]]; then
    fail "$1: results written despite the error"
  else pass; fi
}

# 1. The shared data corpus, read through `train` with the options each case names.
while IFS=$'\t' read -r name text options; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  extra=("label_column: 0" "shards: 1")
  for o in ${options:-}; do
    case $o in
      label=*) extra[0]="label_column: ${o#label=}" ;;
      header=-1) extra+=("header: auto") ;;
      header=0) extra+=("header: false") ;;
      header=1) extra+=("header: true") ;;
      delim=space) extra+=("delimiter: whitespace") ;;
      delim=*) extra+=("delimiter: ${o#delim=}") ;;
      format=*) extra+=("format: ${o#format=}") ;;
    esac
  done
  config "$WORK/corpus-$name.yaml" "$SRC/tests/bad_input/data/$name" "${extra[@]}"
  expect_run "corpus-$name" 2 "$text" -- "$RT" train "$WORK/corpus-$name.yaml" --quiet
  no_results "corpus-$name"
done <"$SRC/tests/bad_input/data/EXPECTED"

# 2. Cases that need the whole program.
expect_run missing-config 2 "nope.yaml: cannot open" -- "$RT" train "$WORK/nope.yaml"
config "$WORK/missing-data.yaml" "$WORK/absent.csv"
expect_run missing-data 2 "absent.csv: cannot open" -- "$RT" train "$WORK/missing-data.yaml"

# A folder given as the config: a usage error on one line, no MPI_ABORT banner.
for cmd in train check; do
  expect_run "config-is-a-directory-$cmd" 2 "$WORK: is a directory; expected a config file" -- "$RT" $cmd "$WORK"
  grep -q MPI_ABORT "$WORK/config-is-a-directory-$cmd.err" && fail "$cmd of a folder: MPI_ABORT banner" || pass
done

# One class in the label column: classifiers are refused by check and train (naming the file and
# the label) unless data.classes is given; clustering ignores labels.
awk -F, -v OFS=, '{ $NF = 3; print }' "$DIGITS" >"$WORK/one-class.csv"
config "$WORK/one-class.yaml" "$WORK/one-class.csv" "label_column: 64"
single="one-class.csv: the label column (label_column 64) holds a single class, 3; a classifier needs two or more"
expect_run one-class-check 2 "$single" -- "$RT" check "$WORK/one-class.yaml"
expect_run one-class-train 2 "$single" -- "$RT" train "$WORK/one-class.yaml"
no_results one-class
expect_run one-class-mpi 2 "$single" -- timeout 60 "$MPIRUN" 2 "$RT" train "$WORK/one-class.yaml"
expect_run one-class-classes-given 0 "" -- "$RT" train "$WORK/one-class.yaml" --quiet --set data.classes=10
printf 'data: {train: %s, label_column: 64}\nrun: {passes: 1, output: %s}\nmodels: [{kind: kmeans, k: 3}]\n' \
  "$WORK/one-class.csv" "$WORK/out-one-class-kmeans" >"$WORK/one-class-kmeans.yaml"
expect_run one-class-kmeans 0 "" -- "$RT" train "$WORK/one-class-kmeans.yaml" --quiet

head -3 "$DIGITS" >"$WORK/three.csv"
config "$WORK/few-rows.yaml" "$WORK/three.csv" "label_column: 64" "shards: 4"
expect_run fewer-rows-than-shards 2 "fewer data rows than shards" -- "$RT" train "$WORK/few-rows.yaml"
no_results few-rows

sed '5s/,\([0-9]*\)$/,12/' "$DIGITS" >"$WORK/val12.csv" # training labels 0..9, row 5 of validation: 12
config "$WORK/label-range.yaml" "$DIGITS" "label_column: 64" "validation: $WORK/val12.csv"
expect_run label-out-of-range 2 "val12.csv: line 5: class label 12 out of range" -- "$RT" train "$WORK/label-range.yaml"
no_results label-range

sed '7s/,\([0-9]*\)$/,2.5/' "$DIGITS" >"$WORK/frac.csv"
config "$WORK/label-frac.yaml" "$WORK/frac.csv" "label_column: 64"
expect_run label-not-integer 2 "frac.csv: line 7: class label 2.5 is not a non-negative integer" -- "$RT" train "$WORK/label-frac.yaml"

touch "$WORK/plainfile"
config "$WORK/unwritable.yaml" "$DIGITS" "label_column: 64"
expect_run unwritable-output 2 "$WORK/plainfile: cannot create directory" -- "$RT" train "$WORK/unwritable.yaml" --output "$WORK/plainfile/run"

printf 'data: {train: %s, label_column: 64}\nrun: {passes: 1, pases: 2}\nmodels: [{kind: logistic}]\n' "$DIGITS" >"$WORK/typo.yaml"
expect_run config-typo 2 "typo.yaml:2:" -- "$RT" train "$WORK/typo.yaml"
grep -qF "did you mean 'passes'" "$WORK/config-typo.err" && pass || fail "config typo: no suggestion"

config "$WORK/fine.yaml" "$DIGITS" "label_column: 64"
expect_run bad-set 2 "run.passes=abc: expected an integer" -- "$RT" train "$WORK/fine.yaml" --set run.passes=abc
expect_run bad-set-key 2 "did you mean 'learning_rate'" -- "$RT" check "$WORK/fine.yaml" --set models.0.learnin_rate=1
expect_run backend-cuda-missing 2 "run.backend is cuda" -- "$RT" train "$WORK/fine.yaml" --set run.backend=cuda
expect_run usage-no-config 2 "missing CONFIG" -- "$RT" train
expect_run usage-unknown-option 2 "unknown option" -- "$RT" train "$WORK/typo.yaml" --bogus
expect_run usage-unknown-command 2 "unknown command" -- "$RT" fly

# 3. Model files: a good one, then damaged copies.
config "$WORK/good.yaml" "$DIGITS" "label_column: 64" "validation_fraction: 0.2"
"$RT" train "$WORK/good.yaml" --quiet || fail "training the reference model failed"
good="$WORK/out-good/models/0.rtm"
size=$(stat -c %s "$good")
head -c $((size / 2)) "$good" >"$WORK/truncated.rtm"
expect_run model-truncated 2 "truncated.rtm" -- "$RT" eval "$WORK/truncated.rtm" "$DIGITS"
cp "$good" "$WORK/flipped.rtm"
printf '\x55' | dd of="$WORK/flipped.rtm" bs=1 seek=$((size - 100)) conv=notrunc status=none
expect_run model-corrupted 2 "checksum mismatch" -- "$RT" inspect "$WORK/flipped.rtm"
expect_run model-not-a-model 2 "bad magic" -- "$RT" predict "$DIGITS" "$DIGITS"
cut -d, -f1-60 "$DIGITS" >"$WORK/narrow.csv"
expect_run eval-wrong-columns 2 "narrow.csv" -- "$RT" eval "$good" "$WORK/narrow.csv"
expect_run predict-output-unwritable 2 "$WORK/plainfile/p.csv" -- "$RT" predict "$good" "$DIGITS" --output "$WORK/plainfile/p.csv"

# 4. Under mpirun: a bad row in the shard of the last rank only. Rank 0 prints the one line,
#    every rank exits with 2, promptly.
awk 'NR == 1700 { sub(/,[0-9]+$/, ",x") } { print }' "$DIGITS" >"$WORK/late.csv"
config "$WORK/late.yaml" "$WORK/late.csv" "label_column: 64" "shards: 4"
expect_run mpi-error-once 2 "late.csv:1700:" -- timeout 60 "$MPIRUN" 4 "$RT" train "$WORK/late.yaml"
no_results late
finish
