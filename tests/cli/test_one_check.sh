#!/usr/bin/env bash
# One check (include/ringtrain/check.h): `ringtrain check` and `ringtrain train` refuse the same
# configs with the same one error line and exit 2, for every kind of refusal: a family's check, the
# config against the data, the CUDA backend (run.backend: cuda on a machine or build that cannot
# train the run), and several at once (check lists the others as "also:" lines, train names the
# first, the same line).
source "$(dirname "$0")/../lib.sh" "$@"
DIGITS="$SRC/configs/data/digits.csv"

config() { # config NAME "run extras" "models yaml" [data extras]
  { echo "data: {train: $DIGITS, label_column: 64${4:+, $4}}"
    echo "run: {passes: 2, output: $WORK/out-$1${2:+, $2}}"
    echo "models: $3"; } >"$WORK/$1.yaml"
}
same() { # same NAME TEXT: check and train refuse NAME.yaml with one identical line containing TEXT
  expect_run "$1-check" 2 "$2" -- "$RT" check "$WORK/$1.yaml"
  expect_run "$1-train" 2 "$2" -- "$RT" train "$WORK/$1.yaml" --quiet
  local a b
  a=$(grep '^ringtrain: error:' "$WORK/$1-check.err" || true)
  b=$(grep '^ringtrain: error:' "$WORK/$1-train.err" || true)
  if [[ -n "$a" && "$a" == "$b" ]]; then pass; else fail "$1: check said '$a', train said '$b'"; fi
}

# A family's check against the data (1797 rows).
config kmeans-k "" "[{kind: kmeans, k: 5000}]"
same kmeans-k "model 0 (kmeans): k = 5000 is more than the 1797 training rows"

# The training rows after the validation split, counted alike (rt_validation_split_rows,
# rt_check_train_rows): 1797 rows less round(1797 * 0.3) = 539 held out leave 1258 (not the 1257 of
# 1797 * 0.7 rounded down); over 5 shards each rounds on its own (1257 rows); with run.shards_in_use
# only the shards in use count.
config split-k "" "[{kind: kmeans, k: 1259}]" "validation_fraction: 0.3"
same split-k "model 0 (kmeans): k = 1259 is more than the 1258 training rows"
config split-fits "" "[{kind: kmeans, k: 1258, init_sample: 2000}]" "validation_fraction: 0.3"
expect_run split-fits-check 0 "" -- "$RT" check "$WORK/split-fits.yaml"
expect_run split-fits-train 0 "" -- "$RT" train "$WORK/split-fits.yaml" --quiet
config split-shards "" "[{kind: kmeans, k: 1258}]" "validation_fraction: 0.3, shards: 5"
same split-shards "model 0 (kmeans): k = 1258 is more than the 1257 training rows"
config split-in-use "shards_in_use: 2" "[{kind: kmeans, k: 1000}]" "validation_fraction: 0.3, shards: 5"
same split-in-use "model 0 (kmeans): k = 1000 is more than the 503 training rows"

# The config against the data: the shards in use are more than the data's shards.
config shards-in-use "shards_in_use: 3" "[{kind: logistic}]" "shards: 2"
same shards-in-use "run.shards_in_use is 3 but the data has 2 shards"

# CUDA only: (CUDA build, no usable device here, or a CPU-only build) a backend that cannot be had;
# the same words from both commands.
config cuda-here "backend: cuda" "[{kind: logistic}]"
if "$RT" check "$WORK/cuda-here.yaml" >/dev/null 2>&1; then
  echo "note: CUDA trains here; the no-device refusal is not reachable" >&2
else
  same cuda-here "run.backend is cuda"
fi

# The rule on shard rows (rt_shard_rows_check), counted alike: a CSV of 3 rows cut into 5 shards
# has empty shards, and 4 rows in 2 shards with validation_fraction 0.9 hold out every row of a
# shard (before, check refused the first with other words and passed the second, which train
# refused).
head -n 3 "$DIGITS" >"$WORK/three.csv"
head -n 4 "$DIGITS" >"$WORK/four.csv"
{ echo "data: {train: $WORK/three.csv, label_column: 64, shards: 5, classes: 10}"
  echo "run: {passes: 1, output: $WORK/out-empty-shard}"
  echo "models: [{kind: logistic}]"; } >"$WORK/empty-shard.yaml"
same empty-shard "three.csv: shard 2 of 5 is empty: the file has fewer data rows than shards"
{ echo "data: {train: $WORK/four.csv, label_column: 64, shards: 2, classes: 10, validation_fraction: 0.9}"
  echo "run: {passes: 1, output: $WORK/out-held-out}"
  echo "models: [{kind: logistic}]"; } >"$WORK/held-out.yaml"
same held-out "four.csv: shard 0 has no training rows left after holding out validation_fraction 0.9"

# Several refusals at once: check names them all (one error line, the rest as "also:"), train
# the first of them, in the same words.
config several "" "[{kind: kmeans, k: 5000}, {kind: logistic}, {kind: kmeans, k: 3000}]"
same several "model 0 (kmeans): k = 5000 is more than the 1797 training rows"
if grep -qx 'ringtrain: also: model 2 (kmeans): k = 3000 is more than the 1797 training rows' "$WORK/several-check.err"
then pass; else fail "several: check does not list the second refusal: $(cat "$WORK/several-check.err")"; fi
[[ $(wc -l <"$WORK/several-check.err") -eq 2 ]] && pass || fail "several: check printed $(wc -l <"$WORK/several-check.err") lines"
[[ ! -e "$WORK/out-several/results.csv" ]] && pass || fail "several: train wrote results"

# A run that passes: both accept it (check exits 0).
config fine "" "[{kind: kmeans, k: 8}]"
expect_run fine-check 0 "" -- "$RT" check "$WORK/fine.yaml"

finish
