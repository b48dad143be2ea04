#!/usr/bin/env bash
# Needs 2 GPUs (label gpu; exit 77 = skipped, saying "needs 2 GPUs", with fewer: NCCL needs a
# physical GPU of its own for each rank). One rank per visible GPU:
#  - tests/test_gpu_nccl: the NCCL ring hand-off, the watchdog, and a failing rank whose peer is
#    waiting on a receive from it (abort first, then the agreement; nobody hangs);
#  - ringtrain on CUDA, 1 rank and 2 ranks: byte-identical model files, for a logistic sweep and a
#    sweep of every family;
#  - more ranks than GPUs on the node: backend cuda is one exit-2 line naming both counts, auto
#    trains on the CPU with a note.
source "$(dirname "$0")/../lib.sh" "$@"
source "$(dirname "$0")/gpu_lib.sh"
need_gpus 2
gpus=$(visible_gpus)
NCCL_TEST="$(dirname "$RT")/tests/test_gpu_nccl"
"$MPIRUN" "$gpus" "$NCCL_TEST" >"$WORK/nccl.out" 2>&1 && pass || fail "test_gpu_nccl on $gpus ranks: $(cat "$WORK/nccl.out")"
for what in "NCCL ring hand-off .* ok" "watchdog and its agreement: ok" "failure of rank .* agreed in .* ok"; do
  [[ $(grep -c "$what" "$WORK/nccl.out") -eq $gpus ]] && pass \
    || fail "not every rank reported '$what': $(cat "$WORK/nccl.out")"
done

DIGITS="$SRC/configs/data/digits.csv"
cat >"$WORK/g.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 3, seed: 5, backend: cuda}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 32, l2: 0.0001}
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: 0.02, batch_size: 64, schedule: cosine}
  - {kind: logistic, optimizer: sgd, learning_rate: 0.05, batch_size: 100, schedule: inverse_time, decay: 0.01}
YAML
cat >"$WORK/f.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, validation_fraction: 0.2, shards: 3, normalize: standard}
run: {passes: 2, seed: 5, backend: cuda}
models:
  - {kind: kmeans, k: 10, batch_size: 64}
  - {kind: linear, solver: exact, alpha: 1.0, batch_size: 50}
  - {kind: linear, solver: sgd, optimizer: adam, learning_rate: 0.01, alpha: 0.5, batch_size: 40}
  - {kind: mlp, hidden: [32, 16], activation: gelu, optimizer: adam, learning_rate: 0.005, batch_size: 32, l2: 0.0001}
  - {kind: mlp, hidden: [24], activation: tanh, output: regression, optimizer: sgd, learning_rate: 0.01, batch_size: 64}
YAML
for sweep in g f; do
  "$RT" train "$WORK/$sweep.yaml" --quiet --output "$WORK/${sweep}1" 2>"$WORK/${sweep}1.err" \
    && pass || fail "$sweep: CUDA on 1 rank failed: $(cat "$WORK/${sweep}1.err")"
  "$MPIRUN" 2 "$RT" train "$WORK/$sweep.yaml" --quiet --output "$WORK/${sweep}2" >"$WORK/${sweep}2.err" 2>&1 \
    && pass || fail "$sweep: CUDA on 2 ranks failed: $(cat "$WORK/${sweep}2.err")"
  same_models "$WORK/${sweep}1" "$WORK/${sweep}2" "$sweep: 2 CUDA ranks"
done

# One rank more than there are GPUs: NCCL would refuse two ranks on one GPU.
np=$((gpus + 1))
expect_run too-many-ranks 2 "runs $np ranks and rank $gpus sees $gpus CUDA devices" -- \
  "$MPIRUN" "$np" "$RT" train "$WORK/g.yaml" --quiet --output "$WORK/over"
"$MPIRUN" "$np" "$RT" train "$WORK/g.yaml" --set run.backend=auto --output "$WORK/over-auto" >"$WORK/over-auto.out" 2>&1 \
  && grep -q "note: backend auto: node .* runs $np ranks and rank $gpus sees $gpus CUDA devices" "$WORK/over-auto.out" \
  && pass || fail "auto with more ranks than GPUs: $(cat "$WORK/over-auto.out")"
finish
