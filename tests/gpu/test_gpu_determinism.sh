#!/usr/bin/env bash
# CUDA determinism (label gpu; exit 77 = skipped without a usable device): the same sweep of every
# family trained twice on CUDA gives byte-identical model files, the same state hashes and the
# same metrics, bit for bit (no floating-point atomics, one fmaf chain per product element, fixed reduction order).
source "$(dirname "$0")/../lib.sh" "$@"
source "$(dirname "$0")/gpu_lib.sh"
need_gpus 1
DIGITS="$SRC/configs/data/digits.csv"
cat >"$WORK/d.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, validation_fraction: 0.2, shards: 3, normalize: standard}
run: {passes: 3, seed: 7, backend: cuda}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 32, l2: 0.0001}
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: 0.02, batch_size: 64, schedule: cosine}
  - {kind: kmeans, k: 10, batch_size: 64}
  - {kind: linear, solver: exact, alpha: 1.0, batch_size: 50}
  - {kind: linear, solver: sgd, optimizer: adam, learning_rate: 0.01, alpha: 0.5, batch_size: 40}
  - {kind: mlp, hidden: [32, 16], activation: gelu, optimizer: adam, learning_rate: 0.005, batch_size: 32}
  - {kind: mlp, hidden: [24], activation: relu, optimizer: sgd, momentum: 0.9, learning_rate: 0.02, batch_size: 48}
YAML
for run in a b; do
  "$RT" train "$WORK/d.yaml" --quiet --output "$WORK/$run" 2>"$WORK/$run.err" \
    && pass || fail "CUDA run $run failed: $(cat "$WORK/$run.err")"
done
n=$(ls "$WORK/a/models"/*.rtm 2>/dev/null | wc -l)
[[ $n -eq 7 ]] && pass || fail "expected 7 model files, found $n"
same_models "$WORK/a" "$WORK/b" "second CUDA run"
for column in state_sha256 train_loss val_logloss val_accuracy val_mse val_mae val_r2 val_inertia; do
  col "$WORK/a/results.csv" "$column" >"$WORK/a.$column" 2>/dev/null || continue
  col "$WORK/b/results.csv" "$column" >"$WORK/b.$column"
  cmp -s "$WORK/a.$column" "$WORK/b.$column" && pass || fail "results.csv column $column differs between the runs"
done
finish
