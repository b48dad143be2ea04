#!/usr/bin/env bash
# What a deciding sweep's decisions cost: small softmax models (200 rows of the 8x8 digits,
# 1 rank, 8 or 16 at a time), where training is cheap and the schedule shows:
#   tpe   N models, 1 pass, 8 places, startup 20, against the same N drawn at random (1 pass):
#         the difference is tpe's replay and suggestions (each round suggested once per run);
#   asha  N models, 9 passes, rungs 1, 3, 9 (eta 3), 16 places: its seconds, and the
#         model-passes it trained (the replay continues from tick to tick: src/engine/asha.h).
# Usage: scripts/bench_decide_overhead.sh [--tpe "200 400 800"] [--asha "2000 10000"]
#                                         [--ringtrain PATH]
#   (PATH: another binary to time, e.g. one built from an older commit; default build-bench's)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/machine.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tpe_counts="200 400 800"
asha_counts="2000 10000"
rt=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tpe) tpe_counts=${2?--tpe needs a value}; shift 2 ;;
    --asha) asha_counts=${2?--asha needs a value}; shift 2 ;;
    --ringtrain) rt=${2:?--ringtrain needs a path}; shift 2 ;;
    -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench_decide_overhead.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
build=build-bench
if [[ -z "$rt" ]]; then
  scripts/setup.sh
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target ringtrain >/dev/null
  rt="$build/ringtrain"
fi
work="$build/runs/decide-overhead"
rm -rf "$work" && mkdir -p "$work"
head -200 configs/data/digits.csv >"$work/small.csv"
seconds() { # CONFIG OUT: wall seconds of a training run
  local t0 t1
  t0=$(date +%s.%N)
  "$rt" train "$1" --quiet --output "$2" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
config() { # FILE PASSES SWEEP
  {
    echo "data: {train: $PWD/$work/small.csv, label_column: 64, validation_fraction: 0.2, shards: 1}"
    echo "run: {passes: $2, seed: 3, threads: 1}"
    echo "sweep: $3"
    echo "models:"
    echo "  - kind: logistic"
    echo "    batch_size: 32"
    echo "    learning_rate: {distribution: log_uniform, min: 0.0001, max: 1.0}"
    echo "    l2: {distribution: uniform, min: 0.0, max: 0.01}"
  } >"$1"
}
echo "# deciding sweeps' overhead: $rt; $(machine_desc "$rt"); $(date -u +%F)"
[[ -z "$tpe_counts" ]] || printf '%-5s %8s %10s %10s %16s\n' sweep models tpe_s random_s tpe_ms_per_model
for n in $tpe_counts; do
  config "$work/tpe-$n.yaml" 1 "{method: tpe, count: $n, parallel: 8, tpe: {startup: 20}}"
  config "$work/random-$n.yaml" 1 "{method: random, count: $n}"
  t=$(seconds "$work/tpe-$n.yaml" "$work/tpe-$n")
  r=$(seconds "$work/random-$n.yaml" "$work/random-$n")
  awk -v n="$n" -v t="$t" -v r="$r" 'BEGIN { printf "%-5s %8d %10.2f %10.2f %16.2f\n", "tpe", n, t, r, (t - r) * 1000 / n }'
done
[[ -z "$asha_counts" ]] || printf '%-5s %8s %10s %14s\n' sweep models asha_s model_passes
for n in $asha_counts; do
  config "$work/asha-$n.yaml" 9 "{method: asha, count: $n, parallel: 16, asha: {min_passes: 1, eta: 3}}"
  t=$(seconds "$work/asha-$n.yaml" "$work/asha-$n")
  mp=$(python3 -c 'import csv, sys; print(sum(int(r["passes"]) for r in csv.DictReader(open(sys.argv[1]))))' "$work/asha-$n/results.csv")
  printf '%-5s %8d %10.2f %14d\n' asha "$n" "$t" "$mp"
done
