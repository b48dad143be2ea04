#!/usr/bin/env bash
# Ring throughput: a sweep of 8 softmax-regression models on 60,000 x 784 (10 classes, synthetic,
# rt-gendata) trained on 1 rank and on 2 ranks (1 thread each), same config (2 shards), same run.
# Prints samples/s of both and the ratio, plus per-rank busy/idle time. Usage:
#   scripts/bench_ring.sh [--passes N] [--ranks R]   (defaults 10 and 2)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
passes=10
ranks=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --passes) passes=${2:?}; shift 2 ;;
    --ranks) ranks=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,6s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench_ring.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ringtrain rt-gendata >/dev/null
mkdir -p "$build/data" "$build/runs"
train="$build/data/synth-train-60000x784.npy"
[[ -f "$train" ]] || "$build/rt-gendata" --rows 60000 --features 784 --classes 10 --seed 1 --out "$train"
config="$build/ring.yaml"
cat >"$config" <<YAML
# Written by scripts/bench_ring.sh
data: {train: $PWD/$train, label_column: 0, shards: $ranks}
run: {passes: $passes, seed: 1, threads: 1}
models:
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: [0.01, 0.03], batch_size: [256, 512], l2: [0.0, 0.001]}
YAML
run() { # run NP -> prints "busy_max_rank wall"
  local np=$1 out="$build/runs/ring-$1"
  if [[ $np -eq 1 ]]; then "$build/ringtrain" train "$config" --output "$out" >"$out.log"
  else scripts/mpirun.sh "$np" "$build/ringtrain" train "$config" --output "$out" >"$out.log"; fi
  cat "$out.log" | grep -E '^# (rank [0-9]|wall)' >&2
  # training time = the longest rank's busy + idle (the engine loop), from the summary
  awk '/^# rank [0-9]+: busy/ { b = $5; i = $11; t = b + i; if (t > m) m = t } END { print m }' "$out.log"
}
samples=$((8 * passes * 60000))
echo "# ringtrain ring benchmark: 8 softmax models, 60000 x 784, $passes passes, $ranks shards, 1 thread per rank"
t1=$(run 1)
tr=$(run "$ranks")
cmp -s "$build/runs/ring-1/models/3.rtm" "$build/runs/ring-$ranks/models/3.rtm" && same=yes || same=NO
awk -v s="$samples" -v a="$t1" -v b="$tr" -v r="$ranks" -v same="$same" 'BEGIN {
  printf "%-8s %10s %14s\n", "ranks", "train_s", "samples/s"
  printf "%-8d %10.3f %14.0f\n", 1, a, s / a
  printf "%-8d %10.3f %14.0f\n", r, b, s / b
  printf "# throughput ratio %d ranks / 1 rank: %.2fx (model files identical: %s)\n", r, a / b, same }'
