#!/usr/bin/env bash
# Sweeps that decide: asha and tpe against random and grid on Fashion-MNIST (60,000 x 784, Debian's
# dataset-fashion-mnist; 10% held out for validation), an MLP search space (learning rate, L2,
# width, activation; Adam, batch 128), 9 passes, ranked by val_accuracy, for several seeds
# (run.seed = sweep.seed = the seed). Same budget in model-passes:
#   grid    3 learning rates x 2 L2 x 3 widths x 2 activations = 36 models x 9 passes = 324
#   random  36 models drawn from the space, 9 passes = 324
#   asha    139 models drawn, rungs at passes 1 and 3, eta 3, every model at once: at most 321
#   asha-places  the same 139 models and rungs, 6 at a time (3 per rank on 2 ranks): promotions
#           as soon as a rung ranks them, so finished models come early; it spends ~320-370
#   tpe     36 models: 12 drawn at random, then 2 rounds of 12 suggested (12 at once) = 324
#   tpe-asha  39 models (13 random, rounds of 13) stopped at asha's rungs: at most 323
#   grid-by-id  (not run by default; after grid) the grid with model j started at shard j, the
#           start_shard rule before cost classes were spread (src/config/start_shard.c): what the
#           ranks wait when every relu model starts at shard 0 and every tanh one at shard 1
# Every run is traced (--trace): scripts/bench_sweeps_report.py prints, per method, the medians
# over the seeds of the best validation accuracy, the model-passes spent (results.csv), the wall
# and traced seconds, and when each run first held a model at the grid's best accuracy of the
# same seed, over the grid's traced time.
# --passes P trains P passes instead of 9; asha's rungs are then 1, 3, 9, ... up to P and its
# count keeps the grid's budget of 36 x P model-passes (27 passes: 324 models). --methods picks
# which to run (the first is the reference every ratio is taken against: keep grid first).
# Usage: scripts/bench_sweeps.sh [--seeds N] [--from S] [--ranks R] [--passes P] [--methods "M..."]
#   (defaults: 5 seeds from seed 1, 2 ranks, 9 passes, every method; seeds 6 and 7 chose
#   asha-places' 6 places)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/machine.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds=5
first=1
ranks=2
passes=9
methods="grid random asha asha-places tpe tpe-asha"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --from) first=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --passes) passes=$2; shift 2 ;;
    --methods) methods=$2; shift 2 ;;
    -h|--help) sed -n '2,26s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench_sweeps.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
scripts/setup.sh --bench --fashion-mnist
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ringtrain >/dev/null
dir="$build/sweeps"
[[ $passes == 9 ]] || dir+="-$passes"
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
# asha's count: the grid's 36 x passes model-passes over what one drawn model spends on average
# (a third goes on from each rung: 1 + 2/3 + 6/9 = 7/3 at 9 passes, 139 models)
asha_count=$(awk -v p="$passes" 'BEGIN { c = 0; prev = 0; w = 1; for (r = 1; r < p; r *= 3) { c += (r - prev) / w; prev = r; w *= 3 }
  c += (p - prev) / w; printf "%d", 36 * p / c + 0.5 }')
sweep_of() {
  case $1 in
    grid) echo "{method: grid, metric: {name: val_accuracy}}" ;;
    random) echo "{method: random, count: 36, metric: {name: val_accuracy}}" ;;
    asha) echo "{method: asha, count: $asha_count, asha: {min_passes: 1, eta: 3}, metric: {name: val_accuracy}}" ;;
    asha-places) echo "{method: asha, count: $asha_count, parallel: 6, asha: {min_passes: 1, eta: 3}, metric: {name: val_accuracy}}" ;;
    tpe) echo "{method: tpe, count: 36, parallel: 12, tpe: {startup: 12}, metric: {name: val_accuracy}}" ;;
    tpe-asha) echo "{method: tpe, count: 39, parallel: 13, tpe: {startup: 13}, early_terminate: asha, asha: {min_passes: 1, eta: 3}, metric: {name: val_accuracy}}" ;;
  esac
}
echo "# ringtrain sweep benchmark, $(date -u +%F), $(machine_desc "$build/ringtrain"); $ranks ranks, 1 thread each, $passes passes"
rm -f "$dir/times.txt.new"
for seed in $(seq "$first" $((first + seeds - 1))); do
  for method in $methods; do
    cfg="$dir/$method-$seed.yaml"
    if [[ $method == grid-by-id ]]; then
      # the grid's resolved config with every model started at its id (the rule before balanced
      # start shards): the same models, data and bits but for where each starts
      [[ -f "$dir/grid-$seed/config.yaml" ]] || { echo "bench_sweeps.sh: grid-by-id needs grid first" >&2; exit 2; }
      awk '!models { print; if ($0 == "models:") models = 1; next }
           /^  - / { n++ }
           /^    start_shard: / { print "    start_shard: " n - 1; next }
           { print }' "$dir/grid-$seed/config.yaml" >"$cfg"
    else
      {
        echo "# Written by scripts/bench_sweeps.sh"
        echo "data: {train: $PWD/$train, label_column: 0, validation_fraction: 0.1, shards: $ranks}"
        echo "run: {passes: $passes, seed: $seed, threads: 1}"
        echo "sweep: $(sweep_of "$method")"
        echo "models:"
        space "$method"
      } >"$cfg"
    fi
    start=$(date +%s%N)
    scripts/mpirun.sh "$ranks" "$build/ringtrain" train "$cfg" --quiet --trace --output "$dir/$method-$seed" \
      >"$dir/$method-$seed.log" 2>&1 || { echo "bench_sweeps.sh: $method seed $seed failed:" >&2; tail -5 "$dir/$method-$seed.log" >&2; exit 1; }
    end=$(date +%s%N)
    echo "$method $seed $(( (end - start) / 1000000 ))" >>"$dir/times.txt.new"
  done
done
mv "$dir/times.txt.new" "$dir/times.txt"
# shellcheck disable=SC2086 # the method names are words
/usr/bin/python3 scripts/bench_sweeps_report.py "$dir" $methods
