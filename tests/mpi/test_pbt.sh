#!/usr/bin/env bash
# sweep.method: pbt (src/engine/pbt.h): population-based training, decided at pass boundaries
# from values every rank holds.
#  a. check prints the plan (steps, copies, factors).
#  b. One rank: lineage.csv has a line per copy; each copying model ranked in the bottom q at the
#     step's pass and copied one of the top q (by val_logloss in history.csv, its own history);
#     its new values are the copied model's times 0.8 or 1.2, its old ones what it had; replaying
#     lineage.csv over config.yaml's drawn population gives results.csv's final values.
#  c. The state is copied: with a tiny perturbation and the same batches, a model that copied
#     another has (nearly) that model's validation loss at the next pass, and not before.
#  d. The same model files and lineage on 2 and 4 ranks, with deferred visits on 2 ranks (the
#     engine's path for a GPU's backend, told of every step's groups by respec: backend.h), after SIGKILL (checkpoints every step)
#     and SIGTERM with a resume, and from config.yaml trained again.
#  e. Refusals: sweep.parallel, early_terminate, a swept key that is not a number, two entries,
#     an interval not below run.passes.
source "$(dirname "$0")/../lib.sh" "$@"
cat >"$WORK/p.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 8, seed: 3, threads: 1}
sweep: {method: pbt, count: 8, pbt: {interval: 2}}
models:
  - kind: mlp
    batch_size: 32
    hidden: [16]
    learning_rate: {distribution: log_uniform, min: 0.0001, max: 0.3}
    l2: {distribution: uniform, min: 0.0, max: 0.01}
YAML

out=$("$RT" check "$WORK/p.yaml")
grep -qx "# pbt: every model trains all 8 passes together; after passes 2, 4, 6 the bottom 2 copy the state of one of the top 2 and multiply each swept number by 0.8 or 1.2; 8 models; at most 64 model-passes" <<<"$out" &&
  pass || fail "a. check's pbt line: $(grep '^# pbt' <<<"$out")"

"$RT" train "$WORK/p.yaml" --quiet --output "$WORK/r1" 2>"$WORK/r1.err" ||
  fail "b. training on 1 rank failed: $(head -c 300 "$WORK/r1.err")"
why=$(python3 - "$WORK/r1" 2>&1 <<'PY'
import csv, re, sys
d = sys.argv[1]
hist = {}
for r in csv.DictReader(open(d + "/history.csv")):
    hist[(int(r["model_id"]), int(r["pass"]))] = float(r["val_logloss"])
lin = list(csv.DictReader(open(d + "/lineage.csv")))
assert len(lin) == 6, f"{len(lin)} lineage lines, expected 3 steps x 2"
# The drawn population, from config.yaml (expanded, one entry per model).
text = open(d + "/config.yaml").read().split("\nmodels:\n", 1)[1]
cur = {}
for i, block in enumerate(re.split(r"\n  - ", "\n" + text)[1:]):
    vals = dict(re.findall(r"(learning_rate|l2): (\S+)", block))
    cur[i] = {k: float(v) for k, v in vals.items()}
assert len(cur) == 8, f"{len(cur)} models in config.yaml"
for r in lin:
    g, p, m, src = int(r["step"]), int(r["pass"]), int(r["model_id"]), int(r["copied_from"])
    assert p == 2 * g, f"step {g} at pass {p}"
    order = sorted(range(8), key=lambda j: (hist[(j, p)], j))
    assert m in order[-2:], f"step {g}: model {m} is not in the bottom 2 ({order})"
    assert src in order[:2], f"step {g}: model {src} is not in the top 2 ({order})"
    assert abs(float(r["val_logloss"]) - hist[(m, p)]) < 1e-12, "the copying model's metric"
    assert abs(float(r["source_val_logloss"]) - hist[(src, p)]) < 1e-12, "the copied one's"
    for k in ("learning_rate", "l2"):
        new, was = float(r[k]), float(r[k + "_was"])
        assert abs(was - cur[m][k]) <= 1e-12 * max(1, abs(was)), f"{k}_was of model {m}: {was} vs {cur[m][k]}"
        ok = [abs(new - cur[src][k] * f) <= 1e-12 * max(1e-300, abs(new)) for f in (0.8, 1.2)]
        assert any(ok), f"step {g}: {k} {new} is not {cur[src][k]} x 0.8 or 1.2"
    cur[m] = {k: float(r[k]) for k in ("learning_rate", "l2")}
for r in csv.DictReader(open(d + "/results.csv")):
    j = int(r["id"])
    for k in ("learning_rate", "l2"):
        assert abs(float(r[k]) - cur[j][k]) <= 1e-12 * max(1, cur[j][k]), f"results.csv {k} of {j}"
PY
) && pass || fail "b. the lineage: $why"

# c. A perturbation of 1e-9 and every model on the same batches (start_shard 0): a copying model
# trains the next pass as the model it copied.
"$RT" train "$WORK/p.yaml" --quiet --set sweep.pbt.perturb=1e-9 --set models.*.start_shard=0 \
  --output "$WORK/c" 2>"$WORK/c.err" || fail "c. training failed: $(head -c 300 "$WORK/c.err")"
why=$(python3 - "$WORK/c" 2>&1 <<'PY'
import csv, sys
d = sys.argv[1]
hist = {}
for r in csv.DictReader(open(d + "/history.csv")):
    hist[(int(r["model_id"]), int(r["pass"]))] = float(r["val_logloss"])
for r in csv.DictReader(open(d + "/lineage.csv")):
    p, m, src = int(r["pass"]), int(r["model_id"]), int(r["copied_from"])
    before = abs(hist[(m, p)] - hist[(src, p)])
    after = abs(hist[(m, p + 1)] - hist[(src, p + 1)])
    assert before > 1e-3, f"model {m} and {src} already alike at pass {p}"
    # the copied model may itself be copied over later at p + 1's step: not here (interval 2)
    assert after < 1e-6 * max(1.0, abs(hist[(src, p + 1)])), \
        f"pass {p + 1}: model {m} ({hist[(m, p + 1)]}) did not continue from model {src} ({hist[(src, p + 1)]})"
PY
) && pass || fail "c. the copied state: $why"

for np in 2 4; do
  "$MPIRUN" "$np" "$RT" train "$WORK/p.yaml" --quiet --output "$WORK/r$np" 2>"$WORK/r$np.err" ||
    fail "d. $np ranks failed: $(head -c 300 "$WORK/r$np.err")"
  same_models "$WORK/r1" "$WORK/r$np" "d. pbt on $np ranks vs 1"
  cmp -s "$WORK/r1/lineage.csv" "$WORK/r$np/lineage.csv" && pass ||
    fail "d. lineage.csv differs on $np ranks"
done
RINGTRAIN_DEFER_VISITS=2 "$MPIRUN" 2 "$RT" train "$WORK/p.yaml" --quiet --output "$WORK/rd" \
  2>"$WORK/rd.err" || fail "d. deferred visits on 2 ranks failed: $(head -c 300 "$WORK/rd.err")"
same_models "$WORK/r1" "$WORK/rd" "d. pbt with deferred visits on 2 ranks vs 1"
cmp -s "$WORK/r1/lineage.csv" "$WORK/rd/lineage.csv" && pass || fail "d. lineage.csv differs (deferred)"
code=0
timeout 120 env RINGTRAIN_FAULT=die:1:45 "$MPIRUN" 2 "$RT" train "$WORK/p.yaml" --quiet \
  --set run.checkpoint_every=1 --output "$WORK/k" >"$WORK/k.log" 2>&1 || code=$?
[[ $code -ne 0 && $code -ne 124 ]] && pass || fail "d. SIGKILL on rank 1: exit $code"
"$MPIRUN" 2 "$RT" train "$WORK/p.yaml" --quiet --set run.checkpoint_every=1 --resume "$WORK/k" \
  2>"$WORK/k.res" || fail "d. resume after SIGKILL failed: $(head -c 300 "$WORK/k.res")"
same_models "$WORK/r1" "$WORK/k" "d. SIGKILL and resume"
cmp -s "$WORK/r1/lineage.csv" "$WORK/k/lineage.csv" && pass || fail "d. lineage after SIGKILL"
for n in 10 33; do
  code=0
  RINGTRAIN_FAULT=term:1:$n "$MPIRUN" 2 "$RT" train "$WORK/p.yaml" --quiet --output "$WORK/t$n" \
    2>"$WORK/t$n.err" || code=$?
  [[ $code -eq 75 ]] && pass || fail "d. SIGTERM at $n: exit $code: $(head -c 300 "$WORK/t$n.err")"
  "$RT" train "$WORK/p.yaml" --quiet --resume "$WORK/t$n" 2>"$WORK/t$n.res" ||
    fail "d. resume after SIGTERM at $n failed: $(head -c 300 "$WORK/t$n.res")"
  same_models "$WORK/r1" "$WORK/t$n" "d. SIGTERM at $n, resumed on 1 rank"
done
"$RT" train "$WORK/r1/config.yaml" --quiet --output "$WORK/again" 2>"$WORK/again.err" ||
  fail "d. training config.yaml again failed: $(head -c 300 "$WORK/again.err")"
same_models "$WORK/r1" "$WORK/again" "d. config.yaml of the run trained again"
cmp -s "$WORK/r1/lineage.csv" "$WORK/again/lineage.csv" && pass || fail "d. lineage from config.yaml"

expect_run parallel 2 "sweep.parallel does not apply to sweep.method: pbt" -- \
  "$RT" check "$WORK/p.yaml" --set sweep.parallel=2
expect_run early 2 "sweep.early_terminate and sweep.method: pbt exclude each other" -- \
  "$RT" check "$WORK/p.yaml" --set sweep.early_terminate.type=median
expect_run interval 2 "sweep.pbt.interval (8) must be below run.passes (8)" -- \
  "$RT" check "$WORK/p.yaml" --set sweep.pbt.interval=8
sed 's/    hidden: \[16\]/    hidden: [[16], [32]]/' "$WORK/p.yaml" >"$WORK/h.yaml"
expect_run hidden 2 "h.yaml:7:13: models[0].hidden: sweep.method: pbt copies states between its models" -- \
  "$RT" check "$WORK/h.yaml"
{ cat "$WORK/p.yaml"; echo "  - {kind: mlp, hidden: [8]}"; } >"$WORK/two.yaml"
expect_run entries 2 "models: sweep.method: pbt takes one models entry" -- \
  "$RT" check "$WORK/two.yaml"
finish
