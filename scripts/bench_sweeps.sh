#!/usr/bin/env bash
# Sweeps that decide: asha and tpe against random and grid on Fashion-MNIST (60,000 x 784, Debian's
# dataset-fashion-mnist; 10% held out for validation), an MLP search space (learning rate, L2,
# width, activation; Adam, batch 128), 9 passes, ranked by val_accuracy, for several seeds
# (run.seed = sweep.seed = the seed). Same budget in model-passes:
#   grid    3 learning rates x 2 L2 x 3 widths x 2 activations = 36 models x 9 passes = 324
#   random  36 models drawn from the space, 9 passes = 324
#   asha    139 models drawn, rungs at passes 1 and 3, eta 3, every model at once: at most 321
#   tpe     36 models: 12 drawn at random, then 2 rounds of 12 suggested (12 at once) = 324
#   tpe-asha  39 models (13 random, rounds of 13) stopped at asha's rungs: at most 323
# and asha with a third of it (46 models: at most 106 model-passes) against the grid's best.
# Prints, per method, the median over the seeds of the best validation accuracy, the model-passes
# spent (from results.csv) and the wall seconds of the run, and every seed's figures.
# Usage: scripts/bench_sweeps.sh [--seeds N] [--ranks R]   (defaults 5 seeds, 2 ranks)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds=5
ranks=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    -h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench_sweeps.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
scripts/setup.sh --bench --fashion-mnist
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ringtrain >/dev/null
dir="$build/sweeps"
mkdir -p "$dir" "$build/data"
train="$build/data/fashion-mnist-train-60000x784.npy"
test_npy="$build/data/fashion-mnist-test-10000x784.npy"
[[ -f "$train" ]] || /usr/bin/python3 scripts/bench_families.py fashion-mnist --train-out "$train" \
  --test-out "$test_npy"

space() { # the models entry of a method
  if [[ $1 == grid ]]; then
    cat <<'YAML'
  - kind: mlp
    optimizer: adam
    batch_size: 128
    learning_rate: [0.0003, 0.001, 0.003]
    l2: [0, 0.0001]
    hidden: [[32], [64], [128]]
    activation: [relu, tanh]
YAML
  else
    cat <<'YAML'
  - kind: mlp
    optimizer: adam
    batch_size: 128
    learning_rate: {distribution: log_uniform, min: 0.0001, max: 0.01}
    l2: [0, 0.0001]
    hidden: [[32], [64], [128]]
    activation: [relu, tanh]
YAML
  fi
}
sweep_of() {
  case $1 in
    grid) echo "{method: grid, metric: {name: val_accuracy}}" ;;
    random) echo "{method: random, count: 36, metric: {name: val_accuracy}}" ;;
    asha) echo "{method: asha, count: 139, asha: {min_passes: 1, eta: 3}, metric: {name: val_accuracy}}" ;;
    asha-third) echo "{method: asha, count: 46, asha: {min_passes: 1, eta: 3}, metric: {name: val_accuracy}}" ;;
    tpe) echo "{method: tpe, count: 36, parallel: 12, tpe: {startup: 12}, metric: {name: val_accuracy}}" ;;
    tpe-asha) echo "{method: tpe, count: 39, parallel: 13, tpe: {startup: 13}, early_terminate: asha, asha: {min_passes: 1, eta: 3}, metric: {name: val_accuracy}}" ;;
  esac
}
echo "# ringtrain sweep benchmark, $(date -u +%F), $(nproc) CPUs: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1); $ranks ranks, 1 thread each"
rm -f "$dir/times.txt.new"
for seed in $(seq 1 "$seeds"); do
  for method in grid random asha asha-third tpe tpe-asha; do
    cfg="$dir/$method-$seed.yaml"
    {
      echo "# Written by scripts/bench_sweeps.sh"
      echo "data: {train: $PWD/$train, label_column: 0, validation_fraction: 0.1, shards: $ranks}"
      echo "run: {passes: 9, seed: $seed, threads: 1}"
      echo "sweep: $(sweep_of "$method")"
      echo "models:"
      space "$method"
    } >"$cfg"
    start=$(date +%s%N)
    scripts/mpirun.sh "$ranks" "$build/ringtrain" train "$cfg" --quiet --output "$dir/$method-$seed" \
      >"$dir/$method-$seed.log" 2>&1 || { echo "bench_sweeps.sh: $method seed $seed failed:" >&2; tail -5 "$dir/$method-$seed.log" >&2; exit 1; }
    end=$(date +%s%N)
    echo "$method $seed $(( (end - start) / 1000000 ))" >>"$dir/times.txt.new"
  done
done
mv "$dir/times.txt.new" "$dir/times.txt"
/usr/bin/python3 - "$dir" <<'PY'
import csv, statistics, sys
d = sys.argv[1]
times = {}
for line in open(d + "/times.txt"):
    m, s, t = line.split()
    times[(m, int(s))] = float(t) / 1000.0  # milliseconds
seeds = sorted({s for _, s in times})
rows = {}
for (m, s), t in times.items():
    res = list(csv.DictReader(open(f"{d}/{m}-{s}/results.csv")))
    best = max(float(r["val_accuracy"]) for r in res if r["val_accuracy"] not in ("", "nan"))
    work = sum(int(r["passes"]) for r in res)
    rows.setdefault(m, {})[s] = (best, work, t)
print("| method | median best val_accuracy | median model-passes | median wall s | per seed (best / model-passes / s) |")
print("|---|---|---|---|---|")
for m in ("grid", "random", "asha", "asha-third", "tpe", "tpe-asha"):
    r = rows[m]
    med = lambda k: statistics.median(r[s][k] for s in seeds)
    per = "; ".join(f"{r[s][0]:.4f} / {r[s][1]} / {r[s][2]:.0f}" for s in seeds)
    print(f"| {m} | {med(0):.4f} | {med(1):.0f} | {med(2):.1f} | {per} |")
reach = [s for s in seeds if rows["asha-third"][s][0] >= rows["grid"][s][0]]
ratio = [rows["asha-third"][s][2] / rows["grid"][s][2] for s in seeds]
print(f"\nasha with a third of the budget reached the grid's best accuracy in {len(reach)} of "
      f"{len(seeds)} seeds; its wall time over the grid's: median {statistics.median(ratio):.2f}")
for m in ("random", "asha", "tpe", "tpe-asha"):
    hit = [s for s in seeds if rows[m][s][0] >= rows["grid"][s][0]]
    print(f"{m} at the full budget reached the grid's best accuracy in {len(hit)} of {len(seeds)} seeds")
PY
