#!/usr/bin/env bash
# The end of a run: what it costs after the last integration when a sweep has many small models.
# Trains a random sweep of N softmax models (default 10,000) on configs/data/digits.csv (1,437
# training and 360 validation rows, 64 features, 10 classes; minmax scaling, 2 shards), 1 pass,
# on 1 rank and on R ranks (1 thread each), into run folders on disk (so the fsyncs are real).
#
# Each configuration runs twice per repeat:
#  - traced (--trace): from RUN/trace.json (clocks aligned across ranks), `after_last_s` is the
#    time from the end of the last integration on any rank to the end of rank 0's `write` slice
#    (model files, results, best.rtm written and synced), split into `ring_end_s` (last integration
#    to the start of rank 0's evaluation: final states reaching the ranks, the closing vote, the
#    rank report, the trace's own event collection), `evaluate_s`, `collect_s` (evaluation end to
#    the start of writing: statistics, hashes, ranking) and `write_s`;
#  - untraced: `process_s`, the whole command from launch to exit (MPI start, loading, training,
#    the end, MPI_Finalize), measured outside the process.
# Medians over the repeats are printed. `train_s` is the run record's train_wall_seconds (untraced).
# Usage:
#   scripts/bench_end.sh [--models N] [--ranks R] [--repeat K] [--kind logistic|mlp]
#                        [--binary PATH] [--label TEXT]
#   (defaults 10000, 2, 3, logistic; --kind mlp: MLPs with hidden [256, 256], Adam, whose 1 MB
#   states make the final-state exchange visible, e.g. --models 6 --kind mlp; --binary: a
#   ringtrain built elsewhere, e.g. an older commit, instead of building this tree into
#   build-bench)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
models=10000
ranks=2
repeat=3
binary=
label=
kind=logistic
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) models=${2:?}; shift 2 ;;
    --ranks) ranks=${2:?}; shift 2 ;;
    --repeat) repeat=${2:?}; shift 2 ;;
    --binary) binary=${2:?}; shift 2 ;;
    --label) label=${2:?}; shift 2 ;;
    --kind) kind=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,23s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench_end.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
build=build-bench
if [[ -z "$binary" ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target ringtrain >/dev/null
  binary=$build/ringtrain
fi
[[ -x "$binary" ]] || { echo "bench_end.sh: $binary is not an executable" >&2; exit 2; }
case "$kind" in
  logistic) model='{kind: logistic, optimizer: sgd, learning_rate: {distribution: log_uniform, min: 0.001, max: 0.3}, batch_size: {distribution: int_uniform, min: 32, max: 128}}' ;;
  mlp) model='{kind: mlp, hidden: [256, 256], optimizer: adam, learning_rate: {distribution: log_uniform, min: 0.0003, max: 0.01}, batch_size: 32}' ;;
  *) echo "bench_end.sh: --kind is logistic or mlp, not '$kind'" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$build/runs"
config="$build/end.yaml"
cat >"$config" <<YAML
# Written by scripts/bench_end.sh
data: {train: $PWD/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, normalize: minmax, shards: $ranks}
run: {passes: 1, seed: 1, threads: 1}
sweep: {method: random, count: $models}
models:
  - $model
YAML

run_once() { # NP DIR [--trace]: runs the sweep; prints the command's seconds
  local np=$1 out=$2
  shift 2
  rm -rf "$out"
  local t0 t1
  t0=$(date +%s.%N)
  if [[ $np -eq 1 ]]; then "$binary" train "$config" --output "$out" --quiet "$@" >/dev/null
  else scripts/mpirun.sh "$np" "$binary" train "$config" --output "$out" --quiet "$@" >/dev/null; fi
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

measure() { # NP: one line per repeat "after ring_end evaluate collect write process train"
  local np=$1 r traced plain
  for ((r = 0; r < repeat; ++r)); do
    traced="$build/runs/end-$np-traced"
    plain="$build/runs/end-$np"
    run_once "$np" "$traced" --trace >/dev/null
    local process
    process=$(run_once "$np" "$plain")
    python3 - "$traced/trace.json" "$plain/results.jsonl" "$process" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))["traceEvents"]
last = max(e["ts"] + e["dur"] for e in events if e.get("ph") == "X" and e["name"] == "integrate")
def rank0(name):  # rank 0's own slice of that name (not a model's)
    s = [e for e in events if e.get("ph") == "X" and e["name"] == name and e["pid"] == 0 and "model" not in e.get("args", {})]
    return s[-1]["ts"], s[-1]["ts"] + s[-1]["dur"]
ev0, ev1 = rank0("evaluate")
wr0, wr1 = rank0("write")
run = json.loads(open(sys.argv[2]).read().splitlines()[-1])["run"]
print(*("%.3f" % (x / 1e6) for x in (wr1 - last, ev0 - last, ev1 - ev0, wr0 - ev1, wr1 - wr0)),
      sys.argv[3], "%.3f" % run["train_wall_seconds"])
PY
  done
}

median() { # the median of each column of the lines on stdin
  python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
print(*("%.3f" % statistics.median(c) for c in zip(*rows)))'
}

echo "# ringtrain end-of-run benchmark${label:+ ($label)}: $models $kind models, digits (1437 train / 360 validation rows), 1 pass, median of $repeat"
echo "# binary: $binary"
printf "%-6s %12s %11s %11s %10s %9s %10s %9s\n" ranks after_last_s ring_end_s evaluate_s collect_s write_s process_s train_s
for np in 1 "$ranks"; do
  read -r after ring eval coll write process train < <(measure "$np" | median)
  printf "%-6d %12s %11s %11s %10s %9s %10s %9s\n" "$np" "$after" "$ring" "$eval" "$coll" "$write" "$process" "$train"
done
