#!/usr/bin/env bash
# sweep.method: asha (src/engine/asha.h): asynchronous successive halving, decided at pass
# boundaries from values every rank holds.
#  a. check prints the plan (rungs, places, the most work in model-passes).
#  b. The schedule on 1 rank: 12 models, rungs at passes 1 and 3 of 9, eta 3, 4 at a time: every
#     model starts (in id order), each stops at a rung or finishes; at most n_k - 2 of the n_k
#     models that completed rung k go on (later, better models go on too: asynchronous); a stopped model is marked stopped_early with the
#     passes of its rung, and history.csv has a line per pass it trained; of the first four models
#     (which complete the first rung together) the best by val_logloss at pass 1 goes on; the
#     ranks put the models that trained further first (best.rtm is a finished model).
#     ringtrain results lists them in that order and shows stopped@PASSES for the stopped ones.
#  c. The same model files and results on 2 and 4 ranks.
#  d. SIGKILL on one rank (checkpoints every tick) and SIGTERM mid-tick, resumed: the uninterrupted
#     run's model files and results.
#  e. Refusals: no count, no validation rows with a validation metric, asha with early_terminate.
#  f. hyperband: check prints the brackets; each model stops only at its bracket's rungs (the
#     last bracket has none); the same model files on 2 ranks.
source "$(dirname "$0")/../lib.sh" "$@"
cat >"$WORK/a.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 9, seed: 3, threads: 1}
sweep: {method: asha, count: 12, asha: {min_passes: 1, eta: 3}, parallel: 4}
models:
  - kind: logistic
    optimizer: sgd
    batch_size: 32
    learning_rate: {distribution: log_uniform, min: 0.0001, max: 1.0}
  - kind: mlp
    hidden: [16]
    batch_size: 32
    learning_rate: {distribution: log_uniform, min: 0.0001, max: 0.1}
YAML

out=$("$RT" check "$WORK/a.yaml")
grep -qx "# asha: rungs at passes 1, 3 (then 9); the top 1/3 of a rung goes on; 4 models at once; at most 80 model-passes" <<<"$out" &&
  pass || fail "a. check's asha line: $(grep asha <<<"$out")"

"$RT" train "$WORK/a.yaml" --quiet --output "$WORK/r1" || fail "b. training on 1 rank failed"
why=$(python3 - "$WORK/r1" 2>&1 <<'PY'
import csv, sys
d = sys.argv[1]
res = {int(r["id"]): r for r in csv.DictReader(open(d + "/results.csv"))}
hist = {}
for r in csv.DictReader(open(d + "/history.csv")):
    hist.setdefault(int(r["model_id"]), {})[int(r["pass"])] = float(r["val_logloss"])
assert len(res) == 12, f"{len(res)} models in results.csv"
passes = {i: len(hist.get(i, {})) for i in res}
assert all(p in (1, 3, 9) for p in passes.values()), f"passes not at rungs or the end: {passes}"
for i, r in res.items():
    want = "ok" if passes[i] == 9 else "stopped_early"
    assert r["status"] == want, f"model {i}: status {r['status']} with {passes[i]} passes"
    assert sorted(hist[i]) == list(range(1, passes[i] + 1)), f"model {i}: history passes {sorted(hist[i])}"
n0 = sum(1 for p in passes.values() if p >= 1)
n1 = sum(1 for p in passes.values() if p >= 3)
n9 = sum(1 for p in passes.values() if p >= 9)
assert n0 == 12 and 1 <= n1 <= 12 - 2 and 1 <= n9 <= n1 - 2, f"rung counts {n0} {n1} {n9}"
# Whoever went on from rung 1 (pass 1) is within the top floor(n/3) of the models that had
# completed that rung when it was promoted: at least, better than every model left behind that
# completed the rung before it was chosen. With 4 places and admission in id order, the first
# four (ids 0-3) complete rung 1 together: the best of them goes on.
order = sorted(res, key=lambda i: int(res[i]["rank"]))
assert [passes[i] for i in order] == sorted(passes.values(), reverse=True), \
    f"ranks do not put the models that trained further first: {[(i, passes[i]) for i in order]}"
first = sorted(range(4), key=lambda i: (hist[i][1], i))
assert passes[first[0]] >= 3, f"the best of models 0-3 at pass 1 ({first[0]}) did not go on: {passes}"
PY
) && pass || fail "b. the schedule: $why"

# ringtrain results lists the run's ranking (finished models first) and marks where each
# stopped model stopped.
"$RT" results "$WORK/r1" --top 0 >"$WORK/results.out" || fail "b. ringtrain results failed"
why=$(python3 - "$WORK/r1" "$WORK/results.out" 2>&1 <<'PY'
import csv, sys
res = {int(r["id"]): r for r in csv.DictReader(open(sys.argv[1] + "/results.csv"))}
rows = [l.split() for l in open(sys.argv[2]) if not l.startswith("#")]
ids = [int(r[1]) for r in rows]
assert ids == sorted(res, key=lambda i: int(res[i]["rank"])), f"order {ids}"
for r in rows:
    m = res[int(r[1])]
    want = "ok" if m["status"] == "ok" else f"stopped@{m['passes']}"
    assert r[3] == want, f"model {r[1]}: status shown {r[3]}, expected {want}"
PY
) && pass || fail "b. ringtrain results: $why"

for np in 2 4; do
  "$MPIRUN" "$np" "$RT" train "$WORK/a.yaml" --quiet --output "$WORK/r$np" 2>"$WORK/r$np.err" ||
    fail "c. $np ranks failed: $(head -c 300 "$WORK/r$np.err")"
  same_models "$WORK/r1" "$WORK/r$np" "c. asha on $np ranks vs 1"
  for c in status val_logloss state_sha256; do
    diff <(col "$WORK/r1/results.csv" $c) <(col "$WORK/r$np/results.csv" $c) >/dev/null && pass ||
      fail "c. results.csv column $c differs on $np ranks"
  done
done

code=0
timeout 120 env RINGTRAIN_FAULT=die:1:12 "$MPIRUN" 2 "$RT" train "$WORK/a.yaml" --quiet \
  --set run.checkpoint_every=1 --output "$WORK/k" >"$WORK/k.log" 2>&1 || code=$?
[[ $code -ne 0 && $code -ne 124 ]] && pass || fail "d. SIGKILL on rank 1: exit $code"
ls "$WORK/k/checkpoints"/ckpt-*/MANIFEST >/dev/null 2>&1 && pass || fail "d. no checkpoint before the kill"
"$MPIRUN" 2 "$RT" train "$WORK/a.yaml" --quiet --set run.checkpoint_every=1 --resume "$WORK/k" \
  2>"$WORK/k.res" || fail "d. resume after SIGKILL failed: $(head -c 300 "$WORK/k.res")"
same_models "$WORK/r1" "$WORK/k" "d. SIGKILL and resume"
diff <(col "$WORK/r1/results.csv" status) <(col "$WORK/k/results.csv" status) >/dev/null && pass ||
  fail "d. statuses differ after SIGKILL and resume"
code=0
RINGTRAIN_FAULT=term:1:10 "$MPIRUN" 2 "$RT" train "$WORK/a.yaml" --quiet --output "$WORK/t" \
  2>"$WORK/t.err" || code=$?
[[ $code -eq 75 ]] && pass || fail "d. SIGTERM: exit $code, expected 75: $(head -c 300 "$WORK/t.err")"
"$RT" train "$WORK/a.yaml" --quiet --resume "$WORK/t" 2>"$WORK/t.res" ||
  fail "d. resume after SIGTERM (1 rank) failed: $(head -c 300 "$WORK/t.res")"
same_models "$WORK/r1" "$WORK/t" "d. SIGTERM, resumed on 1 rank"

# hyperband: three brackets (ids mod 3) starting at rungs 1, 3 and none; the same on 2 ranks.
out=$("$RT" check "$WORK/a.yaml" --set sweep.method=hyperband)
grep -qx "# hyperband: bracket 0 (ids 0 mod 3) rungs at passes 1, 3; bracket 1 (ids 1 mod 3) rungs at pass 3; bracket 2 (ids 2 mod 3) no rungs (then 9); the top 1/3 of a rung goes on; 4 models at once; at most 68 model-passes" <<<"$out" &&
  pass || fail "f. check's hyperband line: $(grep hyperband <<<"$out")"
"$RT" train "$WORK/a.yaml" --quiet --set sweep.method=hyperband --output "$WORK/h1" ||
  fail "f. hyperband on 1 rank failed"
"$MPIRUN" 2 "$RT" train "$WORK/a.yaml" --quiet --set sweep.method=hyperband --output "$WORK/h2" ||
  fail "f. hyperband on 2 ranks failed"
same_models "$WORK/h1" "$WORK/h2" "f. hyperband on 2 ranks vs 1"
why=$(python3 - "$WORK/h1" 2>&1 <<'PY'
import csv, sys
passes = {}
for r in csv.DictReader(open(sys.argv[1] + "/history.csv")):
    passes[int(r["model_id"])] = max(passes.get(int(r["model_id"]), 0), int(r["pass"]))
for j, p in passes.items():
    allowed = {0: (1, 3, 9), 1: (3, 9), 2: (9,)}[j % 3]
    assert p in allowed, f"model {j} (bracket {j % 3}) stopped at pass {p}, expected one of {allowed}"
assert all(passes[j] == 9 for j in passes if j % 3 == 2), "bracket 2 has no rungs: all finish"
assert 1 <= sum(1 for j in passes if j % 3 == 1 and passes[j] == 9) <= 4 - 2, "bracket 1: 4 models"
PY
) && pass || fail "f. the hyperband schedule: $why"

expect_run nocount 2 "sweep.count is required with sweep.method: asha" -- \
  "$RT" check "$WORK/a.yaml" --set sweep.count=none
expect_run noval 2 "needs validation rows: give data.validation_fraction or data.validation" -- \
  "$RT" check "$WORK/a.yaml" --set data.validation_fraction=0
expect_run early 2 "sweep.early_terminate and sweep.method: asha exclude each other" -- \
  "$RT" check "$WORK/a.yaml" --set sweep.early_terminate.type=median
"$RT" check "$WORK/a.yaml" --set data.validation_fraction=0 --set sweep.metric.name=train_loss \
  >/dev/null && pass || fail "e. asha ranked by train_loss needs no validation rows"
finish
