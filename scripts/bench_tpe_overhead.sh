#!/usr/bin/env bash
# What tpe's decisions cost: a tpe sweep of N small softmax models (200 rows of the 8x8 digits,
# 1 pass, 1 rank, 8 at a time) against the same N models drawn at random, for N = 200, 400, 800.
# The training is the same small amount in both; the difference is the schedule's replay and the
# suggestions (tpe suggests each round once per run: src/engine/asha.h, rt_tpe_memo).
# Usage: scripts/bench_tpe_overhead.sh [--counts "200 400 800"] [--ringtrain PATH]
#   (PATH: another binary to time, e.g. one built from an older commit; default build-bench's)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
counts="200 400 800"
rt=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --counts) counts=${2:?--counts needs a value}; shift 2 ;;
    --ringtrain) rt=${2:?--ringtrain needs a path}; shift 2 ;;
    -h|--help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench_tpe_overhead.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
build=build-bench
if [[ -z "$rt" ]]; then
  scripts/setup.sh
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target ringtrain >/dev/null
  rt="$build/ringtrain"
fi
work="$build/runs/tpe-overhead"
rm -rf "$work" && mkdir -p "$work"
head -200 configs/data/digits.csv >"$work/small.csv"
seconds() { # CONFIG OUT: wall seconds of a training run
  local t0 t1
  t0=$(date +%s.%N)
  "$rt" train "$1" --quiet --output "$2" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
echo "# tpe's decisions: $rt; $(nproc) CPUs: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1); $(date -u +%F)"
printf '%8s %10s %10s %16s\n' models tpe_s random_s tpe_ms_per_model
for n in $counts; do
  for method in tpe random; do
    {
      echo "data: {train: $PWD/$work/small.csv, label_column: 64, validation_fraction: 0.2, shards: 1}"
      echo "run: {passes: 1, seed: 3, threads: 1}"
      if [[ $method == tpe ]]; then echo "sweep: {method: tpe, count: $n, parallel: 8, tpe: {startup: 20}}"
      else echo "sweep: {method: random, count: $n}"; fi
      echo "models:"
      echo "  - kind: logistic"
      echo "    batch_size: 32"
      echo "    learning_rate: {distribution: log_uniform, min: 0.0001, max: 1.0}"
      echo "    l2: {distribution: uniform, min: 0.0, max: 0.01}"
    } >"$work/$method-$n.yaml"
  done
  t=$(seconds "$work/tpe-$n.yaml" "$work/tpe-$n")
  r=$(seconds "$work/random-$n.yaml" "$work/random-$n")
  awk -v n="$n" -v t="$t" -v r="$r" 'BEGIN { printf "%8d %10.2f %10.2f %16.2f\n", n, t, r, (t - r) * 1000 / n }'
done
