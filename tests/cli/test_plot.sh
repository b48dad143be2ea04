#!/usr/bin/env bash
# scripts/plot.py RUN_DIR: the PNG files of a small run (loss per pass, metric against each
# hyper-parameter that varies, the rungs of an asha sweep and the copies of a pbt one, --timeline
# and best_over_time from a trace.json) and its errors.
#
# Needs matplotlib for /usr/bin/python3. When it is missing the test installs python3-matplotlib
# with apt-get (only as root, as CI runs). When it is missing and cannot be installed (no apt-get,
# or not root) the test prints "SKIPPED: ..." and exits 0, not 77: tests/CMakeLists.txt registers
# tests/cli/*.sh without SKIP_RETURN_CODE, so 77 would count as a failure there.
source "$(dirname "$0")/../lib.sh" "$@"
PY=/usr/bin/python3
PLOT="$SRC/scripts/plot.py"
DIGITS="$SRC/configs/data/digits.csv"

have_matplotlib() { "$PY" -c "import matplotlib" >/dev/null 2>&1; }
skip() {
  echo "SKIPPED: $*"
  exit 77
}
if [[ ! -x "$PY" ]]; then
  skip "no $PY"
fi
if ! have_matplotlib; then
  if ! command -v apt-get >/dev/null 2>&1; then
    skip "$PY cannot import matplotlib and there is no apt-get to install python3-matplotlib"
  fi
  if [[ $(id -u) -ne 0 ]]; then
    skip "$PY cannot import matplotlib and installing python3-matplotlib needs root (apt-get install python3-matplotlib)"
  fi
  echo "installing python3-matplotlib"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >"$WORK/apt.log" 2>&1; then
    # Stale package lists: refresh them once and try again.
    DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$WORK/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >>"$WORK/apt.log" 2>&1 || true
  fi
  if ! have_matplotlib; then
    echo "FAIL: apt-get could not install python3-matplotlib: $(tail -n 5 "$WORK/apt.log")" >&2
    exit 1
  fi
fi

# is_png FILE: exists, is not empty and starts with the 8-byte PNG signature.
is_png() {
  [[ -s "$1" ]] && [[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" == "89504e470d0a1a0a" ]]
}

cat >"$WORK/c.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, validation_fraction: 0.2}
run: {passes: 3, seed: 2, output: $WORK/run}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.0005, batch_size: 32}
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 32}
  - {kind: logistic, optimizer: adam, learning_rate: 0.2, batch_size: 32}
  - {kind: logistic, optimizer: sgd, learning_rate: 0.05, batch_size: 32}
  - {kind: kmeans, k: 10}
YAML
"$RT" train "$WORK/c.yaml" --quiet && pass || fail "train exit code"

"$PY" "$PLOT" "$WORK/run" --out "$WORK/plots" >"$WORK/plot.out" 2>"$WORK/plot.err" && pass \
  || fail "plot.py exit code: $(cat "$WORK/plot.err")"
for f in metric_vs_pass metric_vs_learning_rate metric_vs_optimizer; do
  is_png "$WORK/plots/$f.png" && pass || fail "$f.png missing, empty or not a PNG"
  grep -qF "$WORK/plots/$f.png" "$WORK/plot.out" && pass || fail "plot.py does not report $f.png"
done
# batch_size and k do not vary among the models they apply to: no plot for them.
[[ ! -e "$WORK/plots/metric_vs_batch_size.png" && ! -e "$WORK/plots/metric_vs_k.png" ]] && pass \
  || fail "plots for parameters that do not vary: $(ls "$WORK/plots")"
[[ ! -e "$WORK/plots/timeline.png" ]] && pass || fail "timeline.png without --timeline"
[[ ! -e "$WORK/plots/rungs.png" ]] && pass || fail "rungs.png for a grid sweep"
# An asha sweep: rungs.png too.
"$RT" train "$WORK/c.yaml" --quiet --output "$WORK/asha" --set sweep.method=asha --set sweep.count=6 \
  --set run.passes=3 --set sweep.asha.min_passes=1 >/dev/null && pass || fail "asha train exit code"
"$PY" "$PLOT" "$WORK/asha" --out "$WORK/ap" >"$WORK/ap.out" 2>&1 && is_png "$WORK/ap/rungs.png" &&
  pass || fail "rungs.png of an asha run: $(cat "$WORK/ap.out")"
# A traced asha sweep: best_over_time.png with --timeline, and the timeline behind it: every value
# of history.csv once, known later at a later pass of the same model, within the trace, flagged
# final exactly at the model's last pass (results.csv), and the best final value results.csv's.
"$RT" train "$WORK/c.yaml" --quiet --trace --output "$WORK/asha-t" --set sweep.method=asha \
  --set sweep.count=6 --set run.passes=3 --set sweep.asha.min_passes=1 --set sweep.parallel=2 \
  >/dev/null && pass || fail "traced asha train exit code"
"$PY" "$PLOT" "$WORK/asha-t" --timeline --out "$WORK/at" >"$WORK/at.out" 2>&1 &&
  is_png "$WORK/at/best_over_time.png" && pass || fail "best_over_time.png of an asha run: $(cat "$WORK/at.out")"
why=$(PYTHONPATH="$SRC/scripts" "$PY" - "$WORK/asha-t" 2>&1 <<'EOF_PY'
import csv, sys
from plot import metric_timeline, ranking_metric
d = sys.argv[1]
results = list(csv.DictReader(open(d + "/results.csv")))
metric, sign = ranking_metric(d, results)
points, span = metric_timeline(d, metric)
hist = [r for r in csv.DictReader(open(d + "/history.csv")) if r[metric] != ""]
assert metric.startswith("val_"), metric
assert len(points) == len(hist) > 0, (len(points), len(hist))
last = {r["id"]: int(r["passes"]) for r in results}
when = {}
for t, model, p, v, final in points:
    assert 0 < t <= span, (t, span)
    assert final == (p == last[model]), (model, p, final, last[model])
    when[(model, p)] = t
for (model, p), t in when.items():
    assert p == 1 or when[(model, p - 1)] < t, (model, p, t)
best = max((sign * v for _, _, _, v, final in points if final))
want = max(sign * float(r[metric]) for r in results if r[metric] not in ("", "nan"))
assert best == want, (best, want)
EOF_PY
) && pass || fail "metric_timeline of a traced asha run: $why"
# A pbt sweep: rungs.png with its copies (lineage.csv) in the title.
cat >"$WORK/p.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, validation_fraction: 0.2}
run: {passes: 4, seed: 2}
sweep: {method: pbt, count: 4, pbt: {interval: 1, fraction: 0.25}}
models:
  - kind: logistic
    optimizer: adam
    batch_size: 32
    learning_rate: {distribution: log_uniform, min: 0.0001, max: 0.5}
YAML
"$RT" train "$WORK/p.yaml" --quiet --output "$WORK/pbt" >/dev/null && pass || fail "pbt train exit code"
"$PY" "$PLOT" "$WORK/pbt" --out "$WORK/pp" >"$WORK/pp.out" 2>&1 && is_png "$WORK/pp/rungs.png" &&
  pass || fail "rungs.png of a pbt run: $(cat "$WORK/pp.out")"
# Without --out the files go to RUN_DIR/plots.
"$PY" "$PLOT" "$WORK/run" >/dev/null && is_png "$WORK/run/plots/metric_vs_pass.png" && pass \
  || fail "default output folder RUN_DIR/plots"

# --timeline: an error without trace.json, a Gantt chart with one.
code=0
"$PY" "$PLOT" "$WORK/run" --timeline --out "$WORK/t0" >/dev/null 2>"$WORK/t0.err" || code=$?
[[ $code -eq 2 ]] && grep -q "trace.json: no such file" "$WORK/t0.err" && pass \
  || fail "--timeline without trace.json: exit $code: $(cat "$WORK/t0.err")"
[[ ! -e "$WORK/t0" ]] && pass || fail "--timeline without trace.json wrote files"
cat >"$WORK/run/trace.json" <<'JSON'
{"traceEvents": [
  {"name": "train model 0", "ph": "X", "pid": 0, "tid": 0, "ts": 0, "dur": 1500, "args": {"model": 0}},
  {"name": "train model 1", "ph": "X", "pid": 1, "tid": 0, "ts": 100, "dur": 1200, "args": {"model": 1}},
  {"name": "handoff", "ph": "B", "pid": 0, "tid": 0, "ts": 1500},
  {"name": "handoff", "ph": "E", "pid": 0, "tid": 0, "ts": 1700},
  {"name": "train model 1", "ph": "X", "pid": 0, "tid": 0, "ts": 1700, "dur": 1000, "args": {"model": 1}}
]}
JSON
"$PY" "$PLOT" "$WORK/run" --timeline --out "$WORK/t1" >/dev/null 2>"$WORK/t1.err" && pass \
  || fail "--timeline exit code: $(cat "$WORK/t1.err")"
is_png "$WORK/t1/timeline.png" && pass || fail "timeline.png missing, empty or not a PNG"

# Errors: exit 2 with one message naming the input.
code=0
"$PY" "$PLOT" "$WORK/nope" 2>"$WORK/e1.err" || code=$?
[[ $code -eq 2 ]] && grep -q "$WORK/nope: no such run directory" "$WORK/e1.err" && pass \
  || fail "missing run directory: exit $code: $(cat "$WORK/e1.err")"
mkdir "$WORK/bad"
cp "$WORK/run/history.csv" "$WORK/bad/"
awk -F, -v OFS=, 'NR == 3 { NF = NF - 1 } { print }' "$WORK/run/results.csv" >"$WORK/bad/results.csv"
code=0
"$PY" "$PLOT" "$WORK/bad" 2>"$WORK/e2.err" || code=$?
[[ $code -eq 2 ]] && grep -q "$WORK/bad/results.csv:3: expected [0-9]* fields, found" "$WORK/e2.err" && pass \
  || fail "malformed results.csv: exit $code: $(cat "$WORK/e2.err")"
# Without matplotlib: exit 2 and how to install it (a stand-in package that fails to import).
mkdir -p "$WORK/nompl/matplotlib"
echo 'raise ImportError("stand-in: no matplotlib")' >"$WORK/nompl/matplotlib/__init__.py"
code=0
PYTHONPATH="$WORK/nompl" "$PY" "$PLOT" "$WORK/run" --out "$WORK/t2" 2>"$WORK/e3.err" || code=$?
[[ $code -eq 2 ]] && grep -q "apt-get install python3-matplotlib" "$WORK/e3.err" && pass \
  || fail "no matplotlib: exit $code: $(cat "$WORK/e3.err")"
finish
