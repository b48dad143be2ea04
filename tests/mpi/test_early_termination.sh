#!/usr/bin/env bash
# sweep.early_terminate median: after each pass (from min_passes on) the models whose training
# loss is worse than the median of their kind stop and are marked stopped_early; the decisions
# use every model's loss, and the results are byte-identical for 1, 2 and 4 ranks.
source "$(dirname "$0")/../lib.sh" "$@"
cat >"$WORK/et.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 4, seed: 3}
sweep:
  early_terminate: {type: median, min_passes: 2}
models:
  - {kind: logistic, optimizer: sgd, learning_rate: [0.3, 0.1, 0.03, 0.01, 0.003, 0.001], batch_size: 64}
  - {kind: kmeans, k: [4, 8, 16], batch_size: 64}
YAML
"$RT" train "$WORK/et.yaml" --quiet --output "$WORK/r1" || fail "1 rank failed"
for np in 2 4; do
  "$MPIRUN" $np "$RT" train "$WORK/et.yaml" --quiet --output "$WORK/r$np" || fail "$np ranks failed"
  for m in "$WORK/r1"/models/*.rtm; do
    cmp -s "$m" "$WORK/r$np/models/$(basename "$m")" && pass \
      || fail "$(basename "$m") differs between 1 and $np ranks"
  done
done
python3 - "$WORK/r1/results.csv" "$WORK/r1/history.csv" <<'PY' && pass || fail "early termination did not act as the median rule says"
import csv, sys, collections
rows = list(csv.DictReader(open(sys.argv[1])))
hist = collections.defaultdict(dict)
for r in csv.DictReader(open(sys.argv[2])):
    hist[int(r["model_id"])][int(r["pass"])] = float(r["train_loss"])
stopped = [r for r in rows if r["status"] == "stopped_early"]
assert stopped, "no model stopped"
assert any(r["status"] == "ok" for r in rows), "every model stopped"
for r in rows:
    done = len(hist[int(r["id"])])
    assert (done < 4) == (r["status"] == "stopped_early"), (r["id"], done, r["status"])
    assert done >= 2, (r["id"], done)
# Replay the rule: a model stops after pass p when its loss is above the median of its kind's
# models that finished pass p.
for r in stopped:
    j, p = int(r["id"]), len(hist[int(r["id"])])
    same = [int(o["id"]) for o in rows if o["kind"] == r["kind"] and p in hist[int(o["id"])]]
    losses = sorted(hist[i][p] for i in same)
    n = len(losses)
    median = losses[n // 2] if n % 2 else 0.5 * (losses[n // 2 - 1] + losses[n // 2])
    assert hist[j][p] > median, (j, p, hist[j][p], median)
PY
finish
