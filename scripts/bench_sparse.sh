#!/usr/bin/env bash
# Sparse rows (data.format libsvm), two benchmarks in one run (1 rank, 1 thread, Release build):
#  1. 200,000 rows x 20,000 features, 20 non-zeros a row (0.1%): one softmax model (plain SGD,
#     batch 128, 1 pass, 2 shards): the sparse arithmetic against the same rows made dense batch
#     by batch (a view of every column, features: [0:20000], takes the dense path): training
#     seconds, samples/s, peak RSS.
#  2. 1,000,000 rows x 1,000,000 features, 100 non-zeros a row (0.01%; 1.4 GB of text), a binary
#     problem (rt-gensparse): logistic regression with plain SGD and L2 for P passes (default 5),
#     ringtrain at batch 1 (per-row SGD, as scikit-learn) and batch 128, against scikit-learn's
#     SGDClassifier (log_loss, the same alpha, eta0 and constant rate, shuffled) on the same CSR
#     matrix in the same run: load and training seconds, accuracy and log-loss on 100,000 held-out
#     rows of the same problem, peak RSS.
# Usage: scripts/bench_sparse.sh [--passes P] [--rows N]   (--rows: part 2's training rows)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/machine.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
passes=5
rows=1000000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --passes) passes=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    -h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench_sparse.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
scripts/setup.sh --bench
if ! /usr/bin/python3 -c 'import sklearn, scipy, numpy' 2>/dev/null; then
  echo "bench_sparse.sh: scikit-learn, scipy or numpy not importable by /usr/bin/python3" >&2
  exit 1
fi
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ringtrain rt-gensparse >/dev/null
dir="$build/sparse"
mkdir -p "$dir"
echo "# ringtrain sparse benchmark, $(date -u +%F), $(machine_desc "$build/ringtrain")"

# ---- 1. sparse arithmetic vs batches made dense -------------------------------------------------
small="$dir/sparse-200000x20000.libsvm"
[[ -f "$small" ]] || { "$build/rt-gensparse" --rows 200000 --features 20000 --nnz 20 --seed 11 \
  --out "$small.tmp" && mv "$small.tmp" "$small"; }
cat >"$dir/small.yaml" <<YAML
# Written by scripts/bench_sparse.sh
data: {train: $PWD/$small, shards: 2}
run: {passes: 1, seed: 1, threads: 1}
models:
  - {kind: logistic, optimizer: sgd, learning_rate: 0.5, batch_size: 128}
YAML
cat "$small" >/dev/null
/usr/bin/python3 - "$build/ringtrain" "$dir" <<'PY'
import re, resource, subprocess, sys
rt, d = sys.argv[1:]
def run(extra, out):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = subprocess.run([rt, "train", d + "/small.yaml", "--output", d + "/" + out] + extra,
                       capture_output=True, text=True, check=True)
    busy = float(re.search(r"^# rank 0: busy ([0-9.]+) s", p.stdout, re.M).group(1))
    # ru_maxrss of children is the largest child so far: run the smaller one first
    return busy, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print("1. 200,000 x 20,000, 20 non-zeros a row, softmax plain SGD, batch 128, 1 pass")
s_busy, s_rss = run([], "small-sparse")
d_busy, d_rss = run(["--set", "models.0.features=[0:20000]"], "small-dense")
print(f"   sparse arithmetic:       {s_busy:7.3f} s, {200000 / s_busy:12,.0f} samples/s, peak RSS {s_rss:.1f} MB")
print(f"   batches made dense:      {d_busy:7.3f} s, {200000 / d_busy:12,.0f} samples/s, peak RSS {d_rss:.1f} MB")
print(f"   ratio: {d_busy / s_busy:.1f}x")
PY

# ---- 2. 10^6 x 10^6 against scikit-learn -------------------------------------------------------
train="$dir/sparse-${rows}x1000000.libsvm"
test="$dir/sparse-test-100000x1000000.libsvm"
[[ -f "$train" ]] || { "$build/rt-gensparse" --rows "$rows" --features 1000000 --nnz 100 --seed 1 \
  --out "$train.tmp" && mv "$train.tmp" "$train"; }
[[ -f "$test" ]] || { "$build/rt-gensparse" --rows 100000 --features 1000000 --nnz 100 --seed 2 \
  --out "$test.tmp" && mv "$test.tmp" "$test"; }
cat >"$dir/big.yaml" <<YAML
# Written by scripts/bench_sparse.sh
data: {train: $PWD/$train, shards: 1}
run: {passes: $passes, seed: 1, threads: 1}
models:
  - {kind: logistic, optimizer: sgd, learning_rate: 0.1, l2: 0.000001, batch_size: 1}
YAML
cat "$train" "$test" >/dev/null
/usr/bin/python3 - "$build/ringtrain" "$dir" "$train" "$test" "$passes" <<'PY'
import os, re, resource, subprocess, sys, time, warnings
rt, d, train, test, passes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
mb = os.path.getsize(train) / 1e6
print(f"2. {train.split('/')[-1]}: {mb:.0f} MB of text; {passes} passes; binary logistic, plain SGD, "
      "learning rate 0.1 constant, L2 1e-6")
def rss():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
for batch in (1, 128):
    t0 = time.time()
    p = subprocess.run([rt, "train", d + "/big.yaml", "--set", f"models.0.batch_size={batch}",
                        "--output", d + f"/big-{batch}"], capture_output=True, text=True, check=True)
    wall = time.time() - t0
    busy = float(re.search(r"^# rank 0: busy ([0-9.]+) s", p.stdout, re.M).group(1))
    e = subprocess.run([rt, "eval", d + f"/big-{batch}/models/0.rtm", test, "--json"],
                       capture_output=True, text=True, check=True).stdout
    acc = float(re.search(r'"accuracy":([0-9.eE+-]+)', e).group(1))
    ll = float(re.search(r'"logloss":([0-9.eE+-]+)', e).group(1))
    print(f"   ringtrain batch {batch:3d}: wall {wall:6.1f} s (training {busy:6.2f} s, "
          f"{busy / passes:.2f} s a pass), test accuracy {acc:.4f}, log-loss {ll:.4f}, "
          f"peak RSS so far {rss():.0f} MB")
# scikit-learn in a child, so its peak memory is its own
code = r'''
import resource, sys, time, warnings
warnings.simplefilter("ignore")
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss
train, test, passes = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.time()
X, y = load_svmlight_file(train, n_features=1000000, dtype="float32")
Xt, yt = load_svmlight_file(test, n_features=1000000, dtype="float32")
load = time.time() - t0
clf = SGDClassifier(loss="log_loss", penalty="l2", alpha=1e-6, learning_rate="constant",
                    eta0=0.1, max_iter=passes, tol=None, shuffle=True, random_state=1)
t0 = time.time()
clf.fit(X, y)
fit = time.time() - t0
acc = clf.score(Xt, yt)
ll = log_loss(yt, clf.predict_proba(Xt))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"   scikit-learn SGDClassifier: load {load:6.1f} s (train and test), fit {fit:6.2f} s "
      f"({fit / passes:.2f} s a pass), test accuracy {acc:.4f}, log-loss {ll:.4f}, peak RSS {peak:.0f} MB")
'''
subprocess.run(["/usr/bin/python3", "-c", code, train, test, str(passes)], check=True)
PY
