#!/usr/bin/env bash
# The engine's asynchronous path (backends with start/poll, src/engine/backend.h; the CUDA one
# will be), run without a GPU through the deferred test backend (RINGTRAIN_DEFER_VISITS=N: visits
# are reported finished N to N+2 polls later, out of order). The schedule then differs from the
# synchronous one (several visits in flight, hand-offs while they are), but no model byte may:
#   a. deferred on 1, 2, 3 and 4 ranks (N = 1, 2, 3, 5) == synchronous on 1 rank: a sweep of
#      groups of several kinds, validation along the ring, median early termination;
#   b. a SIGTERM on 2 ranks (RINGTRAIN_FAULT) with deferred visits, resumed deferred on 2 and
#      synchronous on 1 == the uninterrupted run (a deferred visit is whole, so the cut is at a
#      visit boundary);
#   c. RINGTRAIN_DEFER_VISITS=0 or junk: exit 2, one line naming the variable;
#   d. a start that waits between batches (RINGTRAIN_DEFER_BATCH_MS, as a fed CUDA visit waits for
#      the device) still answers the watchdog through the engine's between-batches hook: with
#      run.timeout 3, a 5.6 s visit on one rank (113 batches x 50 ms) while the other rank waits
#      on it must not be reported stuck (without the hook the waiting rank asks at 3 s, hears
#      nothing within the 1 s window and ends the job), and the models equal the synchronous ones.
#      Margins: the waiting rank, answered "busy", claims anyway after 3 x run.timeout = 9 s idle
#      (watchdog.h), 3.3 s after the visit's 5.65 s of waits; without the hook it fails once the
#      visit passes 4 s (run.timeout plus the 1 s answer window).
source "$(dirname "$0")/../lib.sh" "$@"
for i in 1 2; do cat "$SRC/configs/data/digits.csv"; done >"$WORK/d2.csv" # 3,594 rows
cat >"$WORK/a.yaml" <<YAML
data: {train: $WORK/d2.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 4, seed: 3, eval_every_pass: true}
sweep: {early_terminate: {type: median, min_passes: 2}}
models:
  - {kind: logistic, optimizer: [sgd, adam], learning_rate: [0.003, 0.05], batch_size: 32, start_shard: 0}
  - {kind: mlp, hidden: [[8], [16]], optimizer: adam, learning_rate: 0.01, batch_size: 32, start_shard: 1}
  - {kind: kmeans, k: [4, 8], batch_size: 64, start_shard: 2}
  - {kind: linear, solver: [sgd, exact], learning_rate: 0.003, batch_size: 32}
YAML
unset RINGTRAIN_DEFER_VISITS
"$RT" train "$WORK/a.yaml" --quiet --output "$WORK/ref" || fail "the synchronous run failed"
grep -q ',stopped_early,' "$WORK/ref/results.csv" && pass ||
  fail "the reference stops no model early: early termination is not exercised"
for spec in "1 1" "2 2" "3 3" "4 5"; do
  read -r np polls <<<"$spec"
  RINGTRAIN_DEFER_VISITS=$polls "$MPIRUN" "$np" "$RT" train "$WORK/a.yaml" --quiet --output "$WORK/r$np" \
    2>"$WORK/r$np.err" || fail "deferred on $np ranks failed: $(head -c 400 "$WORK/r$np.err")"
  same_models "$WORK/ref" "$WORK/r$np" "a. deferred visits (N=$polls) on $np ranks"
  diff <(cut -d, -f1-9 "$WORK/ref/results.csv") <(cut -d, -f1-9 "$WORK/r$np/results.csv") >/dev/null && pass ||
    fail "a. results.csv differs on $np ranks (deferred)"
done

code=0
RINGTRAIN_DEFER_VISITS=2 RINGTRAIN_FAULT=term:1:6 "$MPIRUN" 2 "$RT" train "$WORK/a.yaml" --quiet \
  --output "$WORK/t" 2>"$WORK/t.err" || code=$?
[[ $code -eq 75 ]] && pass || fail "b. SIGTERM with deferred visits: exit $code, expected 75: $(head -c 400 "$WORK/t.err")"
cp -r "$WORK/t" "$WORK/t1"
RINGTRAIN_DEFER_VISITS=2 "$MPIRUN" 2 "$RT" train "$WORK/a.yaml" --quiet --resume "$WORK/t" 2>"$WORK/t.res" ||
  fail "b. deferred resume on 2 ranks failed: $(head -c 400 "$WORK/t.res")"
same_models "$WORK/ref" "$WORK/t" "b. stopped and resumed with deferred visits on 2 ranks"
"$RT" train "$WORK/a.yaml" --quiet --resume "$WORK/t1" 2>"$WORK/t1.res" ||
  fail "b. synchronous resume on 1 rank failed: $(head -c 400 "$WORK/t1.res")"
same_models "$WORK/ref" "$WORK/t1" "b. stopped with deferred visits, resumed synchronously on 1 rank"

for bad in 0 junk; do
  expect_run "defer-$bad" 2 "RINGTRAIN_DEFER_VISITS must be a whole number from 1 to 1000, not '$bad'" -- \
    env RINGTRAIN_DEFER_VISITS=$bad "$RT" train "$WORK/a.yaml" --quiet --output "$WORK/bad-$bad"
done
cat >"$WORK/d.yaml" <<YAML
data: {train: $WORK/d2.csv, label_column: 64, shards: 2}
run: {passes: 1, seed: 3, timeout: 3}
models:
  - {kind: logistic, learning_rate: 0.01, batch_size: 16, start_shard: 0}
  - {kind: logistic, learning_rate: 0.01, batch_size: 2000, start_shard: 1}
YAML
"$RT" train "$WORK/d.yaml" --quiet --output "$WORK/dref" || fail "d. the synchronous run failed"
RINGTRAIN_DEFER_VISITS=1 RINGTRAIN_DEFER_BATCH_MS=50 "$MPIRUN" 2 "$RT" train "$WORK/d.yaml" --quiet \
  --output "$WORK/dslow" 2>"$WORK/dslow.err" && pass ||
  fail "d. slow deferred visits with run.timeout 3 failed: $(head -c 400 "$WORK/dslow.err")"
grep -qi watchdog "$WORK/dslow.err" && fail "d. the watchdog spoke: $(head -c 400 "$WORK/dslow.err")" || pass
same_models "$WORK/dref" "$WORK/dslow" "d. slow deferred visits on 2 ranks"
expect_run "defer-batch-junk" 2 "RINGTRAIN_DEFER_BATCH_MS must be a whole number from 0 to 10000, not 'x'" -- \
  env RINGTRAIN_DEFER_VISITS=1 RINGTRAIN_DEFER_BATCH_MS=x "$RT" train "$WORK/d.yaml" --quiet --output "$WORK/bad-ms"
finish
