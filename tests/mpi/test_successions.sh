#!/usr/bin/env bash
# run.succession (rotate, fixed, shuffle) and run.shards_in_use: every variant gives the same model
# bytes on 1, 2 and 4 ranks; the orders differ from each other; shards_in_use trains on the first
# n shards only.
source "$(dirname "$0")/../lib.sh" "$@"
cat >"$WORK/s.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 2, seed: 9}
models:
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: 0.05, batch_size: 32}
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 64}
  - {kind: mlp, hidden: [16], optimizer: adam, learning_rate: 0.01, batch_size: 32}
YAML
for variant in "rotate auto" "fixed auto" "shuffle auto" "rotate 2" "shuffle 3"; do
  read -r succession used <<<"$variant"
  name="$succession-$used"
  sets=(--set "run.succession=$succession" --set "run.shards_in_use=$used")
  "$RT" train "$WORK/s.yaml" --quiet --output "$WORK/$name-1" "${sets[@]}" || fail "$name: 1 rank"
  for np in 2 4; do
    "$MPIRUN" $np "$RT" train "$WORK/s.yaml" --quiet --output "$WORK/$name-$np" "${sets[@]}" || fail "$name: $np ranks"
    for m in "$WORK/$name-1"/models/*.rtm; do
      cmp -s "$m" "$WORK/$name-$np/models/$(basename "$m")" && pass \
        || fail "$name: $(basename "$m") differs between 1 and $np ranks"
    done
  done
done
# Different orders train different models.
! cmp -s "$WORK/rotate-auto-1/models/1.rtm" "$WORK/fixed-auto-1/models/1.rtm" && pass || fail "fixed = rotate"
! cmp -s "$WORK/rotate-auto-1/models/1.rtm" "$WORK/shuffle-auto-1/models/1.rtm" && pass || fail "shuffle = rotate"
# shards_in_use 2: two passes over the first two shards only.
rows=$(python3 - "$SRC/configs/data/digits.csv" <<'PY'
import sys
# Shards 0 and 1 of 4 by the byte-range rule, minus the 20% held out (round per shard).
data = open(sys.argv[1], 'rb').read()
starts, pos = [], 0
for line in data.split(b'\n'):
    if line.strip(): starts.append(pos)
    pos += len(line) + 1
n = len(data)
cut = lambda s: s * n // 4
counts = [sum(1 for p in starts if cut(s) <= p < cut(s + 1)) for s in range(4)]
print(sum(c - int(c * 0.2 + 0.5) for c in counts[:2]))
PY
)
samples=$("$RT" inspect "$WORK/rotate-2-1/models/0.rtm" | sed -n 's/^  samples=//p')
[[ "$samples" -eq $((2 * rows)) ]] && pass || fail "shards_in_use 2: $samples samples, expected $((2 * rows))"
finish
