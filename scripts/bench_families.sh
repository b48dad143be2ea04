#!/usr/bin/env bash
# Benchmarks of the kmeans, mlp and linear families on one rank (run.threads 1), each against its
# scikit-learn counterpart timed in the same run on the same rows (issue 4):
#   kmeans  k=10 on 60,000 x 784, 10 passes, batch 1024, 5 seeds, on rt-gendata data (10 classes,
#           labels ignored; 6,000 held-out rows) and on Fashion-MNIST (the 10,000 test rows held
#           out): ringtrain's old recipe (mini-batch, plain k-means++) and new one (greedy
#           k-means++, 2 mini-batch passes then 8 Lloyd steps) vs MiniBatchKMeans (10 epochs)
#           and KMeans (Lloyd): medians over the seeds of the fit time and validation inertia
#   mlp     784-128-10 relu, Adam (lr 1e-3), batch 128, 10 passes on the same rows, vs
#           MLPClassifier with the same settings
#   ridge   exact ridge on 1,000,000 x 100 (rt-gendata --regression), one pass, against the
#           memory-bandwidth floor (rt-floor); 8 alphas vs 1 alpha (one shared statistics pass);
#           vs Ridge(solver="cholesky"); R^2 on 100,000 held-out rows
# Results go to docs/BENCHMARKS.md by hand.
#
# Usage: scripts/bench_families.sh [options]
#   --only LIST      kmeans, mlp and/or ridge, comma-separated (default: all three)
#   --no-sklearn     skip the scikit-learn baselines (and do not install them)
#   --repeats R      timed runs of every ringtrain command and scikit-learn fit; the fastest is
#                    reported (default 5)
#   --ridge-rows N   training rows of the ridge benchmark (default 1000000; validation N/10)
#   --kmeans-data L  data sets of the k-means benchmark, comma-separated: synthetic and/or
#                    fashion (Fashion-MNIST from Debian's dataset-fashion-mnist, installed on
#                    demand; default both)
#   --kmeans-seeds N seeds of the k-means benchmark (default 5)
# Builds in build-bench (Release); data in build-bench/data (made once); runs in
# build-bench/runs/families; the summary is also written to build-bench/summary-families.txt.
# Exit status: 0 when every run succeeded (whether or not a target was met), 1 when a run
# failed, 2 for bad options.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/machine.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

only="kmeans,mlp,ridge"
sklearn=1
repeats=5
ridge_rows=1000000
kmeans_data="synthetic,fashion"
km_seeds=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) only=${2:?--only needs a value}; shift 2 ;;
    --no-sklearn) sklearn=0; shift ;;
    --repeats) repeats=${2:?--repeats needs a value}; shift 2 ;;
    --ridge-rows) ridge_rows=${2:?--ridge-rows needs a value}; shift 2 ;;
    --kmeans-data) kmeans_data=${2:?--kmeans-data needs a value}; shift 2 ;;
    --kmeans-seeds) km_seeds=${2:?--kmeans-seeds needs a value}; shift 2 ;;
    -h|--help) sed -n '2,30s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench_families.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
declare -A want=()
IFS=, read -r -a only_list <<<"$only"
for b in "${only_list[@]}"; do
  case "$b" in
    kmeans|mlp|ridge) want[$b]=1 ;;
    *) echo "bench_families.sh: --only expects kmeans, mlp and/or ridge, got '$b'" >&2; exit 2 ;;
  esac
done
(( ${#want[@]} > 0 )) || { echo "bench_families.sh: --only is empty" >&2; exit 2; }
[[ "$repeats" =~ ^[1-9][0-9]*$ ]] || { echo "bench_families.sh: --repeats expects a positive integer" >&2; exit 2; }
[[ "$ridge_rows" =~ ^[1-9][0-9]*$ && $ridge_rows -ge 1000 ]] || {
  echo "bench_families.sh: --ridge-rows expects an integer >= 1000" >&2; exit 2; }
[[ "$km_seeds" =~ ^[1-9][0-9]*$ ]] || {
  echo "bench_families.sh: --kmeans-seeds expects a positive integer" >&2; exit 2; }
IFS=, read -r -a km_data <<<"$kmeans_data"
for ds in "${km_data[@]}"; do
  [[ "$ds" == synthetic || "$ds" == fashion ]] || {
    echo "bench_families.sh: --kmeans-data expects synthetic and/or fashion, got '$ds'" >&2; exit 2; }
done
if [[ -n "${want[kmeans]:-}" ]] && (( ! sklearn )); then
  echo "bench_families.sh: the k-means benchmark compares with scikit-learn (drop --no-sklearn"        "or --only kmeans)" >&2
  exit 2
fi

if (( sklearn )); then scripts/setup.sh --bench; else scripts/setup.sh; fi
fashion=0
[[ -n "${want[kmeans]:-}" && ",$kmeans_data," == *,fashion,* ]] && fashion=1
(( fashion )) && scripts/setup.sh --fashion-mnist
if (( sklearn )) && ! /usr/bin/python3 -c 'import sklearn, scipy, numpy' 2>/dev/null; then
  echo "bench_families.sh: scikit-learn, scipy or numpy not importable by /usr/bin/python3" >&2
  exit 1
fi

build="build-bench"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_TESTS=OFF -DRINGTRAIN_CUDA=OFF
cmake --build "$build" -j"$(nproc)" --target ringtrain rt-floor rt-gendata
runs="$build/runs/families"
mkdir -p "$runs" "$build/data"

die() { echo "bench_families.sh: $*" >&2; exit 1; }
# JSON value by key (machine.sh's json_get), or the script stops when it is missing.
json_need() {
  local v
  v=$(json_get "$1" "$2")
  [[ -n "$v" ]] || die "no '$2' in: $1"
  printf '%s\n' "$v"
}
# Column NAME of data row ROW (1-based) of a CSV file, by header name.
csv_get() {
  awk -F, -v name="$2" -v row="${3:-1}" \
    'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == name) c = i; next }
     NR == row + 1 { if (c) print $c; exit }' "$1"
}
# Every value of column NAME, one per line.
csv_column() {
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == name) c = i; next }
                        c { print $c }' "$1"
}
now() { date +%s.%N; }
# Floating-point arithmetic: calc 'awk expression' -v name=value...
calc() { local expr=$1; shift; awk "$@" "BEGIN { print $expr }"; }
min_of() { tr ' ' '\n' <<<"$*" | awk 'NF { if (m == "" || $1 < m) m = $1 } END { print m }'; }
max_of() { tr ' ' '\n' <<<"$*" | awk 'NF { if (m == "" || $1 > m) m = $1 } END { print m }'; }

# make_data FILE ROWS SEED [rt-gendata options...]: written once, kept for later runs.
make_data() {
  local file=$1 rows=$2 seed=$3
  shift 3
  if [[ ! -f "$build/$file" ]]; then
    echo "== rt-gendata $file"
    "$build/rt-gendata" --rows "$rows" --seed "$seed" --problem-seed 1 "$@" --out "$build/$file.tmp"
    mv "$build/$file.tmp" "$build/$file"
  fi
}

# rt_train NAME CONFIG [ringtrain args...]: runs `ringtrain train` $repeats times into
# $runs/NAME; sets RT_TRAIN (best total train_seconds over the models), RT_TRAINS (all),
# RT_WALL (best wall seconds of the command), RT_WALLS, RT_DIR. Fails unless every model is ok.
rt_train() {
  local name=$1 config=$2
  shift 2
  RT_DIR="$runs/$name"
  RT_TRAINS="" RT_WALLS=""
  local i start end total status
  for ((i = 1; i <= repeats; ++i)); do
    rm -rf "$RT_DIR"
    start=$(now)
    "$build/ringtrain" train "$config" --output "$RT_DIR" --quiet "$@" ||
      die "ringtrain train $config $* failed"
    end=$(now)
    RT_WALLS+="$(calc 'sprintf("%.3f", b - a)' -v a="$start" -v b="$end") "
    total=$(csv_column "$RT_DIR/results.csv" train_seconds | awk '{ s += $1 } END { printf "%.6f", s }')
    RT_TRAINS+="$total "
  done
  status=$(csv_column "$RT_DIR/results.csv" status | sort -u | tr '\n' ' ')
  [[ "$status" == "ok " ]] || die "$RT_DIR/results.csv: model status '$status' (expected ok)"
  RT_TRAIN=$(min_of "$RT_TRAINS")
  RT_WALL=$(min_of "$RT_WALLS")
  echo "   train_seconds: ${RT_TRAINS% }; wall: ${RT_WALLS% }"
}

sk() { # bench_families.py arguments...: prints its JSON
  /usr/bin/python3 scripts/bench_families.py "$@" || die "bench_families.py $1 failed"
}

pct() { calc 'sprintf("%+.2f%%", 100 * (a / b - 1))' -v a="$1" -v b="$2"; }

echo "== machine"
echo "$(machine_desc "$build/ringtrain")," \
     "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
summary="$build/summary-families.txt"
: >"$summary"
report() { tee -a "$summary"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# Other work on the machine shows in the timings: say how busy it was.
echo "# machine: $(nproc) CPUs, load average (1, 5, 15 min) at the start: $(loadavg)" | report

# ---- data ------------------------------------------------------------------------------------
features=784
classes=10
rows=60000
val_rows=6000
train_npy="data/synth-train-${rows}x${features}.npy"
val_npy="data/synth-val-${val_rows}x${features}.npy" # the same file (and name) as bench.sh's
if [[ -n "${want[kmeans]:-}${want[mlp]:-}" ]]; then
  make_data "$train_npy" "$rows" 1 --features "$features" --classes "$classes"
  make_data "$val_npy" "$val_rows" 2 --features "$features" --classes "$classes"
fi
fashion_train="data/fashion-mnist-train-60000x784.npy"
fashion_test="data/fashion-mnist-test-10000x784.npy"
if (( fashion )) && [[ ! -f "$build/$fashion_train" || ! -f "$build/$fashion_test" ]]; then
  echo "== Fashion-MNIST to .npy"
  /usr/bin/python3 scripts/bench_families.py fashion-mnist --train-out "$build/$fashion_train" \
    --test-out "$build/$fashion_test" || die "cannot convert Fashion-MNIST"
fi
r_features=100
r_val_rows=$((ridge_rows / 10))
r_train_npy="data/regr-train-${ridge_rows}x${r_features}.npy"
r_val_npy="data/regr-val-${r_val_rows}x${r_features}.npy"
r_tiny_npy="data/regr-tiny-1000x${r_features}.npy"
if [[ -n "${want[ridge]:-}" ]]; then
  make_data "$r_train_npy" "$ridge_rows" 1 --features "$r_features" --regression
  make_data "$r_val_npy" "$r_val_rows" 2 --features "$r_features" --regression
  make_data "$r_tiny_npy" 1000 3 --features "$r_features" --regression
fi

# write_config FILE TRAIN VALIDATION PASSES SHARDS MODEL-LINES...: a config in build-bench (paths
# are relative to its folder), run.seed $run_seed (default 1). Every variant gets its own file (no
# --set).
write_config() {
  local file=$1 train=$2 validation=$3 passes=$4 shards=$5
  shift 5
  {
    echo "# Written by scripts/bench_families.sh. Paths are relative to this file's folder."
    echo "data: {train: $train, validation: $validation, label_column: 0, shards: $shards}"
    echo "run: {passes: $passes, seed: ${run_seed:-1}, threads: 1}"
    echo "models:"
    printf '  - %s\n' "$@"
  } >"$file"
}

# ---- k-means ---------------------------------------------------------------------------------
# kmeans_bench NAME LABEL TRAIN VALIDATION: on one data set (paths relative to $build), for each of the
# $km_seeds seeds: ringtrain's old recipe (mini-batch passes after plain k-means++) and its new one
# (km_model[new]), each run $repeats times (best train_seconds), then scikit-learn's MiniBatchKMeans
# (best of $repeats per dtype) and KMeans (timed once) with that seed, every model's validation
# inertia computed alike by bench_families.py; the table gives the medians over the seeds.
kmeans_bench() {
  local name=$1 label=$2 train=$3 val=$4 seed recipe
  local lines="$build/kmeans-$name.jsonl"
  : >"$lines"
  # k-means++ runs before the first pass, so it is not part of train_seconds: its cost is the
  # start-up (wall - train_seconds) of a 1-pass run of 10 models with the recipe's init
  # minus that of one with init_sample 10 and plain k-means++, divided by 10 (best of
  # $repeats each; the copies spread the noise of a busy machine over many initialisations).
  local copies=10 i
  echo "== $name: ringtrain kmeans, 1 pass, $copies models: k-means++ cost"
  declare -A fixed=()
  for recipe in base old new; do
    local model="{kind: kmeans, k: $k, batch_size: $batch, init_sample: 10, init_trials: 1}" lines_=()
    [[ $recipe == base ]] || model=${km_init_model[$recipe]}
    for ((i = 0; i < copies; ++i)); do lines_+=("$model"); done
    write_config "$build/bench-kmeans-$name-1pass-$recipe.yaml" "$train" "$val" 1 1 "${lines_[@]}"
    rt_train "kmeans-$name-init-$recipe" "$build/bench-kmeans-$name-1pass-$recipe.yaml"
    fixed[$recipe]=$(calc 'sprintf("%.4f", w - t)' -v w="$RT_WALL" -v t="$RT_TRAIN")
  done
  declare -A init=()
  for recipe in old new; do
    init[$recipe]=$(calc 'sprintf("%.3f", a - b > 0 ? (a - b) / n : 0)' -v a="${fixed[$recipe]}" \
      -v b="${fixed[base]}" -v n="$copies")
  done
  for ((seed = 1; seed <= km_seeds; ++seed)); do
    local models=() times=()
    for recipe in old new; do
      run_seed=$seed write_config "$build/bench-kmeans-$name-$recipe-s$seed.yaml" "$train" "$val" \
        "$passes" 1 "${km_model[$recipe]}"
      echo "== $name, seed $seed: ringtrain kmeans $recipe, $passes passes ($repeats runs)"
      rt_train "kmeans-$name-$recipe-s$seed" "$build/bench-kmeans-$name-$recipe-s$seed.yaml"
      models+=(--ringtrain-model "$recipe=$RT_DIR/models/0.rtm")
      times+=(--ringtrain-seconds "$recipe=$(calc 'sprintf("%.4f", a + b)' -v a="$RT_TRAIN" -v b="${init[$recipe]}")")
    done
    echo "== $name, seed $seed: scikit-learn MiniBatchKMeans / KMeans"
    sk kmeans --train "$build/$train" --validation "$build/$val" --k "$k" --batch-size "$batch" \
      --passes "$passes" --repeats "$repeats" --seed "$seed" "${models[@]}" "${times[@]}" | tee -a "$lines"
  done
  {
    echo "# k-means on $label, k=$k, $passes passes, batch $batch, 1 rank, run.threads 1; $km_seeds seeds" \
         "(run.seed / random_state 1..$km_seeds)"
    echo "#   ringtrain old: ${km_model[old]}"
    echo "#   ringtrain new: ${km_model[new]}"
    echo "# fit_s: ringtrain train_seconds (best of $repeats) + k-means++ (measured apart: old" \
         "${init[old]} s, new ${init[new]} s); scikit-learn fit() (MiniBatchKMeans best of $repeats," \
         "KMeans timed once), k-means++ included"
    /usr/bin/python3 scripts/bench_families.py kmeans-summary --input "$lines" --label "$label"
    echo
  } | report
}

if [[ -n "${want[kmeans]:-}" ]]; then
  k=10 batch=1024 passes=10 init=$((3 * 1024))
  # init_sample = scikit-learn's default init_size (3 x batch_size): all run k-means++ on 3,072
  # rows. old: Sculley's mini-batch passes after plain k-means++ (the default before greedy
  # trials and Lloyd passes); new: greedy k-means++, 2 mini-batch passes, then 8 Lloyd steps.
  declare -A km_model=(
    [old]="{kind: kmeans, k: $k, batch_size: $batch, init_sample: $init, init_trials: 1}"
    [new]="{kind: kmeans, k: $k, batch_size: $batch, init_sample: $init, lloyd_passes: 8}"
  )
  # The same initialisations in a 1-pass run (the k-means++ cost).
  declare -A km_init_model=(
    [old]="${km_model[old]}"
    [new]="{kind: kmeans, k: $k, batch_size: $batch, init_sample: $init}"
  )
  for ds in "${km_data[@]}"; do
    case "$ds" in
      synthetic)
        kmeans_bench synthetic "synthetic data (rt-gendata, $rows x $features train, $val_rows validation rows)" \
          "$train_npy" "$val_npy" ;;
      fashion)
        kmeans_bench fashion "Fashion-MNIST (60,000 x 784 train, the 10,000 test rows as validation)" \
          "$fashion_train" "$fashion_test" ;;
    esac
  done
fi

# ---- MLP -------------------------------------------------------------------------------------
if [[ -n "${want[mlp]:-}" ]]; then
  hidden=128 batch=128 passes=10 lr=0.001 alpha=0.0001
  # scikit-learn adds alpha * W / batch_rows to the mean gradient; ringtrain adds l2 * W: the
  # same penalty is l2 = alpha / batch_size. Neither penalises the biases. init xavier: normal
  # with variance 2 / (fan_in + fan_out), the variance of scikit-learn's Glorot-uniform init.
  l2=$(calc 'sprintf("%.10g", a / b)' -v a="$alpha" -v b="$batch")
  config="$build/bench-mlp.yaml"
  write_config "$config" "$train_npy" "$val_npy" "$passes" 1 \
    "{kind: mlp, hidden: [$hidden], activation: relu, init: xavier, optimizer: adam, learning_rate: $lr, beta1: 0.9, beta2: 0.999, epsilon: 1e-08, l2: $l2, batch_size: $batch}"
  echo "== ringtrain mlp, $passes passes ($repeats runs)"
  rt_train mlp "$config"
  mlp_train=$RT_TRAIN mlp_trains=$RT_TRAINS mlp_wall=$RT_WALL
  mlp_acc=$(csv_get "$RT_DIR/results.csv" val_accuracy)
  mlp_loss=$(csv_get "$RT_DIR/results.csv" train_loss)
  sk_json=""
  if (( sklearn )); then
    echo "== scikit-learn MLPClassifier"
    sk_json=$(sk mlp --train "$build/$train_npy" --validation "$build/$val_npy" \
      --hidden "$hidden" --batch-size "$batch" --passes "$passes" --learning-rate "$lr" \
      --alpha "$alpha" --repeats "$repeats")
    echo "$sk_json"
  fi
  {
    echo "# MLP $features-$hidden-$classes relu, Adam lr $lr, batch $batch, $passes passes," \
         "L2 (sklearn alpha $alpha = ringtrain l2 $l2 x batch): $rows x $features train," \
         "$val_rows validation rows, 1 rank, run.threads 1"
    echo "# fit_s: ringtrain train_seconds; scikit-learn fit() (best of $repeats each)"
    printf '%-38s %9s %9s %8s %12s %9s\n' system fit_s wall_s epochs train_loss val_acc
    printf '%-38s %9.3f %9.3f %8s %12.6f %9.4f\n' "ringtrain mlp, float32" "$mlp_train" \
      "$mlp_wall" "$passes" "$mlp_loss" "$mlp_acc"
    if [[ -n "$sk_json" ]]; then
      for dt in float32 float64; do
        printf '%-38s %9.3f %9s %8s %12.6f %9.4f\n' "sklearn MLPClassifier, $dt" \
          "$(json_need "$sk_json" "mlp_${dt}_seconds")" - "$(json_need "$sk_json" "mlp_${dt}_n_iter")" \
          "$(json_need "$sk_json" "mlp_${dt}_train_loss")" "$(json_need "$sk_json" "mlp_${dt}_accuracy")"
      done
      f32=$(json_need "$sk_json" mlp_float32_seconds) f64=$(json_need "$sk_json" mlp_float64_seconds)
      best_dt=float32; (( $(calc '(b < a) ? 1 : 0' -v a="$f32" -v b="$f64") )) && best_dt=float64
      sk_s=$(json_need "$sk_json" "mlp_${best_dt}_seconds")
      sk_acc=$(json_need "$sk_json" "mlp_${best_dt}_accuracy")
      speed=$(calc 'sprintf("%.2f", s / r)' -v s="$sk_s" -v r="$mlp_train")
      points=$(calc 'sprintf("%+.2f", 100 * (a - b))' -v a="$mlp_acc" -v b="$sk_acc")
      echo "# ringtrain train_seconds per run: ${mlp_trains% }; sklearn $best_dt fits:" \
           "$(json_need "$sk_json" "mlp_${best_dt}_all")"
      verdict=no
      (( $(calc '(s > 1 && p > -1) ? 1 : 0' -v s="$speed" -v p="$points") )) && verdict=yes
      echo "# target faster than MLPClassifier at accuracy within one point: ${speed}x" \
           "(sklearn $best_dt fit / ringtrain train_s), accuracy ${points} points: $verdict"
      echo "# scikit-learn $(json_need "$sk_json" sklearn), numpy $(json_need "$sk_json" numpy)," \
           "BLAS $(json_need "$sk_json" blas)"
    fi
    echo
  } | report
fi

# ---- ridge -----------------------------------------------------------------------------------
if [[ -n "${want[ridge]:-}" ]]; then
  batch=4096 alpha=1
  alphas=(0.1 1 10 100 1000 10000 100000 1000000)
  echo "== rt-floor --threads 1"
  floor_json=$("$build/rt-floor" --threads 1 --json)
  echo "$floor_json" >"$build/floor-families-t1.json"
  read_gbs=$(json_need "$floor_json" read_gbs)
  bytes=$((ridge_rows * (r_features + 1) * 4))
  floor_s=$(calc 'sprintf("%.4f", b / (g * 1e9))' -v b="$bytes" -v g="$read_gbs")
  model() { echo "{kind: linear, solver: exact, alpha: $1, batch_size: ${2:-$batch}}"; }
  one="$build/bench-ridge-1.yaml" eight="$build/bench-ridge-8.yaml" apart="$build/bench-ridge-8-apart.yaml"
  write_config "$one" "$r_train_npy" "$r_val_npy" 1 1 "$(model "$alpha")"
  lines=() apart_lines=()
  for i in "${!alphas[@]}"; do
    lines+=("$(model "${alphas[$i]}")")
    # A different batch size per model: nothing to share, every model makes its own pass.
    apart_lines+=("$(model "${alphas[$i]}" $((batch + i)))")
  done
  write_config "$eight" "$r_train_npy" "$r_val_npy" 1 1 "${lines[@]}"
  write_config "$apart" "$r_train_npy" "$r_val_npy" 1 1 "${apart_lines[@]}"
  write_config "$build/bench-ridge-8-2shards.yaml" "$r_train_npy" "$r_val_npy" 1 2 "${lines[@]}"
  echo "== ringtrain linear exact, 1 alpha ($repeats runs)"
  rt_train ridge-1 "$one"
  r1_train=$RT_TRAIN r1_wall=$RT_WALL r1_trains=$RT_TRAINS
  # The fixed cost of a training command (MPI start-up, config, writing the run directory):
  # the same model on 1,000 rows of the same problem (0.4 MB).
  echo "== ringtrain linear exact, 1 alpha, 1,000 rows (fixed costs; $repeats runs)"
  write_config "$build/bench-ridge-tiny.yaml" "$r_tiny_npy" "$r_tiny_npy" 1 1 "$(model "$alpha")"
  rt_train ridge-tiny "$build/bench-ridge-tiny.yaml"
  tiny_wall=$RT_WALL
  echo "== ringtrain linear exact, 8 alphas ($repeats runs)"
  rt_train ridge-8 "$eight"
  r8_train=$RT_TRAIN r8_wall=$RT_WALL r8_trains=$RT_TRAINS
  echo "== ringtrain linear exact, 8 alphas, a batch size each (no sharing; 1 run)"
  saved=$repeats repeats=1
  rt_train ridge-8-apart "$apart"
  repeats=$saved
  ra_train=$RT_TRAIN ra_wall=$RT_WALL
  echo "== ringtrain linear exact, 8 alphas, 2 ranks, data.shards 2 (hops; 1 run)"
  rm -rf "$runs/ridge-8-2ranks"
  scripts/mpirun.sh 2 "$build/ringtrain" train "$build/bench-ridge-8-2shards.yaml" \
    --output "$runs/ridge-8-2ranks" --quiet || die "2-rank run failed"
  sk_json=""
  if (( sklearn )); then
    echo "== scikit-learn Ridge(solver=\"cholesky\"); the statistics pass redone with numpy/BLAS"
    sk_json=$(sk ridge --train "$build/$r_train_npy" --validation "$build/$r_val_npy" \
      --alpha "$alpha" --batch-size "$batch" --repeats "$repeats" \
      --ringtrain-model "$runs/ridge-1/models/0.rtm")
    echo "$sk_json"
  fi
  # passes_run: passes made by the models that did not share another's (pass_shared_with empty).
  passes_run() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) { if ($i == "pass_shared_with") s = i; if ($i == "passes") p = i } next }
             $s == "" { n += $p } END { print n + 0 }' "$1"
  }
  {
    echo "# exact ridge (linear, solver exact, batch_size $batch): $ridge_rows x $r_features train," \
         "$r_val_rows validation rows (rt-gendata --regression), one pass, 1 rank, run.threads 1"
    echo "# bytes per pass = rows x (features + 1) x 4 = $bytes; rt-floor read $read_gbs GB/s" \
         "-> floor $floor_s s per pass"
    echo "# train_s: results.csv train_seconds summed over the models (the statistics pass; a" \
         "model that shares another's pass has 0); best of $repeats runs; bw_fraction = floor / train_s per pass"
    printf '%-44s %6s %6s %9s %9s %11s %9s\n' run models passes train_s wall_s bw_fraction val_r2
    row() { # LABEL DIR TRAIN WALL
      local n p r2
      n=$(csv_column "$2/results.csv" id | wc -l)
      p=$(passes_run "$2/results.csv")
      r2=$(csv_get "$2/results.csv" val_r2)
      printf '%-44s %6s %6s %9.3f %9.3f %11.3f %9.6f\n' "$1" "$n" "$p" "$3" "$4" \
        "$(calc 'f * p / t' -v f="$floor_s" -v p="$p" -v t="$3")" "$r2"
    }
    row "ringtrain, alpha $alpha" "$runs/ridge-1" "$r1_train" "$r1_wall"
    row "ringtrain, 8 alphas (one shared pass)" "$runs/ridge-8" "$r8_train" "$r8_wall"
    row "ringtrain, 8 alphas, batch sizes differ" "$runs/ridge-8-apart" "$ra_train" "$ra_wall"
    if [[ -n "$sk_json" ]]; then
      for dt in float64 float32; do
        printf '%-44s %6s %6s %9.3f %9s %11s %9.6f\n' "sklearn Ridge(alpha=$alpha, cholesky), $dt" 1 - \
          "$(json_need "$sk_json" "ridge_${dt}_seconds")" - - "$(json_need "$sk_json" "ridge_${dt}_r2")"
      done
    fi
    echo "# ringtrain train_seconds per run: 1 alpha ${r1_trains% }; 8 alphas ${r8_trains% }"
    echo "# the 8-alpha run, per model (results.csv, 1 rank) and on 2 ranks with data.shards 2:"
    printf '%-4s %9s %17s %13s %14s %13s %12s\n' id alpha pass_shared_with train_seconds val_r2 \
      hops_2ranks train_s_2rk
    for i in "${!alphas[@]}"; do
      f="$runs/ridge-8/results.csv" g="$runs/ridge-8-2ranks/results.csv" r=$((i + 1))
      shared=$(csv_get "$f" pass_shared_with "$r")
      printf '%-4s %9s %17s %13s %14.8f %13s %12s\n' "$(csv_get "$f" id "$r")" "$(csv_get "$f" alpha "$r")" \
        "${shared:--}" "$(csv_get "$f" train_seconds "$r")" "$(csv_get "$f" val_r2 "$r")" \
        "$(csv_get "$g" hops "$r")" "$(csv_get "$g" train_seconds "$r")"
    done
    verdict=no
    (( $(calc '(t8 <= 1.1 * t1 && p8 == 1) ? 1 : 0' -v t8="$r8_train" -v t1="$r1_train" \
         -v p8="$(passes_run "$runs/ridge-8/results.csv")") )) && verdict=yes
    echo "# target 8 alphas cost no more passes than 1: passes 1 vs 1, train_s $r8_train vs $r1_train: $verdict"
    frac=$(calc 'sprintf("%.3f", f / t)' -v f="$floor_s" -v t="$r1_train")
    verdict=no; (( $(calc '(x >= 0.5) ? 1 : 0' -v x="$frac") )) && verdict=yes
    echo "# target pass at >= 50% of the memory-bandwidth floor: $frac: $verdict"
    if [[ -n "$sk_json" ]]; then
      echo "# where the time goes (seconds; numpy/scipy redo of the statistics pass on the same" \
           "OpenBLAS, 1 thread, batches of $(json_need "$sk_json" stats_batch_size) rows):"
      printf '#   %-62s %9s\n' "ringtrain whole command (wall, best)" "$r1_wall"
      printf '#   %-62s %9s\n' "ringtrain statistics pass (train_seconds, best)" "$r1_train"
      printf '#   %-62s %9s\n' "ringtrain fixed costs (wall of the same model on 1,000 rows)" "$tiny_wall"
      printf '#   %-62s %9s\n' "ringtrain rest: reading the two .npy files ($(calc 'sprintf("%.0f", 1.1 * b / 1e6)' -v b="$bytes") MB), validation" \
        "$(calc 'sprintf("%.3f", w - t - c)' -v w="$r1_wall" -v t="$r1_train" -v c="$tiny_wall")"
      printf '#   %-62s %9s\n' "numpy np.load of the training file (page cache)" "$(json_need "$sk_json" np_load_seconds)"
      printf '#   %-62s %9s\n' "numpy: float32 -> shifted float64 rows + column of ones" "$(json_need "$sk_json" stats_convert_seconds)"
      printf '#   %-62s %9s\n' "BLAS dsyrk G += X~^T X~ ($(json_need "$sk_json" stats_dsyrk_gflops) GFLOP/s)" "$(json_need "$sk_json" stats_dsyrk_seconds)"
      printf '#   %-62s %9s\n' "BLAS dgemv r += X~^T y" "$(json_need "$sk_json" stats_dgemv_seconds)"
      printf '#   %-62s %9s\n' "sum of the three (numpy's statistics pass)" "$(json_need "$sk_json" stats_total_seconds)"
      printf '#   %-62s %9s\n' "for comparison: BLAS ssyrk on the float32 rows ($(json_need "$sk_json" stats_ssyrk_gflops) GFLOP/s)" "$(json_need "$sk_json" stats_ssyrk_seconds)"
      printf '#   %-62s %9s\n' "memory-bandwidth floor of the pass" "$floor_s"
      echo "# ringtrain's coefficients, evaluated by the same numpy code: R^2 $(json_need "$sk_json" ringtrain_r2)," \
           "RMSE $(json_need "$sk_json" ringtrain_rmse); max |ringtrain - sklearn float64| over w and b:" \
           "$(json_need "$sk_json" ringtrain_max_abs_coef_diff); sklearn float64 RMSE $(json_need "$sk_json" ridge_float64_rmse)"
      echo "# scikit-learn $(json_need "$sk_json" sklearn), numpy $(json_need "$sk_json" numpy)," \
           "BLAS $(json_need "$sk_json" blas)"
    fi
    echo
  } | report
fi
echo "# load average (1, 5, 15 min) at the end: $(loadavg)" | report
echo "== summary written to $summary"
