#!/usr/bin/env bash
# sweep.method: tpe (src/config/sweep_tpe.h, src/engine/asha.h): the first sweep.tpe.startup
# models drawn at random, the rest suggested by the tree-structured Parzen estimator in rounds of
# sweep.parallel, decided from values every rank holds.
#  a. check prints the plan (random models, rounds, places, the most work in model-passes).
#  b. One rank: the startup models are random's draws, value for value; every suggested model
#     differs from random's draw in a swept value; config.yaml (the models as trained) trains the
#     same model files again; results.csv has the suggested values.
#  c. The same model files and results on 2 and 4 ranks, and with deferred visits on 2 ranks (the
#     engine's path for a GPU's backend, told of each round's suggestions by respec: backend.h).
#  d. SIGKILL on one rank (checkpoints every tick) and SIGTERM inside a later round, resumed: the
#     uninterrupted run's model files.
#  e. tpe with early_terminate: asha: check prints the rungs; models stop at rungs only; the same
#     on 4 ranks and after a SIGTERM and resume.
#  f. Refusals: no sweep.parallel, early_terminate median with tpe, early_terminate asha without
#     tpe, a swept normalize.
source "$(dirname "$0")/../lib.sh" "$@"
cat >"$WORK/t.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 4, seed: 3, threads: 1}
sweep: {method: tpe, count: 16, parallel: 4, tpe: {startup: 6}}
models:
  - kind: mlp
    batch_size: 32
    hidden: {values: [[8], [16], [32]]}
    learning_rate: {distribution: log_uniform, min: 0.0001, max: 1.0}
    l2: {distribution: uniform, min: 0.0, max: 0.01}
    activation: [relu, tanh]
YAML

out=$("$RT" check "$WORK/t.yaml")
grep -qx "# tpe: the first 6 models drawn at random, then 3 rounds of up to 4 suggested from the results so far (gamma 0.25, 24 candidates); every model trains all 4 passes; 4 models at once; at most 64 model-passes" <<<"$out" &&
  pass || fail "a. check's tpe line: $(grep '^# tpe' <<<"$out")"

"$RT" train "$WORK/t.yaml" --quiet --output "$WORK/r1" 2>"$WORK/r1.err" ||
  fail "b. training on 1 rank failed: $(head -c 300 "$WORK/r1.err")"
"$RT" train "$WORK/t.yaml" --quiet --set sweep.method=random --set run.eval_every_pass=true \
  --output "$WORK/rand" ||
  fail "b. the same sweep as random failed"
why=$(python3 - "$WORK/r1" "$WORK/rand" 2>&1 <<'PY'
import csv, sys
tpe = {int(r["id"]): r for r in csv.DictReader(open(sys.argv[1] + "/results.csv"))}
rnd = {int(r["id"]): r for r in csv.DictReader(open(sys.argv[2] + "/results.csv"))}
keys = ["learning_rate", "l2", "hidden", "activation"]
assert len(tpe) == 16 and all(tpe[i]["status"] == "ok" for i in tpe), "16 finished models"
for i in range(6):
    assert all(tpe[i][k] == rnd[i][k] for k in keys), f"startup model {i} is not random's draw"
    assert tpe[i]["state_sha256"] == rnd[i]["state_sha256"], f"startup model {i} trained otherwise"
for i in range(6, 16):
    assert any(tpe[i][k] != rnd[i][k] for k in keys), f"model {i} is random's draw, not suggested"
    assert 1e-4 <= float(tpe[i]["learning_rate"]) <= 1.0, f"model {i}: learning_rate out of range"
    assert 0.0 <= float(tpe[i]["l2"]) <= 0.01, f"model {i}: l2 out of range"
    assert tpe[i]["activation"] in ("relu", "tanh"), f"model {i}: activation"
PY
) && pass || fail "b. the suggestions: $why"
grep -q "method: tpe" "$WORK/r1/config.yaml" && grep -q "expanded: true" "$WORK/r1/config.yaml" &&
  pass || fail "b. config.yaml does not record the expanded tpe sweep"
"$RT" train "$WORK/r1/config.yaml" --quiet --output "$WORK/again" 2>"$WORK/again.err" ||
  fail "b. training config.yaml again failed: $(head -c 300 "$WORK/again.err")"
same_models "$WORK/r1" "$WORK/again" "b. config.yaml of the run trained again"

for np in 2 4; do
  "$MPIRUN" "$np" "$RT" train "$WORK/t.yaml" --quiet --output "$WORK/r$np" 2>"$WORK/r$np.err" ||
    fail "c. $np ranks failed: $(head -c 300 "$WORK/r$np.err")"
  same_models "$WORK/r1" "$WORK/r$np" "c. tpe on $np ranks vs 1"
  for c in status val_logloss learning_rate state_sha256; do
    diff <(col "$WORK/r1/results.csv" $c) <(col "$WORK/r$np/results.csv" $c) >/dev/null && pass ||
      fail "c. results.csv column $c differs on $np ranks"
  done
done
RINGTRAIN_DEFER_VISITS=2 "$MPIRUN" 2 "$RT" train "$WORK/t.yaml" --quiet --output "$WORK/rd" \
  2>"$WORK/rd.err" || fail "c. deferred visits on 2 ranks failed: $(head -c 300 "$WORK/rd.err")"
same_models "$WORK/r1" "$WORK/rd" "c. tpe with deferred visits on 2 ranks vs 1"

# The kill comes after the second checkpoint (a tick is a round here): the resume replays the
# suggestions from the checkpoint's states. The SIGTERM falls inside the third round.
code=0
timeout 120 env RINGTRAIN_FAULT=die:1:40 "$MPIRUN" 2 "$RT" train "$WORK/t.yaml" --quiet \
  --set run.checkpoint_every=1 --output "$WORK/k" >"$WORK/k.log" 2>&1 || code=$?
[[ $code -ne 0 && $code -ne 124 ]] && pass || fail "d. SIGKILL on rank 1: exit $code"
[[ $(ls -d "$WORK/k/checkpoints"/ckpt-* 2>/dev/null | wc -l) -ge 1 ]] && pass ||
  fail "d. no checkpoint before the kill"
"$MPIRUN" 2 "$RT" train "$WORK/t.yaml" --quiet --set run.checkpoint_every=1 --resume "$WORK/k" \
  2>"$WORK/k.res" || fail "d. resume after SIGKILL failed: $(head -c 300 "$WORK/k.res")"
same_models "$WORK/r1" "$WORK/k" "d. SIGKILL and resume"
code=0
RINGTRAIN_FAULT=term:1:50 "$MPIRUN" 2 "$RT" train "$WORK/t.yaml" --quiet --output "$WORK/t" \
  2>"$WORK/t.err" || code=$?
[[ $code -eq 75 ]] && pass || fail "d. SIGTERM: exit $code, expected 75: $(head -c 300 "$WORK/t.err")"
# A refused resume names no checkpoint config here: tpe's holds the drawn models, not the
# suggested ones, so only the config it was started from resumes it.
expect_run tpe_diff 2 "1 setting differs from the checkpoint: run.passes" -- \
  "$RT" train "$WORK/t.yaml" --quiet --resume "$WORK/t" --set run.passes=9
grep -q "its own config is" "$WORK/tpe_diff.err" && fail "d. the refusal points a tpe sweep to its checkpoint's config" || pass
"$RT" train "$WORK/t.yaml" --quiet --resume "$WORK/t" 2>"$WORK/t.res" ||
  fail "d. resume after SIGTERM (1 rank) failed: $(head -c 300 "$WORK/t.res")"
same_models "$WORK/r1" "$WORK/t" "d. SIGTERM, resumed on 1 rank"

# tpe stopped by asha: rungs at passes 1 and 3 of 9.
A=(--set sweep.early_terminate.type=asha --set run.passes=9)
out=$("$RT" check "$WORK/t.yaml" "${A[@]}")
grep -qx "# tpe: the first 6 models drawn at random, then 3 rounds of up to 4 suggested from the results so far (gamma 0.25, 24 candidates); rungs at passes 1, 3 (then 9); the top 1/3 of a rung goes on; 4 models at once; at most 116 model-passes" <<<"$out" &&
  pass || fail "e. check's tpe line with asha: $(grep '^# tpe' <<<"$out")"
"$RT" train "$WORK/t.yaml" "${A[@]}" --quiet --output "$WORK/a1" || fail "e. tpe with asha failed"
why=$(python3 - "$WORK/a1" 2>&1 <<'PY'
import csv, sys
passes = {}
for r in csv.DictReader(open(sys.argv[1] + "/history.csv")):
    passes[int(r["model_id"])] = max(passes.get(int(r["model_id"]), 0), int(r["pass"]))
assert len(passes) == 16, f"{len(passes)} models trained"
assert all(p in (1, 3, 9) for p in passes.values()), f"passes not at rungs or the end: {passes}"
assert 1 <= sum(p == 9 for p in passes.values()) <= 16 - 2, f"finished: {passes}"
PY
) && pass || fail "e. the schedule with asha: $why"
"$MPIRUN" 4 "$RT" train "$WORK/t.yaml" "${A[@]}" --quiet --output "$WORK/a4" ||
  fail "e. tpe with asha on 4 ranks failed"
same_models "$WORK/a1" "$WORK/a4" "e. tpe with asha on 4 ranks vs 1"
code=0
RINGTRAIN_FAULT=term:1:25 "$MPIRUN" 2 "$RT" train "$WORK/t.yaml" "${A[@]}" --quiet \
  --output "$WORK/at" 2>"$WORK/at.err" || code=$?
[[ $code -eq 75 ]] && pass || fail "e. SIGTERM: exit $code: $(head -c 300 "$WORK/at.err")"
"$RT" train "$WORK/t.yaml" "${A[@]}" --quiet --resume "$WORK/at" 2>"$WORK/at.res" ||
  fail "e. resume failed: $(head -c 300 "$WORK/at.res")"
same_models "$WORK/a1" "$WORK/at" "e. tpe with asha, SIGTERM and resume"

expect_run noparallel 2 "sweep.method: tpe suggests in rounds of sweep.parallel models" -- \
  "$RT" check "$WORK/t.yaml" --set sweep.parallel=all
expect_run median 2 "sweep.method: tpe takes sweep.early_terminate: asha or none, not median" -- \
  "$RT" check "$WORK/t.yaml" --set sweep.early_terminate.type=median
expect_run ashaalone 2 "sweep.early_terminate: asha goes with sweep.method: tpe" -- \
  "$RT" check "$WORK/t.yaml" --set sweep.method=random --set sweep.early_terminate.type=asha
sed 's/    activation: \[relu, tanh\]/    normalize: [none, standard]/' "$WORK/t.yaml" >"$WORK/n.yaml"
expect_run normalize 2 "n.yaml:10:16: models[0].normalize: sweep.method: tpe cannot sweep the scaling" -- \
  "$RT" check "$WORK/n.yaml"
finish
