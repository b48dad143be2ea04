#!/usr/bin/env bash
# The ring gives the same model bytes as one machine: one config (S = 4 shards, models of every
# optimizer and schedule, k-means with mini-batch, mini-batch then Lloyd, and Lloyd passes)
# trained on 1, 2, 3 and 4 ranks must produce byte-identical model files,
# for CSV and for .npy input. Threads are pinned (run.threads = 1).
source "$(dirname "$0")/../lib.sh" "$@"

python3 - "$SRC/configs/data/digits.csv" "$WORK/digits.npy" <<'PY'
import struct, sys
rows = [list(map(float, l.split(','))) for l in open(sys.argv[1]) if l.strip()]
hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), len(rows[0]))
hdr += ' ' * (64 - (10 + len(hdr) + 1) % 64) + '\n'
with open(sys.argv[2], 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode())
    for r in rows: f.write(struct.pack('<%df' % len(r), *r))
PY

for data in digits.csv digits.npy; do
  src_data="$SRC/configs/data/digits.csv" normalize=none
  [[ $data == digits.npy ]] && src_data="$WORK/digits.npy" normalize=standard
  cat >"$WORK/eq.yaml" <<YAML
data:
  train: $src_data
  label_column: 64
  validation_fraction: 0.2
  shards: 4
  normalize: $normalize
run:
  passes: 3
  seed: 7
  eval_every_pass: true
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 32, l2: 0.0001}
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: 0.05, batch_size: 50, schedule: cosine}
  - {kind: logistic, optimizer: sgd, learning_rate: 0.1, batch_size: 17, schedule: inverse_time, decay: 0.01}
  - {kind: logistic, optimizer: adam, learning_rate: 0.003, batch_size: 128, schedule: cosine, l2: 0.001}
  - {kind: logistic, optimizer: sgd, momentum: 0.5, learning_rate: 0.02, batch_size: 64}
  - {kind: kmeans, k: 10, batch_size: 64, init_sample: 300}
  - {kind: mlp, hidden: [24, 12], activation: gelu, optimizer: adam, learning_rate: 0.01, batch_size: 32, l2: 0.0001}
  - {kind: mlp, hidden: [16], activation: tanh, output: regression, optimizer: sgd, momentum: 0.9, learning_rate: 0.001, batch_size: 50}
  - {kind: linear, solver: exact, alpha: 0.1, batch_size: 100}
  - {kind: linear, solver: exact, alpha: 10, batch_size: 100}
  - {kind: linear, solver: sgd, optimizer: adam, learning_rate: 0.001, alpha: 1, batch_size: 64}
  - {kind: kmeans, k: 8, batch_size: 50, init_sample: 300, lloyd_passes: 2}
  - {kind: kmeans, k: 12, batch_size: 40, algorithm: lloyd, init_trials: 3}
YAML
  "$RT" train "$WORK/eq.yaml" --quiet --output "$WORK/$data-r1" || fail "$data: 1 rank failed"
  for np in 2 3 4; do
    "$MPIRUN" $np "$RT" train "$WORK/eq.yaml" --quiet --output "$WORK/$data-r$np" \
      || fail "$data: $np ranks failed"
  done
  n=$(ls "$WORK/$data-r1/models" | wc -l)
  [[ $n -eq 13 ]] && pass || fail "$data: expected 13 model files, found $n"
  # The Lloyd model (12) moves its centres at every pass end (the engine's pass-end hook): its
  # training loss (the inertia before each step) falls pass after pass.
  awk -F, '$1 == 12 { l[$2] = $3 } END { exit !(l[2] < l[1] && l[3] < l[2]) }' "$WORK/$data-r1/history.csv" \
    && pass || fail "$data: the Lloyd model's loss does not fall: $(grep '^12,' "$WORK/$data-r1/history.csv" | tr '\n' ' ')"
  # The second exact model differs only in alpha: it shares the first one's statistics pass.
  [[ $(col "$WORK/$data-r1/results.csv" pass_shared_with | sed -n 10p) == 8 ]] && pass \
    || fail "$data: model 9 does not share model 8's pass"
  for np in 2 3 4; do
    # Per-pass validation metrics are measured along the ring: the same on every layout too.
    cmp -s "$WORK/$data-r1/history.csv" "$WORK/$data-r$np/history.csv" && pass \
      || fail "$data: history.csv differs between 1 and $np ranks"
    for m in "$WORK/$data-r1"/models/*.rtm; do
      if cmp -s "$m" "$WORK/$data-r$np/models/$(basename "$m")"; then pass
      else fail "$data: $(basename "$m") differs between 1 and $np ranks"; fi
    done
    # The validation metrics are reduced in shard order, so they agree to the last digit too.
    metrics() { paste -d, <(col "$1" train_loss) <(col "$1" val_logloss) <(col "$1" val_accuracy) \
                          <(col "$1" val_inertia) <(col "$1" val_rmse) <(col "$1" state_sha256); }
    if diff <(metrics "$WORK/$data-r1/results.csv") <(metrics "$WORK/$data-r$np/results.csv") >/dev/null; then pass
    else fail "$data: results differ between 1 and $np ranks"; fi
  done
  # With 4 ranks every step to the next shard is a hand-off: 3 passes x 4 shards - 1 = 11 per
  # model (11 models), the exact linear model makes one pass (3), the one sharing its pass none;
  # with 1 rank there are none.
  hops=$(col "$WORK/$data-r4/results.csv" hops | awk '{ s += $1 } END { print s }')
  [[ $hops -eq 124 ]] && pass || fail "$data: expected 124 hand-offs with 4 ranks, got $hops"
  hops1=$(col "$WORK/$data-r1/results.csv" hops | awk '{ s += $1 } END { print s }')
  [[ $hops1 -eq 0 ]] && pass || fail "$data: 1 rank recorded $hops1 hand-offs"
done

# Ranks on different OpenBLAS cores (a mixed cluster): the run trains and its note says so, with
# both cores; ranks on one core get no such note. Haswell and Zen are AVX2 kernels (any x86-64
# machine these tests run on has AVX2).
cat >"$WORK/cores.sh" <<SH
#!/bin/sh
if [ "\${OMPI_COMM_WORLD_RANK:-0}" = 1 ]; then OPENBLAS_CORETYPE=\${CORE_1:-Haswell}; else OPENBLAS_CORETYPE=Haswell; fi
export OPENBLAS_CORETYPE
exec "$RT" "\$@"
SH
chmod +x "$WORK/cores.sh"
CORE_1=Zen "$MPIRUN" 2 "$WORK/cores.sh" train "$WORK/eq.yaml" --output "$WORK/mixed" \
  >"$WORK/mixed.out" 2>&1 && pass || fail "2 ranks on two BLAS cores failed: $(tail -3 "$WORK/mixed.out")"
grep -q '^# note: .*ranks run different OpenBLAS cores (rank 0 Haswell, rank 1 Zen)' "$WORK/mixed.out" && pass \
  || fail "no note about the BLAS cores: $(grep -i note "$WORK/mixed.out")"
CORE_1=Haswell "$MPIRUN" 2 "$WORK/cores.sh" train "$WORK/eq.yaml" --output "$WORK/alike" \
  >"$WORK/alike.out" 2>&1 && pass || fail "2 ranks on one BLAS core failed: $(tail -3 "$WORK/alike.out")"
! grep -q 'OpenBLAS cores' "$WORK/alike.out" && pass || fail "a note about BLAS cores where they agree"
finish
