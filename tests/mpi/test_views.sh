#!/usr/bin/env bash
# Dataset views (the model key `features`): a model sees only the columns it names.
#  a. Five models (logistic, k-means++, MLP, linear sgd, exact linear) with the view
#     [0:128, 300, 512:784], a validation split and standard scaling, trained on 1 and on 2 ranks:
#     the same state bytes (and metrics) as the same models trained without a view on the data
#     cut by hand (cut -f) to those columns.
#  b. predict and eval through the view on the whole file give the cut models' output on the cut
#     file, byte for byte; a file without the view's width is refused (exit 2).
#  c. A sweep of views forms one group per view (check), and results.csv names each view.
#  d. Streamed shards through a view: the bytes held in memory give.
#  e. Bad views: a column past the data, a range a:b with a >= b, not a column: exit 2, one line.
#  f. normalize as a model key: models scaled standard, minmax and not at all (and one through a
#     view) in one run, on 1 and 2 ranks and streamed, each give the state bytes of the same
#     model in a run whose data.normalize is its scaling (rows scaled once, in place).
source "$(dirname "$0")/../lib.sh" "$@"
GEN="$(dirname "$RT")/rt-gendata"
"$GEN" --rows 6000 --features 784 --classes 10 --seed 3 --csv --out "$WORK/s.csv" >/dev/null
cut -d, -f1-129,302,514-785 "$WORK/s.csv" >"$WORK/cut.csv"
# .npy shards are cut by rows (CSV shards by bytes, which the cut changes): the same rows per shard.
"$RT" convert "$WORK/s.csv" "$WORK/s.npy" >/dev/null && "$RT" convert "$WORK/cut.csv" "$WORK/cut.npy" >/dev/null ||
  fail "convert failed"
view='[0:128, 300, 512:784]'
cat >"$WORK/v.yaml" <<YAML
data: {train: s.npy, label_column: 0, shards: 2, validation_fraction: 0.1, normalize: standard}
run: {passes: 2, seed: 5, threads: 1, eval_every_pass: true}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 128, features: $view}
  - {kind: kmeans, k: 10, batch_size: 256, features: $view}
  - {kind: mlp, hidden: [16], optimizer: adam, learning_rate: 0.01, batch_size: 128, features: $view}
  - {kind: linear, solver: sgd, learning_rate: 0.001, batch_size: 64, features: $view}
  - {kind: linear, solver: exact, features: $view}
YAML
sed "s/, features: \[0:128, 300, 512:784\]//; s/train: s.npy/train: cut.npy/" "$WORK/v.yaml" >"$WORK/cut.yaml"
"$RT" train "$WORK/cut.yaml" --quiet --output "$WORK/cut" || fail "a. training on the cut file failed"
for np in 1 2; do
  "$MPIRUN" "$np" "$RT" train "$WORK/v.yaml" --quiet --output "$WORK/v$np" 2>"$WORK/v$np.err" ||
    fail "a. training through the view on $np ranks failed: $(head -c 300 "$WORK/v$np.err")"
  for m in 0 1 2 3 4; do
    why=$(same_params "$WORK/v$np/models/$m.rtm" "$WORK/cut/models/$m.rtm" view data_features \
      norm_offset norm_scale 2>&1) && pass || fail "a. model $m on $np ranks: $why"
  done
  diff <(cut -d, -f1-9 "$WORK/cut/results.csv") <(cut -d, -f1-9 "$WORK/v$np/results.csv") >/dev/null &&
    pass || fail "a. results.csv on $np ranks differs from the cut file's"
done
grep -q "^  view=0:128,300,512:784$" <<<"$("$RT" inspect "$WORK/v1/models/0.rtm")" && pass ||
  fail "b. the model file does not record its view"

for m in 0 2 4; do
  "$RT" predict "$WORK/v1/models/$m.rtm" "$WORK/s.csv" --output "$WORK/p1.csv" &&
    "$RT" predict "$WORK/cut/models/$m.rtm" "$WORK/cut.csv" --output "$WORK/p2.csv" &&
    cmp -s "$WORK/p1.csv" "$WORK/p2.csv" && pass || fail "b. predict of model $m through its view"
  diff <("$RT" eval "$WORK/v1/models/$m.rtm" "$WORK/s.csv" | tail -1) \
    <("$RT" eval "$WORK/cut/models/$m.rtm" "$WORK/cut.csv" | tail -1) >/dev/null && pass ||
    fail "b. eval of model $m through its view"
done
expect_run narrow 2 "expected 784 feature columns (+1 label column), found 402 columns" -- \
  "$RT" eval "$WORK/v1/models/0.rtm" "$WORK/cut.csv"

cat >"$WORK/sweep.yaml" <<'YAML'
data: {train: s.csv, label_column: 0, shards: 2}
run: {passes: 1, seed: 5, threads: 1}
models:
  - {kind: logistic, learning_rate: [0.01, 0.02], batch_size: 128, start_shard: 0, features: [all, [0:392], [392:784]]}
YAML
out=$("$RT" check "$WORK/sweep.yaml")
[[ $(grep -c "^# group [0-9]*: models" <<<"$out") -eq 3 ]] && pass ||
  fail "c. a sweep of three views does not form three groups: $(grep '^# group' <<<"$out")"
"$RT" train "$WORK/sweep.yaml" --quiet --output "$WORK/sw" || fail "c. the sweep of views failed"
views=$(col "$WORK/sw/results.csv" features | sort -u | tr '\n' ' ')
[[ "$views" == "0:392 392:784 all " ]] && pass || fail "c. results.csv features column: '$views'"

"$RT" train "$WORK/v.yaml" --quiet --set data.residency=stream --output "$WORK/vs" ||
  fail "d. streamed through the view failed"
same_models "$WORK/v1" "$WORK/vs" "d. streamed through a view"

expect_run past 2 "models.0 features: column 784 is past the data's 784 feature columns" -- \
  "$RT" train "$WORK/v.yaml" --quiet --set 'models.0.features=[0:785]' --output "$WORK/bad1"
expect_run order 2 "ranges a:b with a < b" -- \
  "$RT" check "$WORK/v.yaml" --set 'models.0.features=[5:3]'
expect_run word 2 "features" -- "$RT" check "$WORK/v.yaml" --set 'models.0.features=[x]'
cat >"$WORK/n.yaml" <<YAML
data: {train: s.npy, label_column: 0, shards: 2, validation_fraction: 0.1, normalize: standard}
run: {passes: 2, seed: 5, threads: 1}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 128}
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 128, normalize: minmax}
  - {kind: mlp, hidden: [16], optimizer: adam, learning_rate: 0.01, batch_size: 128, normalize: none}
  - {kind: kmeans, k: 10, batch_size: 256, normalize: minmax, features: $view}
YAML
for kind in standard minmax none; do
  "$RT" train "$WORK/n.yaml" --quiet --set data.normalize=$kind --set 'models.*.normalize=auto' \
    --output "$WORK/alone-$kind" || fail "f. the run with data.normalize=$kind failed"
done
expect=(standard minmax none minmax)
for run in "1 memory" "2 memory" "1 stream"; do
  set -- $run
  "$MPIRUN" "$1" "$RT" train "$WORK/n.yaml" --quiet --set data.residency=$2 --output "$WORK/n$1$2" \
    2>"$WORK/n.err" || fail "f. mixed normalize on $1 ranks ($2) failed: $(head -c 300 "$WORK/n.err")"
  for m in 0 1 2 3; do
    why=$(same_params "$WORK/n$1$2/models/$m.rtm" "$WORK/alone-${expect[$m]}/models/$m.rtm" normalize 2>&1) &&
      pass || fail "f. model $m (normalize ${expect[$m]}) on $1 ranks ($2): $why"
  done
done
grep -q "^  normalize=minmax$" <<<"$("$RT" inspect "$WORK/n1memory/models/1.rtm")" && pass ||
  fail "f. model 1's file does not say normalize=minmax"
finish
