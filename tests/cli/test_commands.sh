#!/usr/bin/env bash
# The commands a user runs: --help/--version, check, train (no launcher = one rank), eval,
# predict, inspect; outputs in the run directory; predictions agree with eval.
source "$(dirname "$0")/../lib.sh" "$@"
DIGITS="$SRC/configs/data/digits.csv"

grep -q "exit codes" <<<"$("$RT" --help)" && pass || fail "--help lacks exit codes"
grep -qE '^ringtrain [0-9]+\.[0-9]+\.[0-9]+$' <<<"$("$RT" --version)" && pass || fail "--version"
grep -q -- "--set key=value" <<<"$("$RT" train --help)" && pass || fail "train --help"

cat >"$WORK/c.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, validation_fraction: 0.25, shards: 3}
run: {passes: 4, seed: 3, output: $WORK/run}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.02, batch_size: 32}
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: 0.01, batch_size: 64, schedule: cosine}
YAML
"$RT" check "$WORK/c.yaml" >"$WORK/check.out" && pass || fail "check exit code"
# Every example config that ships with ringtrain is valid.
for example in "$SRC"/configs/*.yaml; do
  "$RT" check "$example" >/dev/null 2>"$WORK/example.err" && pass || fail "$example: $(cat "$WORK/example.err")"
done
grep -q "65 columns" "$WORK/check.out" && pass || fail "check does not show the data header"
[[ $(grep -v '^# group' "$WORK/check.out" | grep -c 'logistic') -eq 2 ]] && pass || fail "check model table"
[[ ! -e "$WORK/run" ]] && pass || fail "check created the run directory"
grep -q '0.5 ' <<<"$("$RT" check "$WORK/c.yaml" --set models.1.learning_rate=0.5)" && pass || fail "check --set"
grep -q "1797 rows" "$WORK/check.out" && pass || fail "check does not count the rows"
grep -q "val_logloss,val_accuracy" "$WORK/check.out" && pass || fail "check does not list the metrics"
# Hyper-parameters that cannot fit the data are rejected before any training.
code=0
"$RT" check "$WORK/c.yaml" --set models.0.kind=kmeans --set models.0.k=2000 2>"$WORK/k.err" >/dev/null || code=$?
[[ $code -eq 2 ]] && grep -q "k = 2000 is more than" "$WORK/k.err" && pass || fail "check accepted k > rows: $(cat "$WORK/k.err")"
code=0
"$RT" check "$WORK/c.yaml" --set models.1.kind=mlp --set "models.1.hidden=[]" 2>"$WORK/h.err" >/dev/null || code=$?
[[ $code -eq 2 ]] && grep -q "hidden" "$WORK/h.err" && pass || fail "check accepted an empty hidden list: $(cat "$WORK/h.err")"
code=0
"$RT" check "$WORK/c.yaml" --set models.0.kind=linear --set models.0.alpha=-1 2>"$WORK/a.err" >/dev/null || code=$?
[[ $code -eq 2 ]] && grep -q "alpha" "$WORK/a.err" && pass || fail "check accepted alpha < 0: $(cat "$WORK/a.err")"

"$RT" train "$WORK/c.yaml" >"$WORK/train.out" && pass || fail "train exit code"
for f in config.yaml results.csv results.jsonl history.csv models/0.rtm models/1.rtm; do
  [[ -s "$WORK/run/$f" ]] && pass || fail "run directory lacks $f"
done
[[ -z "$(find "$WORK/run" -name '*.tmp*')" ]] && pass || fail "temporary files left behind"
[[ $(wc -l <"$WORK/run/results.csv") -eq 3 ]] && pass || fail "results.csv rows"
[[ $(wc -l <"$WORK/run/results.jsonl") -eq 3 ]] && pass || fail "results.jsonl rows (2 models + the run record)"
[[ $(tail -1 "$WORK/run/results.jsonl") == '{"run":{'* ]] && pass || fail "results.jsonl does not end with the run record"
[[ $(wc -l <"$WORK/run/history.csv") -eq 9 ]] && pass || fail "history.csv rows (2 models x 4 passes + header)"
python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$WORK/run/results.jsonl" \
  && pass || fail "results.jsonl is not JSON lines"
grep -q "best by val_logloss" "$WORK/train.out" && pass || fail "train prints no results table"
# The best model by the sweep metric (here val_logloss: lower) is rank 1 and is copied to best.rtm.
best=$(paste -d, <(col "$WORK/run/results.csv" rank) <(col "$WORK/run/results.csv" id) | awk -F, '$1 == 1 { print $2 }')
low=$(paste -d, <(col "$WORK/run/results.csv" val_logloss) <(col "$WORK/run/results.csv" id) | sort -g | head -1 | cut -d, -f2)
[[ -n "$best" && "$best" == "$low" ]] && pass || fail "rank 1 is model '$best', lowest val_logloss is model '$low'"
cmp -s "$WORK/run/best.rtm" "$WORK/run/models/$best.rtm" && pass || fail "best.rtm is not model $best"
# sweep.metric chooses what ranks the models.
"$RT" train "$WORK/c.yaml" --quiet --output "$WORK/byacc" --set sweep.metric.name=val_accuracy || fail "train by accuracy"
hi=$(paste -d, <(col "$WORK/byacc/results.csv" val_accuracy) <(col "$WORK/byacc/results.csv" id) | sort -t, -k1,1gr -k2,2n | head -1 | cut -d, -f2)
first=$(paste -d, <(col "$WORK/byacc/results.csv" rank) <(col "$WORK/byacc/results.csv" id) | awk -F, '$1 == 1 { print $2 }')
[[ "$first" == "$hi" ]] && pass || fail "by accuracy: rank 1 is '$first', highest accuracy is '$hi'"
# The resolved config trains the same models again.
"$RT" train "$WORK/run/config.yaml" --quiet --output "$WORK/run2" && pass || fail "resolved config does not train"
cmp -s "$WORK/run/models/1.rtm" "$WORK/run2/models/1.rtm" && pass || fail "resolved config trains other bytes"
# The SHA-256 in results.csv is that of the state inside the model file.
"$RT" inspect "$WORK/run/models/0.rtm" >"$WORK/inspect.out" && pass || fail "inspect exit code"
grep -q "passes_done=4" "$WORK/inspect.out" && pass || fail "inspect cursor"
grep -q "kind=logistic" "$WORK/inspect.out" && pass || fail "inspect spec"

# eval on the training file and predict agree on accuracy.
"$RT" eval "$WORK/run/models/0.rtm" "$DIGITS" --json >"$WORK/eval.json" && pass || fail "eval exit code"
"$RT" predict "$WORK/run/models/0.rtm" "$DIGITS" --output "$WORK/pred.csv" && pass || fail "predict exit code"
[[ $(wc -l <"$WORK/pred.csv") -eq 1798 ]] && pass || fail "predict rows"
python3 - "$WORK/eval.json" "$WORK/pred.csv" "$DIGITS" <<'PY' && pass || fail "predict and eval disagree"
import json, sys
acc = json.load(open(sys.argv[1]))["accuracy"]
pred = [l.split(",") for l in open(sys.argv[2]).read().split("\n")[1:] if l]
labels = [int(float(l.split(",")[-1])) for l in open(sys.argv[3]) if l.strip()]
hits = sum(int(p[0]) == y for p, y in zip(pred, labels))
assert abs(hits / len(labels) - acc) < 1e-12, (hits, acc)
assert all(abs(sum(map(float, p[1:])) - 1) < 1e-4 for p in pred)
assert acc > 0.9, acc
PY
# Features-only input works for predict.
cut -d, -f1-64 "$DIGITS" >"$WORK/features.csv"
"$RT" predict "$WORK/run/models/0.rtm" "$WORK/features.csv" | cmp -s - "$WORK/pred.csv" && pass \
  || fail "predict on features-only input differs"
# Progress: plain lines when stdout is not a terminal, the last one says every model is done;
# --quiet prints nothing.
"$RT" train "$WORK/c.yaml" --output "$WORK/prog" --progress-interval 0.000001 >"$WORK/prog.out" \
  && pass || fail "train with progress"
grep -q "^# progress: models 2/2 done, 0 in flight | shard visits 24/24 (100%)" "$WORK/prog.out" && pass \
  || fail "no final progress line: $(grep progress "$WORK/prog.out" | tail -2)"
[[ -z "$("$RT" train "$WORK/c.yaml" --output "$WORK/quiet" --quiet)" ]] && pass || fail "--quiet printed"

# Normalised features: the scaling is stored in the model file and eval/predict apply it.
"$RT" train "$WORK/c.yaml" --quiet --output "$WORK/norm" --set data.normalize=standard && pass || fail "normalize run"
grep -q "normalize=standard" <<<"$("$RT" inspect "$WORK/norm/models/0.rtm")" && pass || fail "scaling not in the model file"
"$RT" eval "$WORK/norm/models/0.rtm" "$DIGITS" --json >"$WORK/norm.json" && pass || fail "eval of a normalised model"
python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['accuracy']; sys.exit(0 if a > 0.9 else 1)" \
  "$WORK/norm.json" && pass || fail "eval did not apply the scaling: $(cat "$WORK/norm.json")"

# A model whose loss overflows is marked diverged (NaN losses left empty); the others train on.
"$RT" train "$WORK/c.yaml" --quiet --output "$WORK/div" --set models.1.learning_rate=1e38 --set models.1.schedule=constant \
  && pass || fail "a diverging model failed the run"
status=$(paste -d: <(col "$WORK/div/results.csv" status) <(col "$WORK/div/results.csv" train_loss) \
  <(col "$WORK/div/results.csv" val_accuracy) | sed -n 2p)
[[ $status == "diverged::" ]] && pass || fail "diverged model reported as '$status'"
cmp -s "$WORK/run/models/0.rtm" "$WORK/div/models/0.rtm" && pass || fail "a diverging neighbour changed model 0"
finish
