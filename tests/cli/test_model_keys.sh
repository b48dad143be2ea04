#!/usr/bin/env bash
# The model keys seed, data_order and start_shard, and the groups (issue 14): a model of a sweep,
# trained alone from its entry of the resolved config.yaml, gives the same parameter bytes and
# predictions; `check` lists the groups (run.fuse, data_order, start_shard modulo the shards);
# results.csv has a group column, results.jsonl a group field.
source "$(dirname "$0")/../lib.sh" "$@"
DIGITS="$SRC/configs/data/digits.csv"

cat >"$WORK/sweep.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, validation_fraction: 0.2, shards: 2}
run: {passes: 2, seed: 5, output: $WORK/sweep}
models:
  - {kind: softmax, optimizer: adam, learning_rate: [0.01, 0.02, 0.05, 0.1], batch_size: 32}
YAML

# check: rotate over 2 shards, start_shard auto = id (one cost class): models 0,2 start at shard
# 0, 1,3 at shard 1.
"$RT" check "$WORK/sweep.yaml" >"$WORK/check.out" && pass || fail "check exit code"
grep -qx '# groups (run.fuse auto): 2 groups' "$WORK/check.out" && pass || fail "check groups header: $(grep group "$WORK/check.out")"
# the BLAS and whether its products are fused (src/models/fused_gemm.h)
grep -qE '^# blas: OpenBLAS core [A-Za-z0-9_]+, products (not )?fused \(CPU backend\)$' "$WORK/check.out" && pass \
  || fail "check blas line: $(grep blas "$WORK/check.out")"
grep -qx '# group 0: models 0,2 logistic batch=32 size=2 first_shard=0' "$WORK/check.out" && pass || fail "check group 0: $(grep group "$WORK/check.out")"
grep -qx '# group 1: models 1,3 logistic batch=32 size=2 first_shard=1' "$WORK/check.out" && pass || fail "check group 1"
"$RT" check "$WORK/sweep.yaml" --set run.fuse=off >"$WORK/off.out" && pass || fail "check fuse off"
grep -qx '# groups (run.fuse off): 4 groups' "$WORK/off.out" && pass || fail "fuse off: $(grep group "$WORK/off.out")"
grep -qx '# group 3: models 3 logistic batch=32 size=1 first_shard=1' "$WORK/off.out" && pass || fail "fuse off: group 3"
# fixed succession: every model starts at shard 0, one group of four.
"$RT" check "$WORK/sweep.yaml" --set run.succession=fixed >"$WORK/fixed.out" && pass || fail "check fixed"
grep -qx '# group 0: models 0-3 logistic batch=32 size=4 first_shard=0' "$WORK/fixed.out" && pass || fail "fixed: $(grep group "$WORK/fixed.out")"
# Another data order (or start shard, or batch size) is another group.
"$RT" check "$WORK/sweep.yaml" --set run.succession=fixed --set models.2.data_order=9 \
  --set models.1.batch_size=64 >"$WORK/order.out" && pass || fail "check data_order"
grep -qx '# group 0: models 0,3 logistic batch=32 size=2 first_shard=0' "$WORK/order.out" && pass || fail "order: $(grep group "$WORK/order.out")"
grep -qx '# group 1: models 1 logistic batch=64 size=1 first_shard=0' "$WORK/order.out" && pass || fail "order: group 1"
grep -qx '# group 2: models 2 logistic batch=32 size=1 first_shard=0' "$WORK/order.out" && pass || fail "order: group 2"
"$RT" check "$WORK/sweep.yaml" --set models.1.start_shard=2 >"$WORK/start.out" && pass || fail "check start_shard"
grep -qx '# group 0: models 0-2 logistic batch=32 size=3 first_shard=0' "$WORK/start.out" && pass || fail "start_shard mod 2: $(grep group "$WORK/start.out")"

"$RT" train "$WORK/sweep.yaml" --quiet && pass || fail "train the sweep"
[[ "$(col "$WORK/sweep/results.csv" group | tr '\n' ' ')" == "0 1 0 1 " ]] && pass ||
  fail "results.csv group column: $(col "$WORK/sweep/results.csv" group | tr '\n' ' ')"
python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][:-1]  # the last line is the run record
sys.exit(0 if [(r['id'], r['group']) for r in rows] == [(0, 0), (1, 1), (2, 0), (3, 1)] else 1)" \
  "$WORK/sweep/results.jsonl" && pass || fail "results.jsonl group field: $(head -c 300 "$WORK/sweep/results.jsonl")"
# The resolved config carries the three keys of every model as numbers.
for key in seed data_order start_shard; do
  [[ $(grep -cE "^    $key: [0-9]+$" "$WORK/sweep/config.yaml") -eq 4 ]] && pass || fail "config.yaml lacks $key as numbers"
done
grep -qE '^    data_order: 5$' "$WORK/sweep/config.yaml" && pass || fail "data_order auto is not run.seed"

# Model 3's entry alone (the same data and run sections) trains the same model.
awk -v want=3 '
  !inmodels { print; if ($0 == "models:") inmodels = 1; next }
  /^  - / { n++ }
  n == want + 1 { print }' "$WORK/sweep/config.yaml" >"$WORK/alone.yaml"
[[ $(grep -c '^  - ' "$WORK/alone.yaml") -eq 1 ]] && pass || fail "alone.yaml: not one entry"
"$RT" train "$WORK/alone.yaml" --quiet --output "$WORK/alone" && pass || fail "train model 3 alone"
same_params "$WORK/sweep/models/3.rtm" "$WORK/alone/models/0.rtm" && pass || fail "model 3 alone differs from model 3 of the sweep"
"$RT" predict "$WORK/sweep/models/3.rtm" "$DIGITS" --output "$WORK/p3.csv" && pass || fail "predict 3"
"$RT" predict "$WORK/alone/models/0.rtm" "$DIGITS" --output "$WORK/p0.csv" && pass || fail "predict alone"
cmp -s "$WORK/p3.csv" "$WORK/p0.csv" && pass || fail "predictions differ"
# start_shard auto spreads cost classes (src/config/start_shard.c): optimizer varies fastest, so
# by id every sgd model would start at shard 0 and every adam one at shard 1. sgd (class 0) takes
# starts 0, 1; adam (class 1) 1, 2: each start shard gets one of each. Model 3 (adam, start 2)
# trained alone from its resolved entry is still the same model.
cat >"$WORK/mixed.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, validation_fraction: 0.2, shards: 2}
run: {passes: 2, seed: 5, output: $WORK/mixed}
models:
  - {kind: softmax, learning_rate: [0.01, 0.05], optimizer: [sgd, adam], batch_size: 32}
YAML
"$RT" check "$WORK/mixed.yaml" >"$WORK/mixed.out" && pass || fail "check mixed"
grep -qx '# group 0: models 0,3 logistic batch=32 size=2 first_shard=0' "$WORK/mixed.out" && pass ||
  fail "cost classes not spread over the start shards: $(grep '^# group' "$WORK/mixed.out")"
grep -qx '# group 1: models 1-2 logistic batch=32 size=2 first_shard=1' "$WORK/mixed.out" && pass || fail "mixed: group 1"
"$RT" train "$WORK/mixed.yaml" --quiet && pass || fail "train the mixed sweep"
[[ "$(grep -E '^    (optimizer|start_shard):' "$WORK/mixed/config.yaml" | awk '{print $2}' | tr '\n' ' ')" == \
  "sgd 0 adam 1 sgd 1 adam 2 " ]] && pass ||
  fail "config.yaml start shards: $(grep -E '^    (optimizer|start_shard):' "$WORK/mixed/config.yaml" | tr '\n' ' ')"
awk -v want=3 '
  !inmodels { print; if ($0 == "models:") inmodels = 1; next }
  /^  - / { n++ }
  n == want + 1 { print }' "$WORK/mixed/config.yaml" >"$WORK/mixed3.yaml"
"$RT" train "$WORK/mixed3.yaml" --quiet --output "$WORK/mixed3" && pass || fail "train mixed model 3 alone"
same_params "$WORK/mixed/models/3.rtm" "$WORK/mixed3/models/0.rtm" && pass ||
  fail "mixed model 3 alone differs from its sweep self"

# A model of the sweep with another data order trains other bytes (the order is really used).
"$RT" train "$WORK/alone.yaml" --quiet --output "$WORK/other" --set models.0.data_order=6 && pass || fail "train other order"
cmp -s "$WORK/alone/models/0.rtm" "$WORK/other/models/0.rtm" && fail "data_order changes nothing" || pass
finish
