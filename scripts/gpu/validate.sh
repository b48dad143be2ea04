#!/usr/bin/env bash
# Validates ringtrain's CUDA backend on this node in one command, from an unpacked bundle
# (scripts/gpu/bundle.sh), within 6 minutes on one H100/H200:
#   ringtrain-bundle/scripts/gpu/validate.sh REPORT_DIR
# It sources env.sh itself. Checks, in this order (a check that needs 2 GPUs is listed as
# "NOT RUN: 1 GPU" on one):
#   1. env.sh found the CUDA libraries; the device query (rt-gpu-query): every device's name and
#      memory, driver / runtime / cuBLAS / NCCL versions, device 0's copy bandwidth. No device is a
#      failure: one line on stderr, report.md written, exit 1, nothing else runs;
#   2. the gpu test binaries (bin/tests/test_gpu_*) and scripts (tests/gpu/test_*.sh), run
#      directly; exit 77 (skipped) counts as failed here; then the matrix product of cuda/gemm.cu
#      for the families' shapes (rt-gpu-query --gemm): equal to its host emulation, the same alone
#      as in its batch, and its GFLOP/s against cuBLAS's strided-batched sgemm;
#   3. CPU vs CUDA training of a sweep of every family on the 8x8 digits: every validation metric
#      within 1e-3 relative (accuracy within 2 validation rows), every model ok on both;
#   4. determinism: the same sweep twice on CUDA, model files compared with cmp; 2 CUDA ranks vs 1
#      with 2 or more GPUs;
#   5. throughput on synthetic data (rt-gendata, 784 features, 10 classes): a 16- and a 64-model
#      softmax sweep, an MLP sweep and a k-means sweep on 60,000 rows (then the 16-model softmax
#      and the MLP sweeps again, model files compared with cmp) and on 1,000,000 rows:
#      model-samples per second, the fraction of the memory-bandwidth floor (device copy
#      bandwidth measured in this run) and kernel launches per batch (CUPTI,
#      lib/librt_launch_count.so, from runs of 1 and 2 passes on 60,000 rows);
#   6. compute-sanitizer memcheck and racecheck over the parity and group tests, when the tool
#      exists.
# REPORT_DIR gets report.md (read it first), summary.json, device.log, tests.log, training.log,
# throughput.log and sanitizer.log. Scratch data (about 3.5 GB) goes to a folder under $TMPDIR
# (default /tmp), removed at the end.
# Exit status: 0 every check that ran passed; 1 a check failed (or no device); 3 none failed but
# the time budget stopped one; 2 usage.
set -uo pipefail

usage() { sed -n '2,28s/^# \{0,1\}//p' "$0"; }
if [[ $# -ne 1 || "$1" == -* ]]; then
  if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then usage; exit 0; fi
  usage >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bundle=$(cd "$here/../.." && pwd)
if [[ ! -x "$bundle/bin/ringtrain" || ! -f "$bundle/env.sh" || ! -f "$bundle/lib/node-requires.txt" ]]; then
  echo "validate.sh: run it from an unpacked bundle (scripts/gpu/bundle.sh packs one):" \
       "$bundle/bin/ringtrain or $bundle/env.sh is missing" >&2
  exit 2
fi
mkdir -p "$1" || exit 2
VL_DIR=$(cd "$1" && pwd)
VL_WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringtrain-validate.XXXXXX") || exit 2
source "$here/validate_lib.sh"

BUDGET=345  # seconds for everything; the report is written within the remaining 15 of 6 minutes
REL_TOL=1e-3
ACC_ROWS=2
vl_init "$BUDGET"
dev_log="$VL_DIR/device.log" tests_log="$VL_DIR/tests.log" train_log="$VL_DIR/training.log"
tp_log="$VL_DIR/throughput.log" san_log="$VL_DIR/sanitizer.log"
for f in "$dev_log" "$tests_log" "$train_log" "$tp_log" "$san_log"; do : >"$f"; done
gen_pid=
cleanup() {
  [[ -z "$gen_pid" ]] || kill "$gen_pid" 2>/dev/null
  rm -rf "$VL_WORK"
}
trap cleanup EXIT
trap 'vl_record run "validate.sh" FAILED 0 "interrupted by a signal"; vl_write_report "interrupted"; exit 1' INT TERM

rt=$bundle/bin/ringtrain
vl_fact host "$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
vl_fact bundle "$(sed -n 's/^commit: //p' "$bundle/MANIFEST.txt" 2>/dev/null) ($(sed -n 's/^packed: //p' "$bundle/MANIFEST.txt" 2>/dev/null))"
vl_fact device_line "not queried yet"
vl_write_report

# stop LINE: a failure that ends the validation (no environment, no device).
stop() {
  vl_write_report
  echo "validate.sh: $1 (report: $VL_DIR/report.md)" >&2
  exit 1
}
# log_run LOG TITLE CAP cmd...: runs the command with a time cap, appends its output to LOG under
# a title line; sets RC and SECS.
log_run() {
  local log=$1 title=$2 cap=$3 t0
  shift 3
  if [[ $cap -lt 1 ]]; then # timeout 0 would mean no limit at all
    echo "==== $title: not started, no time left" >>"$log"
    RC=124 SECS=0
    return
  fi
  t0=$(vl_now)
  echo "==== $title (cap ${cap} s)" >>"$log"
  timeout -k 5 "$cap" "$@" >>"$log" 2>&1
  RC=$?
  SECS=$(vl_elapsed "$t0")
  echo "==== exit $RC after $SECS s" >>"$log"
}
# status_after RC CAP FULL_CAP: PASSED / FAILED / INCOMPLETE; a run that used its whole own cap
# (not one the budget shortened) and was stopped hangs: FAILED.
status_after() {
  local s
  s=$(vl_status_of "$1")
  if [[ "$s" == INCOMPLETE && "$2" -ge "$3" ]]; then s=FAILED; fi
  echo "$s"
}
budget_gone() { # GROUP NAME: a check the budget left no time for
  vl_record "$1" "$2" INCOMPLETE 0 "not started: the ${BUDGET} s budget was spent"
}

# ---- 1. environment and device ------------------------------------------------------------------
t0=$(vl_now)
echo "==== source env.sh" >>"$dev_log"
if source "$bundle/env.sh" >>"$dev_log" 2>&1; then
  vl_record device "bundle environment (env.sh)" PASSED "$(vl_elapsed "$t0")" \
    "$(grep -E '^env.sh: (lib|glibc|compute-san)' "$dev_log" | sed 's/^env.sh: //; s/: \/[^ ]* (/ (/' | paste -sd ';' - | sed 's/;/; /g')"
else
  line=$(grep -E 'NOT FOUND|needs|lacks|no libstdc' "$dev_log" | head -1)
  vl_record device "bundle environment (env.sh)" FAILED "$(vl_elapsed "$t0")" "${line:-env.sh failed, see device.log}"
  stop "${line:-env.sh failed, see $dev_log}"
fi

cap=$(vl_cap 60)
[[ $cap -ge 1 ]] || cap=1
t0=$(vl_now)
echo "==== rt-gpu-query --json --copy-mib 1024 --repeats 10" >>"$dev_log"
query=$(timeout -k 5 "$cap" "$bundle/bin/rt-gpu-query" --json --copy-mib 1024 --repeats 10 2>"$VL_WORK/query.err")
rc=$?
cat "$VL_WORK/query.err" >>"$dev_log"
echo "$query" >>"$dev_log"
if [[ $rc -ne 0 || -z "$query" ]]; then
  line=$(grep -v '^$' "$VL_WORK/query.err" | head -1)
  [[ -n "$line" ]] || line="rt-gpu-query: exit $rc, no output"
  [[ $rc -ne 124 && $rc -ne 137 ]] || line="rt-gpu-query did not answer within $cap s"
  vl_fact device_line "none: $line"
  vl_record device "device query" FAILED "$(vl_elapsed "$t0")" "$line"
  stop "$line"
fi
timeout -k 5 30 "$bundle/bin/rt-gpu-query" --copy-mib 0 >>"$dev_log" 2>&1
if command -v nvidia-smi >/dev/null 2>&1; then
  { echo "==== nvidia-smi"; timeout 20 nvidia-smi; } >>"$dev_log" 2>&1
fi
gpus=$(vl_json_get "$query" device_count)
copy_gbs=$(sed -n 's/.*"copy":{[^}]*"gbs":\([0-9.]*\).*/\1/p' <<<"$query")
dev_name=$(vl_json_get "$query" name)
vl_fact device_json "$query"
vl_fact copy_gbs "$copy_gbs"
vl_fact device_line "$dev_name (compute capability $(vl_json_get "$query" compute_capability), $(vl_json_get "$query" memory_total_mib) MiB) x $gpus; driver supports CUDA $(vl_json_get "$query" driver_cuda); runtime CUDA $(vl_json_get "$query" runtime_cuda); cuBLAS $(vl_json_get "$query" cublas); NCCL $(vl_json_get "$query" nccl)"
vl_record device "device query" PASSED "$(vl_elapsed "$t0")" \
  "$gpus device(s); device 0: $dev_name, $(vl_json_get "$query" memory_total_mib) MiB, peak $(vl_json_get "$query" memory_peak_gbs) GB/s from clock and bus; device copy $copy_gbs GB/s"
vl_write_report

# Synthetic data for the throughput stage, made on the CPU while the tests run on the GPU.
data="$VL_WORK/data"
mkdir -p "$data"
free_kb=$(df -Pk "$VL_WORK" | awk 'NR == 2 { print $4 }')
big_rows=1000000
if [[ "${free_kb:-0}" -lt 4500000 ]]; then
  big_rows=0
  echo "only $((free_kb / 1024)) MiB free in $VL_WORK: the 1,000,000-row runs are skipped" >>"$tp_log"
fi
gen_threads=$(($(nproc) > 2 ? $(nproc) / 2 : 1))
(
  gen() { # FILE ROWS SEED
    OMP_NUM_THREADS=$gen_threads "$bundle/bin/rt-gendata" --rows "$2" --features 784 --classes 10 \
      --seed "$3" --problem-seed 1 --out "$data/$1.tmp" && mv "$data/$1.tmp" "$data/$1"
  }
  t=$(date +%s)
  gen train60k.npy 60000 1 && gen val10k.npy 10000 2 || exit 1
  if [[ $big_rows -gt 0 ]]; then gen train1m.npy "$big_rows" 3 || exit 1; fi
  echo "rt-gendata: $(($(date +%s) - t)) s"
) >>"$tp_log" 2>&1 &
gen_pid=$!

# ---- 2. gpu tests -------------------------------------------------------------------------------
python_dir=
if ! command -v python3 >/dev/null 2>&1; then
  for py in /opt/*/.venv/bin/python3 /opt/*/venv/bin/python3 /opt/conda/bin/python3 /usr/local/bin/python3; do
    if [[ -x "$py" ]]; then python_dir=$(dirname "$py"); break; fi
  done
fi
test_path="${python_dir:+$python_dir:}$PATH"
run_gpu_test() { # NAME FULL_CAP cmd...
  local name=$1 full=$2 cap status detail
  shift 2
  if vl_needs_multi_gpu "$name" && [[ "$gpus" -lt 2 ]]; then
    vl_record tests "$name" "NOT RUN" 0 "needs 2 or more GPUs: $gpus visible"
    return
  fi
  cap=$(vl_cap "$full")
  if [[ $cap -lt 10 ]]; then budget_gone tests "$name"; return; fi
  log_run "$tests_log" "$name" "$cap" env PATH="$test_path" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$@"
  status=$(status_after "$RC" "$cap" "$full")
  detail=$(sed -n '/^==== '"$name"' /,$p' "$tests_log" |
           grep -E '^\[  (PASSED|FAILED|SKIPPED) +\]|^[0-9]+ passed, [0-9]+ failed|^SKIPPED|^FAIL:|^note:' | tail -4 | paste -sd ';' -)
  case "$RC" in
    77) detail="exit 77 (skipped), which counts as failed here: $detail" ;;
    124|137) detail="stopped after $cap s: $detail" ;;
  esac
  vl_record tests "$name" "$status" "$SECS" "${detail:-exit $RC}"
}
shopt -s nullglob
for t in "$bundle"/bin/tests/test_gpu_*; do
  [[ -x "$t" ]] || continue
  run_gpu_test "$(basename "$t")" 90 bash -c 'cd "$1" && exec "$2"' _ "$VL_WORK" "$t"
done
for s in "$bundle"/tests/gpu/test_*.sh; do
  run_gpu_test "$(basename "$s")" 150 bash "$s" "$rt" "$bundle"
done
shopt -u nullglob
vl_write_report

# ---- 2b. the matrix product: device = host emulation, alone = in its batch, speed vs cuBLAS ------
cap=$(vl_cap 60)
if [[ $cap -ge 10 ]]; then
  t0=$(vl_now)
  echo "==== rt-gpu-query --copy-mib 0 --repeats 20 --gemm --json (cap $cap s)" >>"$tp_log"
  gemm_json=$(timeout -k 5 "$cap" "$bundle/bin/rt-gpu-query" --copy-mib 0 --repeats 20 --gemm --json 2>"$VL_WORK/gemm.err")
  rc=$?
  { cat "$VL_WORK/gemm.err"; echo "$gemm_json"; echo "==== exit $rc after $(vl_elapsed "$t0") s"; } >>"$tp_log"
  cases=$(sed -n 's/.*"gemm":\[\(.*\)\]}$/\1/p' <<<"$gemm_json" | sed 's/},{/}\n{/g')
  if [[ -z "$cases" ]]; then
    why=$(grep -v '^$' "$VL_WORK/gemm.err" | head -1)
    [[ $rc -ne 124 && $rc -ne 137 ]] || why="not finished within $cap s"
    vl_record products "the matrix product (rt-gpu-query --gemm)" "$(status_after "$rc" "$cap" 60)" \
      "$(vl_elapsed "$t0")" "exit $rc, no cases: ${why:-no output}"
  else
    while read -r obj; do
      field() { sed -n 's/.*"'"$1"'":"\{0,1\}\([^",}]*\).*/\1/p' <<<"$obj"; }
      name=$(sed -n 's/.*"case":"\([^"]*\)".*/\1/p' <<<"$obj")
      ours=$(field ours_gflops) tiled=$(field tiled_gflops) cub=$(field cublas_gflops)
      same=$(field same_as_emulation) tsame=$(field tiled_same_as_emulation)
      alone=$(field batch_independent) calone=$(field cublas_batch_independent)
      ratio=$(awk -v o="$ours" -v c="$cub" 'BEGIN { if (c > 0) printf "%.2f", o / c; else print "-" }')
      vl_record products "$name" "$([[ $same == true && $tsame == true && $alone == true ]] && echo PASSED || echo FAILED)" 0 \
        "ours $ours GFLOP/s (registers; shared-memory form $tiled), cuBLAS $cub (ours/cuBLAS $ratio); device = host emulation: $same (shared-memory form: $tsame); alone = in its batch: $alone (cuBLAS: $calone)"
    done <<<"$cases"
  fi
else
  budget_gone products "the matrix product (rt-gpu-query --gemm)"
fi
vl_write_report

# ---- 3. CPU vs CUDA, every family; 4. determinism and ranks -------------------------------------
fam="$VL_WORK/fam"
mkdir -p "$fam/data"
cp "$bundle/configs/data/digits.csv" "$fam/data/"
cat >"$fam/families.yaml" <<'YAML'
# Every family on the 8x8 digits (written by scripts/gpu/validate.sh).
data: {train: data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4, normalize: standard}
run: {passes: 3, seed: 7}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 64, l2: 0.0001}
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: 0.05, batch_size: 32, schedule: cosine}
  - {kind: mlp, hidden: [64], activation: relu, optimizer: adam, learning_rate: 0.003, batch_size: 32, l2: 0.0001}
  - {kind: mlp, hidden: [32, 16], activation: gelu, optimizer: adam, learning_rate: 0.005, batch_size: 32}
  - {kind: mlp, hidden: [24], activation: tanh, output: regression, optimizer: sgd, learning_rate: 0.01, batch_size: 64}
  - {kind: kmeans, k: 10, batch_size: 128}
  - {kind: kmeans, k: 30, batch_size: 64}
  - {kind: linear, solver: exact, alpha: 1.0}
  - {kind: linear, solver: sgd, optimizer: adam, learning_rate: 0.01, alpha: 0.5, batch_size: 40}
YAML
fam_models=$(grep -c '^  - {kind' "$fam/families.yaml")
# The host's processor and the OpenBLAS kernels the CPU runs use (`check` names them): the CPU
# side of every CPU-vs-CUDA comparison.
vl_fact host_cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores; $("$rt" check "$fam/families.yaml" 2>/dev/null | sed -n 's/^# blas: //p' | head -1)"
train_run() { # TITLE CAP OUTDIR CONFIG [args...]: ringtrain train with the time cap; sets RC, SECS
  local title=$1 cap=$2 out=$3 config=$4
  shift 4
  log_run "$train_log" "$title" "$cap" "$rt" train "$config" --quiet --output "$out" "$@"
}
first_error() { sed -n '/^==== '"$1"' /,$p' "$2" | grep -m1 -E 'error|FAIL|Error' || echo "exit $RC"; }
same_files() { # DIR_A DIR_B: cmp of every model file; prints what differs
  local m diff=0 n=0
  for m in "$1"/models/*.rtm; do
    n=$((n + 1))
    cmp -s "$m" "$2/models/$(basename "$m")" || { echo "$(basename "$m") differs"; diff=1; }
  done
  [[ $n -gt 0 ]] || { echo "no model files in $1"; return 1; }
  [[ $diff -eq 0 ]] && echo "$n model files identical"
  return $diff
}

fam_ok=0
cap=$(vl_cap 60)
if [[ $cap -ge 10 ]]; then
  train_run "families on CUDA" "$cap" "$fam/cuda1" "$fam/families.yaml" --set run.backend=cuda
  cuda_rc=$RC cuda_secs=$SECS cuda_cap=$cap
  cap=$(vl_cap 60)
  train_run "families on the CPU" "$cap" "$fam/cpu" "$fam/families.yaml" --set run.backend=cpu --set run.threads=4
  if [[ $cuda_rc -ne 0 ]]; then
    vl_record training "CPU vs CUDA, every family ($fam_models models, digits, 3 passes)" \
      "$(status_after "$cuda_rc" "$cuda_cap" 60)" "$cuda_secs" "the CUDA run failed: $(first_error "families on CUDA" "$train_log")"
  elif [[ $RC -ne 0 ]]; then
    vl_record training "CPU vs CUDA, every family ($fam_models models, digits, 3 passes)" \
      "$(status_after "$RC" "$cap" 60)" "$SECS" "the CPU run failed: $(first_error "families on the CPU" "$train_log")"
  else
    { echo "==== CPU vs CUDA: every validation metric within $REL_TOL relative, accuracy within $ACC_ROWS rows"
      vl_compare_results "$fam/cpu/results.csv" "$fam/cuda1/results.csv" "$REL_TOL" "$ACC_ROWS"; } \
      >"$VL_WORK/compare.txt" 2>&1
    cmp_rc=$?
    cat "$VL_WORK/compare.txt" >>"$train_log"
    fam_ok=$((cmp_rc == 0))
    vl_record training "CPU vs CUDA, every family ($fam_models models, digits, 3 passes)" \
      "$([[ $cmp_rc -eq 0 ]] && echo PASSED || echo FAILED)" "$cuda_secs" \
      "$(tail -1 "$VL_WORK/compare.txt")$([[ $cmp_rc -eq 0 ]] || echo "; $(grep -m3 ';' "$VL_WORK/compare.txt" | paste -sd ' ' -)")"
  fi
else
  budget_gone training "CPU vs CUDA, every family"
fi

if [[ -d "$fam/cuda1/models" ]]; then
  cap=$(vl_cap 60)
  if [[ $cap -ge 10 ]]; then
    train_run "families on CUDA, again" "$cap" "$fam/cuda2" "$fam/families.yaml" --set run.backend=cuda
    if [[ $RC -ne 0 ]]; then
      vl_record determinism "the family sweep twice on CUDA" "$(status_after "$RC" "$cap" 60)" "$SECS" \
        "the second run failed: $(first_error "families on CUDA, again" "$train_log")"
    else
      d=$(same_files "$fam/cuda1" "$fam/cuda2")
      vl_record determinism "the family sweep twice on CUDA" "$([[ $? -eq 0 ]] && echo PASSED || echo FAILED)" "$SECS" "cmp: $d"
    fi
  else
    budget_gone determinism "the family sweep twice on CUDA"
  fi
else
  vl_record determinism "the family sweep twice on CUDA" "NOT RUN" 0 "the first CUDA run of the sweep failed"
fi

if [[ "$gpus" -ge 2 ]]; then
  cap=$(vl_cap 90)
  if [[ $cap -ge 10 && -d "$fam/cuda1/models" ]]; then
    log_run "$train_log" "families on CUDA, 2 ranks" "$cap" bash "$bundle/scripts/mpirun.sh" 2 "$rt" train \
      "$fam/families.yaml" --quiet --output "$fam/cuda-2ranks" --set run.backend=cuda
    if [[ $RC -ne 0 ]]; then
      vl_record determinism "2 CUDA ranks vs 1 (MPI hand-offs)" "$(status_after "$RC" "$cap" 90)" "$SECS" \
        "$(first_error "families on CUDA, 2 ranks" "$train_log")"
    else
      d=$(same_files "$fam/cuda1" "$fam/cuda-2ranks")
      vl_record determinism "2 CUDA ranks vs 1 (MPI hand-offs)" "$([[ $? -eq 0 ]] && echo PASSED || echo FAILED)" "$SECS" "cmp: $d"
    fi
  else
    budget_gone determinism "2 CUDA ranks vs 1 (MPI hand-offs)"
  fi
else
  vl_record determinism "2 CUDA ranks vs 1 (MPI hand-offs)" "NOT RUN" 0 "1 GPU"
  vl_record determinism "NCCL ring across GPUs" "NOT RUN" 0 "1 GPU"
fi
vl_write_report

# ---- 5. throughput ------------------------------------------------------------------------------
tp="$VL_WORK/tp"
mkdir -p "$tp"
# write_config NAME TRAIN_FILE PASSES: the workload's config in $tp/NAME.yaml
# (NAME_off and NAME_launches: the same config as NAME; throughput_run trains them with run.fuse off
# or RINGTRAIN_CUDA_GRAPHS=0: launch by launch instead of a CUDA Graph per visit; NAME_tiled: with
# RINGTRAIN_CUDA_GEMM=tiled; NAME_1shard: the data in one shard instead of four)
write_config() {
  local name=$1 file=$2 passes=$3 i base=${1%%_*}
  local lrs=(0.0005 0.001 0.002 0.005 0.01 0.02 0.03 0.05)
  {
    echo "# $name (written by scripts/gpu/validate.sh)"
    echo "data: {train: ../data/$file, validation: ../data/val10k.npy, label_column: 0, shards: $([[ $name == *_1shard* ]] && echo 1 || echo 4)}"
    echo "run: {passes: $passes, seed: 3}"
    echo "models:"
    case "$base" in
      softmax16|softmax64)
        for ((i = 0; i < ${base#softmax}; ++i)); do
          if ((i % 2)); then
            echo "  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: ${lrs[i / 2 % 8]}, batch_size: 256, l2: 0.0001}"
          else
            echo "  - {kind: logistic, optimizer: adam, learning_rate: ${lrs[i / 2 % 8]}, batch_size: 256}"
          fi
        done ;;
      mlp) # the issue's MLP sweep (scripts/bench_groups.sh): 16 784-128-10, 4 fused groups on 4 shards
        echo "  - {kind: mlp, hidden: [128], optimizer: adam, batch_size: 128, learning_rate: [0.0003, 0.001, 0.003, 0.01], l2: [0.0, 0.00001, 0.0001, 0.001]}" ;;
      kmeans) # the issue's k-means sweep (scripts/bench_groups.sh): 16 models, 4 fused groups
        echo "  - {kind: kmeans, k: 10, batch_size: 1024, seed: [$(seq -s ', ' 1 16)]}" ;;
    esac
  } >"$tp/$name-$file-p$passes.yaml"
  echo "$tp/$name-$file-p$passes.yaml"
}
workloads=(softmax16 softmax64 mlp kmeans)
wait_for_data() { # FILE: waits (within the budget) for the generator; 0 when the file is there
  while [[ ! -f "$data/$1" ]]; do
    kill -0 "$gen_pid" 2>/dev/null || return 1
    [[ $(vl_cap 30) -ge 30 ]] || return 1
    sleep 1
  done
}
count_launches() { # WORKLOAD: kernels per batch from runs with 1 and 2 passes on 60,000 rows
  local w=$1 p k1 k2 b1 b2 cap out
  local lib="$bundle/lib/librt_launch_count.so"
  if [[ ! -f "$lib" ]]; then echo "not measured: the bundle has no librt_launch_count.so (no CUPTI at build time)"; return; fi
  if [[ "$(ldd "$lib")" == *"not found"* ]]; then echo "not measured: libcupti not found (env.sh)"; return; fi
  for p in 1 2; do
    cap=$(vl_cap 60)
    [[ $cap -ge 15 ]] || { echo "not measured: the budget was spent"; return; }
    out="$tp/count-$w-p$p"
    rm -f "$out.count"
    log_run "$tp_log" "$w on 60,000 rows, $p pass(es), kernels counted" "$cap" \
      env CUDA_INJECTION64_PATH="$lib" RT_LAUNCH_COUNT_FILE="$out.count" \
      "$rt" train "$(write_config "$w" train60k.npy "$p")" --quiet --output "$out" --set run.backend=cuda
    [[ $RC -eq 0 && -s "$out.count" ]] || { echo "not measured: the counted run failed or wrote no count (throughput.log)"; return; }
    cat "$out.count" >>"$tp_log"
    if [[ $p -eq 1 ]]; then k1=$(vl_json_get "$(tail -1 "$out.count")" kernels); b1=$(vl_run_batches "$rt" "$out")
    else k2=$(vl_json_get "$(tail -1 "$out.count")" kernels); b2=$(vl_run_batches "$rt" "$out"); fi
    if [[ "$(vl_json_get "$(tail -1 "$out.count")" dropped)" != 0 ]]; then echo "not measured: CUPTI dropped records"; return; fi
  done
  vl_per_batch "$k1" "$k2" "$b1" "$b2" || echo "not measured: counts $k1 / $k2 over batches $b1 / $b2"
}
throughput_run() { # WORKLOAD FILE ROWS PASSES
  local w=$1 file=$2 rows=$3 passes=$4 cap out config secs models sps floor
  cap=$(vl_cap 90)
  if [[ $cap -lt 15 ]]; then budget_gone throughput "$w, $rows rows"; return; fi
  config=$(write_config "$w" "$file" "$passes")
  out="$tp/$w-$rows"
  local extra=(--set run.backend=cuda) envs=()
  [[ $w != *_off ]] || extra+=(--set run.fuse=off)
  [[ $w != *_launches ]] || envs+=(RINGTRAIN_CUDA_GRAPHS=0)
  [[ $w != *_tiled ]] || envs+=(RINGTRAIN_CUDA_GEMM=tiled)
  log_run "$tp_log" "$w on $rows rows, $passes pass(es)" "$cap" env "${envs[@]}" "$rt" train "$config" --quiet --output "$out" "${extra[@]}"
  if [[ $RC -ne 0 ]]; then
    vl_record throughput "$w, $rows rows" "$(status_after "$RC" "$cap" 90)" "$SECS" "$(first_error "$w on $rows rows, $passes pass(es)" "$tp_log")"
    return
  fi
  secs=$(vl_json_get "$(tail -1 "$out/results.jsonl")" train_wall_seconds)
  if ! awk -v s="$secs" 'BEGIN { exit !(s > 0) }'; then
    vl_record throughput "$w, $rows rows" FAILED "$SECS" "no train_wall_seconds in $out/results.jsonl"
    return
  fi
  models=$(($(wc -l <"$out/results.csv") - 1))
  sps=$(awk -v m="$models" -v p="$passes" -v r="$rows" -v s="$secs" 'BEGIN { printf "%.4g", m * p * r / s }')
  floor=$(awk -v m="$models" -v p="$passes" -v r="$rows" -v s="$secs" -v bw="$copy_gbs" \
            'BEGIN { if (bw > 0) printf "%.3f", m * p * r * 784 * 4 / (bw * 1e9) / s; else print "-" }')
  local not_ok
  not_ok=$(awk -F, 'NR > 1 && $3 != "ok" { n++ } END { print n + 0 }' "$out/results.csv")
  vl_throughput "$w" "$rows" "$models" "$passes" "$(printf '%.3f' "$secs")" "$sps" "$floor" \
    - "$([[ $not_ok -eq 0 ]] || echo "$not_ok models not ok (diverged)")"
}
if wait_for_data val10k.npy; then
  for w in "${workloads[@]}"; do throughput_run "$w" train60k.npy 60000 3; done
  vl_write_report
  # The 64 softmax models in fused groups (above, a CUDA Graph per visit), with run.fuse off (a
  # group of one each) and launch by launch (no graphs), the 16 MLPs with fuse off, launch by
  # launch and with the shared-memory form of the products (RINGTRAIN_CUDA_GEMM=tiled), the 16
  # k-means models with fuse off: throughput side by side, and the model files must be identical.
  for v in softmax64_off softmax64_launches mlp_off mlp_launches mlp_tiled kmeans_off; do
    throughput_run "$v" train60k.npy 60000 3
    f=${v%%_*}
    if [[ -d "$tp/$v-60000/models" && -d "$tp/$f-60000/models" ]]; then
      d=$(same_files "$tp/$f-60000" "$tp/$v-60000")
      vl_record determinism "$f fused vs $v on CUDA (60,000 rows)" "$([[ $? -eq 0 ]] && echo PASSED || echo FAILED)" 0 "cmp: $d"
    fi
  done
  # On one shard every model starts at shard 0: the 64 softmax models are one fused group of 64
  # (four shards: four groups of 16 on four streams, one per start shard). Throughput only: other
  # shards give other models.
  throughput_run softmax64_1shard train60k.npy 60000 3
  vl_write_report
  # Determinism with many models on concurrent streams.
  for w in softmax16 mlp; do
    if [[ ! -d "$tp/$w-60000/models" ]]; then
      vl_record determinism "$w on 60,000 rows twice on CUDA" "NOT RUN" 0 "no first run (see its throughput row)"; continue
    fi
    cap=$(vl_cap 60)
    if [[ $cap -lt 15 ]]; then budget_gone determinism "$w on 60,000 rows twice on CUDA"; continue; fi
    log_run "$train_log" "$w on 60,000 rows, again" "$cap" "$rt" train "$tp/$w-train60k.npy-p3.yaml" --quiet \
      --output "$tp/$w-60000-again" --set run.backend=cuda
    if [[ $RC -ne 0 ]]; then
      vl_record determinism "$w on 60,000 rows twice on CUDA" "$(status_after "$RC" "$cap" 60)" "$SECS" \
        "$(first_error "$w on 60,000 rows, again" "$train_log")"
    else
      d=$(same_files "$tp/$w-60000" "$tp/$w-60000-again")
      vl_record determinism "$w on 60,000 rows twice on CUDA" "$([[ $? -eq 0 ]] && echo PASSED || echo FAILED)" "$SECS" "cmp: $d"
    fi
  done
  vl_write_report
  if [[ $big_rows -gt 0 ]] && wait_for_data train1m.npy; then
    for w in "${workloads[@]}"; do throughput_run "$w" train1m.npy "$big_rows" 1; done
  else
    vl_record throughput "1,000,000-row runs" "NOT RUN" 0 "no data: $(tail -1 "$tp_log")"
  fi
  rm -f "$data/train1m.npy"
  vl_write_report
  for w in "${workloads[@]}"; do
    launches=$(count_launches "$w")
    if [[ "$launches" =~ ^[0-9.]+$ ]]; then vl_set_launches "$w" "$launches"
    else vl_fact kernels_note "$w: ${launches#not measured: }"; fi
  done
else
  vl_record throughput "synthetic data (rt-gendata)" FAILED 0 "no data: $(tail -3 "$tp_log" | paste -sd ' ' -)"
fi
rm -rf "$data"
vl_write_report

# ---- 6. compute-sanitizer -----------------------------------------------------------------------
sanitizer=${RINGTRAIN_COMPUTE_SANITIZER:-}
shopt -s nullglob
parity=("$bundle"/bin/tests/test_gpu_parity* "$bundle"/bin/tests/test_gpu_groups*)
shopt -u nullglob
if [[ -z "$sanitizer" ]]; then
  vl_record sanitizer "compute-sanitizer memcheck and racecheck" "NOT RUN" 0 "no compute-sanitizer (env.sh searched PATH and the CUDA toolkit)"
elif [[ ${#parity[@]} -eq 0 ]]; then
  vl_record sanitizer "compute-sanitizer" "NOT RUN" 0 "the bundle has no parity test"
else
  for tool in memcheck racecheck; do
    for t in "${parity[@]}"; do
      cap=$(vl_cap 75)
      if [[ $cap -lt 15 ]]; then budget_gone sanitizer "$tool $(basename "$t")"; continue; fi
      log_run "$san_log" "$tool $(basename "$t")" "$cap" env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        "$sanitizer" --tool "$tool" --error-exitcode 86 --print-limit 20 "$t"
      status=$(vl_status_of "$RC")
      detail=$(sed -n '/^==== '"$tool $(basename "$t")"' /,$p' "$san_log" | grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|\[  (PASSED|FAILED) +\]' | tail -3 | paste -sd ';' -)
      case "$RC" in
        86) detail="the sanitizer reported errors: $detail" ;;
        77) status=FAILED; detail="exit 77 (no device under the sanitizer): $detail" ;;
        124|137) detail="not finished within $cap s: $detail" ;;
      esac
      vl_record sanitizer "$tool $(basename "$t")" "$status" "$SECS" "${detail:-exit $RC}"
    done
  done
fi

vl_write_report
code=$(vl_exit_code)
echo "validate.sh: $(vl_verdict); $(($(date +%s) - VL_START)) s; report: $VL_DIR/report.md"
exit "$code"
