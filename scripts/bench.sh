#!/usr/bin/env bash
# Benchmark: softmax regression on synthetic data (54,000 x 784 training rows, 6,000 validation
# rows, 10 classes) on one rank, against this machine's floors (rt-floor: memory bandwidth and
# sgemm GFLOP/s) and against scikit-learn's SGDClassifier. Results go to docs/BENCHMARKS.md by hand.
#
# Usage: scripts/bench.sh [options]
#   --threads "1 2"    run.threads values to run (default "1 2"), one training run each
#   --passes N         passes over the data (default 10); sklearn gets max_iter=N
#   --rows N           training rows (default 54000; validation rows are N/9)
#   --backend B        cpu (default) or cuda: passes --set run.backend=B to ringtrain
#   --no-sklearn       skip the scikit-learn baseline (and do not install it)
#   --no-floor         skip rt-floor (the floor fractions are then not printed)
# Builds in build-bench (Release); data in build-bench/data (made once); runs in
# build-bench/runs; the summary is also written to build-bench/summary.txt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/machine.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

threads_list="1 2"
passes=10
rows=54000
backend=cpu
sklearn=1
floor=1
features=784
classes=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads_list=${2:?--threads needs a value}; shift 2 ;;
    --passes) passes=${2:?--passes needs a value}; shift 2 ;;
    --rows) rows=${2:?--rows needs a value}; shift 2 ;;
    --backend) backend=${2:?--backend needs a value}; shift 2 ;;
    --no-sklearn) sklearn=0; shift ;;
    --no-floor) floor=0; shift ;;
    -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ "$passes" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --passes expects a positive integer" >&2; exit 2; }
[[ "$rows" =~ ^[1-9][0-9]*$ && $rows -ge 9 ]] || { echo "bench.sh: --rows expects an integer >= 9" >&2; exit 2; }
for t in $threads_list; do
  [[ "$t" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --threads expects positive integers" >&2; exit 2; }
done
[[ -n "${threads_list// /}" ]] || { echo "bench.sh: --threads is empty" >&2; exit 2; }
case "$backend" in cpu|cuda) ;; *) echo "bench.sh: --backend expects cpu or cuda" >&2; exit 2 ;; esac
val_rows=$((rows / 9))

if (( sklearn )); then scripts/setup.sh --bench; else scripts/setup.sh; fi

build="build-bench"
# The CUDA backend is only built when it is benchmarked.
cuda=OFF
if [[ "$backend" == cuda ]]; then cuda=ON; fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=$cuda
cmake --build "$build" -j"$(nproc)" --target ringtrain rt-floor rt-gendata

# A column of the first data row of a CSV file, by header name.
csv_get() {
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == name) c = i; next }
                        NR == 2 { if (c) print $c; exit }' "$1"
}
now() { date +%s.%N; }
# Floating-point arithmetic: calc 'awk expression' -v name=value...
calc() { local expr=$1; shift; awk "$@" "BEGIN { print $expr }"; }

echo "== machine"
echo "$(machine_desc "$build/ringtrain")"
declare -A floor_json
if (( floor )); then
  for t in $threads_list; do
    echo "== rt-floor --threads $t"
    floor_json[$t]=$("$build/rt-floor" --threads "$t" --json)
    for key in read_gbs copy_gbs triad_gbs; do
      printf '%-24s %10.2f GB/s\n' "$key" "$(json_get "${floor_json[$t]}" "$key")"
    done
    for key in sgemm_square_gflops sgemm_xw_gflops sgemm_xtg_gflops; do
      printf '%-24s %10.2f GFLOP/s\n' "$key" "$(json_get "${floor_json[$t]}" "$key")"
    done
    echo "${floor_json[$t]}" >"$build/floor-t$t.json"
  done
fi

# Data: two samples of the same problem (same --problem-seed, different --seed).
mkdir -p "$build/data"
train_npy="data/synth-train-${rows}x${features}.npy"
val_npy="data/synth-val-${val_rows}x${features}.npy"
make_data() { # FILE ROWS SEED
  if [[ ! -f "$build/$1" ]]; then
    echo "== rt-gendata $1"
    "$build/rt-gendata" --rows "$2" --features "$features" --classes "$classes" --seed "$3" \
      --problem-seed 1 --out "$build/$1.tmp"
    mv "$build/$1.tmp" "$build/$1"
  fi
}
make_data "$train_npy" "$rows" 1
make_data "$val_npy" "$val_rows" 2

config="$build/bench.yaml"
cat >"$config" <<EOF
# Written by scripts/bench.sh. Paths are relative to this file's folder.
data:
  train: $train_npy
  validation: $val_npy
  label_column: 0
run:
  passes: $passes
  seed: 1
  threads: 1
models:
  # Chosen by an 8-model ringtrain sweep on this data (docs/BENCHMARKS.md lists it).
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: 0.01, batch_size: 512, l2: 0.01}
EOF

backend_args=()
if [[ "$backend" != cpu ]]; then backend_args=(--set "run.backend=$backend"); fi
declare -A wall train_s acc
for t in $threads_list; do
  out="$build/runs/$backend-t$t"
  rm -rf "$out"
  echo "== ringtrain train ($backend, run.threads=$t, $passes passes)"
  start=$(now)
  "$build/ringtrain" train "$config" --set "run.threads=$t" "${backend_args[@]}" --output "$out"
  end=$(now)
  wall[$t]=$(calc 'sprintf("%.3f", b - a)' -v a="$start" -v b="$end")
  train_s[$t]=$(csv_get "$out/results.csv" train_seconds)
  acc[$t]=$(csv_get "$out/results.csv" val_accuracy)
  [[ -n "${train_s[$t]}" ]] || train_s[$t]=${wall[$t]}
done

sk_json=""
if (( sklearn )) && /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
  echo "== scikit-learn SGDClassifier(loss=\"log_loss\", max_iter=$passes, tol=None), 1 thread"
  sk_json=$(/usr/bin/python3 scripts/bench_sklearn.py --train "$build/$train_npy" \
    --validation "$build/$val_npy" --label-column 0 --max-iter "$passes" --threads 1)
  echo "$sk_json"
elif (( sklearn )); then
  echo "== scikit-learn not importable by /usr/bin/python3: baseline skipped" >&2
fi

# Summary.
summary="$build/summary.txt"
{
  echo "# ringtrain bench: softmax regression, $rows x $features train, $val_rows validation," \
       "$classes classes, $passes passes, 1 rank, backend $backend"
  echo "# bytes read per pass = rows*features*4; flops per pass = 2*2*rows*features*classes"
  echo "# floors from rt-floor with the same thread count (memory: read GB/s; sgemm: X.W and X^T.G shapes)"
  printf '%-8s %9s %9s %12s %9s %10s %10s %10s\n' threads wall_s train_s samples/s val_acc \
    mem_floor gemm_floor vs_sklearn
  for t in $threads_list; do
    sps=$(calc 'sprintf("%.0f", p * r / s)' -v p="$passes" -v r="$rows" -v s="${train_s[$t]}")
    memf="-" gemmf="-" vs="-"
    if [[ -n "${floor_json[$t]:-}" ]]; then
      read_gbs=$(json_get "${floor_json[$t]}" read_gbs)
      xw=$(json_get "${floor_json[$t]}" sgemm_xw_gflops)
      xtg=$(json_get "${floor_json[$t]}" sgemm_xtg_gflops)
      # Floor seconds: the bytes of every pass read once at the measured bandwidth; the two
      # products of every step at the measured GFLOP/s of their shapes.
      memf=$(calc 'sprintf("%.3f", p * r * f * 4 / (bw * 1e9) / s)' -v p="$passes" -v r="$rows" \
        -v f="$features" -v bw="$read_gbs" -v s="${train_s[$t]}")
      gemmf=$(calc 'sprintf("%.3f", p * 2 * r * f * c * (1 / a + 1 / b) / 1e9 / s)' \
        -v p="$passes" -v r="$rows" -v f="$features" -v c="$classes" -v a="$xw" -v b="$xtg" \
        -v s="${train_s[$t]}")
    fi
    if [[ -n "$sk_json" ]]; then
      sk_s=$(json_get "$sk_json" seconds)
      vs=$(calc 'sprintf("%.2fx", a / s)' -v a="$sk_s" -v s="${train_s[$t]}")
    fi
    accuracy=-
    if [[ -n "${acc[$t]}" ]]; then printf -v accuracy '%.4f' "${acc[$t]}"; fi
    printf '%-8s %9.3f %9.3f %12s %9s %10s %10s %10s\n' "$t" "${wall[$t]}" "${train_s[$t]}" \
      "$sps" "$accuracy" "$memf" "$gemmf" "$vs"
  done
  echo "# mem_floor, gemm_floor: floor seconds / train_s (1.0 = at the floor);" \
       "vs_sklearn: sklearn fit seconds / train_s"
  if [[ -n "$sk_json" ]]; then
    echo "# sklearn $(json_get "$sk_json" sklearn): fit $(json_get "$sk_json" seconds) s," \
         "val_acc $(json_get "$sk_json" accuracy)"
  fi
} | tee "$summary"
