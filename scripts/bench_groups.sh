#!/usr/bin/env bash
# Fused model groups against fuse: off, in the same run (issue 14): on 60,000 x 784 synthetic rows
# (10 classes, rt-gendata), 10 passes, 1 thread per rank, on 1 and 2 ranks (data.shards = ranks):
#   softmax  64 softmax models, batch 128, optimizer x learning rate x L2 (2 x 8 x 4; each start
#            shard gets as many sgd as adam members, which cost more per batch, whatever the
#            order: start_shard auto deals each cost class over the shards; the optimizer stays
#            listed first, as when models started at shard id mod ranks)
#   mlp      16 MLPs 784-128-10, Adam, batch 128, learning rate x L2 (4 x 4)
#   kmeans   16 k-means models, k = 10, batch 1024, 16 model seeds
# For each: training time (the slowest rank's busy + idle), model-samples per second (per core),
# the ratio fused / off, and whether every model file is identical with and without fusing. With
# mlp, also what fusing its first-layer products can save on this machine: rt-floor's GFLOP/s of
# one member's products (what fuse: off computes) against the 16 members' fused products.
# --repeat R runs fused and off R times each, alternating, and reports the median of each (a VM's
# run-to-run spread can be 10%).
# Usage: scripts/bench_groups.sh [--passes N] [--ranks "1 2"] [--only "softmax mlp kmeans"] [--repeat R]
# Builds in build-bench (Release); data in build-bench/data; runs in build-bench/runs/groups-*;
# the table is also written to build-bench/groups-summary.txt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/machine.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
passes=10
ranks_list="1 2"
only="softmax mlp kmeans"
repeat=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --passes) passes=${2:?--passes needs a value}; shift 2 ;;
    --ranks) ranks_list=${2:?--ranks needs a value}; shift 2 ;;
    --only) only=${2:?--only needs a value}; shift 2 ;;
    --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
    -h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench_groups.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ "$passes" =~ ^[1-9][0-9]*$ ]] || { echo "bench_groups.sh: --passes expects a positive integer" >&2; exit 2; }
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || { echo "bench_groups.sh: --repeat expects a positive integer" >&2; exit 2; }
scripts/setup.sh
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ringtrain rt-gendata rt-floor >/dev/null
mkdir -p "$build/data" "$build/runs"
rows=60000
train="$build/data/synth-train-${rows}x784.npy"
[[ -f "$train" ]] || "$build/rt-gendata" --rows $rows --features 784 --classes 10 --seed 1 --out "$train"

models_of() {
  case "$1" in
    softmax) echo "  - {kind: logistic, batch_size: 128, optimizer: [sgd, adam], learning_rate: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1], l2: [0.0, 0.00001, 0.0001, 0.001]}" ;;
    mlp) echo "  - {kind: mlp, hidden: [128], optimizer: adam, batch_size: 128, learning_rate: [0.0003, 0.001, 0.003, 0.01], l2: [0.0, 0.00001, 0.0001, 0.001]}" ;;
    kmeans) echo "  - {kind: kmeans, k: 10, batch_size: 1024, seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]}" ;;
  esac
}
count_of() { case "$1" in softmax) echo 64 ;; *) echo 16 ;; esac; }

# run NAME RANKS FUSE -> prints the training seconds (the slowest rank's busy + idle)
run() {
  local name=$1 np=$2 fuse=$3 out="$build/runs/groups-$1-$2-$3" config="$build/groups-$1.yaml"
  rm -rf "$out"
  if [[ $np -eq 1 ]]; then "$build/ringtrain" train "$config" --set run.fuse=$fuse --output "$out" >"$out.log"
  else scripts/mpirun.sh "$np" "$build/ringtrain" train "$config" --set run.fuse=$fuse --output "$out" >"$out.log"; fi
  awk '/^# rank [0-9]+: busy/ { b = $5; i = $11; t = b + i; if (t > m) m = t } END { print m }' "$out.log"
}

# median of the arguments (the middle one; the mean of the two middle ones for an even count)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

summary="$build/groups-summary.txt"
{
  echo "# ringtrain fused groups vs fuse: off: 60000 x 784, $passes passes, 1 thread per rank, data.shards = ranks, median of $repeat"
  echo "# $(machine_desc "$build/ringtrain"); $(date -u +%F)"
  printf '%-8s %6s %6s %10s %10s %16s %16s %8s %10s\n' sweep models ranks fused_s off_s \
    fused_ms/s/core off_ms/s/core ratio identical
} | tee "$summary"
for name in $only; do
  config="$build/groups-$name.yaml"
  {
    echo "# Written by scripts/bench_groups.sh"
    echo "data: {train: $PWD/$train, label_column: 0, shards: auto}"
    echo "run: {passes: $passes, seed: 1, threads: 1}"
    echo "models:"
    models_of "$name"
  } >"$config"
  n=$(count_of "$name")
  for np in $ranks_list; do
    tfs=() tos=()
    for ((k = 0; k < repeat; ++k)); do
      tfs+=("$(run "$name" "$np" auto)")
      tos+=("$(run "$name" "$np" off)")
    done
    tf=$(median "${tfs[@]}")
    to=$(median "${tos[@]}")
    (( repeat == 1 )) || echo "# $name $np rank(s): fused ${tfs[*]} s, off ${tos[*]} s (medians below)" | tee -a "$summary"
    same=yes
    for f in "$build/runs/groups-$name-$np-auto/models/"*.rtm; do
      cmp -s "$f" "$build/runs/groups-$name-$np-off/models/$(basename "$f")" || same=NO
    done
    awk -v name="$name" -v n="$n" -v np="$np" -v p="$passes" -v r="$rows" -v a="$tf" -v b="$to" -v same="$same" 'BEGIN {
      ms = n * p * r
      printf "%-8s %6d %6d %10.2f %10.2f %16.0f %16.0f %7.2fx %10s\n", name, n, np, a, b, ms / a / np, ms / b / np, b / a, same }' | tee -a "$summary"
  done
  if [[ $name == mlp ]]; then
    floor=$("$build/rt-floor" --threads 1 --size-mib 64 --repeats 10 --json)
    printf '# mlp first-layer products, GFLOP/s (rt-floor): X.W1 one member %s, 16 fused %s; X^T.dH one member %s, 16 fused %s\n' \
      "$(json_get "$floor" sgemm_mlp_xw_gflops)" "$(json_get "$floor" sgemm_mlp16_xw_gflops)" \
      "$(json_get "$floor" sgemm_mlp_xtg_gflops)" "$(json_get "$floor" sgemm_mlp16_xtg_gflops)" | tee -a "$summary"
  fi
done
