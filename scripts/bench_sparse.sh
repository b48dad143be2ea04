#!/usr/bin/env bash
# Sparse rows (data.format libsvm): a LIBSVM file of 200,000 rows x 20,000 features with 20
# non-zeros a row (0.1%; 50 MB of text; 16 GB were it dense) trained by one softmax model (plain
# SGD, batch 128, 1 pass, 2 shards, 1 rank, 1 thread): wall seconds, samples/s and peak resident
# memory, against the sparse rows' own size. Batches are made dense as they are integrated (the
# arithmetic does not use the sparsity yet). Usage: scripts/bench_sparse.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,6s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "bench_sparse.sh: unknown option '$1'" >&2; exit 2 ;;
esac
scripts/setup.sh
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ringtrain >/dev/null
dir="$build/sparse"
mkdir -p "$dir"
data="$dir/sparse-200000x20000.libsvm"
if [[ ! -f "$data" ]]; then
  python3 - "$data.tmp" <<'PY'
import random, sys
random.seed(11)
rows, d, nnz = 200000, 20000, 20
w = [random.gauss(0, 1) for _ in range(d)]
with open(sys.argv[1], 'w') as out:
    for r in range(rows):
        cols = sorted(random.sample(range(d), nnz))
        vals = [random.random() for _ in cols]
        z = sum(w[c] * v for c, v in zip(cols, vals))
        out.write('%d %s\n' % (1 if z > 0 else 0, ' '.join('%d:%.4g' % (c + 1, v) for c, v in zip(cols, vals))))
PY
  mv "$data.tmp" "$data"
fi
cat >"$dir/sparse.yaml" <<YAML
# Written by scripts/bench_sparse.sh
data: {train: $PWD/$data, shards: 2}
run: {passes: 1, seed: 1, threads: 1}
models:
  - {kind: logistic, optimizer: sgd, learning_rate: 0.5, batch_size: 128}
YAML
cat "$data" >/dev/null
echo "# ringtrain sparse benchmark, $(date -u +%F), $(nproc) CPUs: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
python3 - "$build/ringtrain" train "$dir/sparse.yaml" --output "$dir/run" <<'PY'
import re, resource, subprocess, sys, time
t0 = time.time()
out = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True).stdout
wall = time.time() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
busy = float(re.search(r"^# rank 0: busy ([0-9.]+) s", out, re.M).group(1))
rows, nnz, d = 200000, 20, 20000
csr_mb = (rows * nnz * 8 + (rows + 1) * 8 + rows * 4) / 1e6
print(f"rows {rows}, features {d}, non-zeros {rows * nnz}: sparse rows {csr_mb:.1f} MB, dense {rows * d * 4 / 1e9:.1f} GB")
print(f"wall {wall:.2f} s (training {busy:.2f} s, {rows / busy:.0f} samples/s), peak RSS {peak:.1f} MB")
PY
