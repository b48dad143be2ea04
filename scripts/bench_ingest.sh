#!/usr/bin/env bash
# Ingest: how fast text data is parsed, against glibc's strtof, and what the parsed-shard cache
# and `ringtrain convert` save a training run. Two CSV files:
#   floats: 60,000 x 785 from rt-gendata (%.9g numbers, label first), about 572 MB;
#   ints:   configs/data/digits.csv repeated 400 times (integers 0..16), about 106 MB.
# For each: `ringtrain convert` (parse rate, write excluded) and rt-parse-bench (the fields
# parsed by the reader's fast path and by strtof alone, same run, bits compared). Then one
# training run (1 softmax model, 1 pass, 1 rank, 1 shard) on the floats: from the CSV without
# the cache, with a cold cache (parse + write the entry), with a warm cache, and from the
# converted .npy; wall seconds of each, and whether their model files are identical. Last,
# streamed against held in memory (data.residency): 8 softmax models, 3 passes, 1 rank, 4 shards
# of the floats .npy, training throughput of both and their peak resident memory. Page cache
# warm throughout (every file is read once before it is timed). Usage: scripts/bench_ingest.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/machine.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "bench_ingest.sh: unknown option '$1'" >&2; exit 2 ;;
esac
scripts/setup.sh
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ringtrain rt-gendata rt-parse-bench >/dev/null
dir="$build/ingest"
mkdir -p "$dir"
floats="$dir/floats-60000x785.csv"
ints="$dir/digits-x400.csv"
[[ -f "$floats" ]] || "$build/rt-gendata" --rows 60000 --features 784 --classes 10 --seed 1 --csv --out "$floats"
if [[ ! -f "$ints" ]]; then
  for _ in $(seq 400); do cat configs/data/digits.csv; done >"$ints.tmp"
  mv "$ints.tmp" "$ints"
fi
now() { date +%s.%N; }
echo "# ringtrain ingest benchmark, $(date -u +%F), $(machine_desc "$build/ringtrain")"
for f in "$floats" "$ints"; do
  cat "$f" >/dev/null
  "$build/ringtrain" convert "$f" "${f%.csv}.npy"
  "$build/ringtrain" convert "$f" "${f%.csv}.npy"
  "$build/rt-parse-bench" "$f" --repeat 3
done

config="$dir/ingest.yaml"
cat >"$config" <<YAML
# Written by scripts/bench_ingest.sh
data: {train: $PWD/$floats, label_column: 0, shards: 1}
run: {passes: 1, seed: 1, threads: 1}
models:
  - {kind: logistic, optimizer: sgd, learning_rate: 0.01, batch_size: 256}
YAML
train() { # NAME [--set ...]: trains, prints "NAME seconds"
  local name=$1
  shift
  local t0 t1
  t0=$(now)
  "$build/ringtrain" train "$config" --quiet --output "$dir/run-$name" "$@" >/dev/null
  t1=$(now)
  awk -v n="$name" -v a="$t0" -v b="$t1" 'BEGIN { printf "%-12s %8.3f\n", n, b - a }'
}
rm -rf "$floats.rtcache" "$dir"/run-*
echo "# training run: 1 softmax model, 1 pass, 60,000 x 784, 1 rank, 1 shard (wall seconds)"
train csv --set data.cache=false
train cache-cold
train cache-warm
train npy --set "data.train=$PWD/${floats%.csv}.npy"
same=yes
for r in cache-cold cache-warm npy; do
  cmp -s "$dir/run-csv/models/0.rtm" "$dir/run-$r/models/0.rtm" || same=NO
done
echo "# model files identical across the four runs: $same"

config="$dir/stream.yaml"
cat >"$config" <<YAML
# Written by scripts/bench_ingest.sh
data: {train: $PWD/${floats%.csv}.npy, label_column: 0, shards: 4}
run: {passes: 3, seed: 1, threads: 1}
models:
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: [0.01, 0.03], batch_size: [256, 512], l2: [0.0, 0.001]}
YAML
echo "# streamed vs in memory: 8 softmax models, 3 passes, 60,000 x 784, 1 rank, 4 shards"
printf "%-10s %10s %14s %12s\n" residency train_s samples/s peak_MB
for r in memory stream; do
  python3 - "$build/ringtrain" train "$config" --output "$dir/stream-$r" --set data.residency=$r <<'PY'
import re, resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True).stdout
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
busy = max(float(b) + float(i) for b, i in re.findall(r"^# rank \d+: busy ([0-9.]+) s, idle waiting for models ([0-9.]+) s", out, re.M))
res = sys.argv[-1].split("=")[1]
print(f"{res:<10} {busy:10.3f} {8 * 3 * 60000 / busy:14.0f} {peak:12.1f}")
PY
done
cmp -s "$dir/stream-memory/models/3.rtm" "$dir/stream-stream/models/3.rtm" && same=yes || same=NO
echo "# model files identical: $same"
