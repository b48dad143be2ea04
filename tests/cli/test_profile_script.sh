#!/usr/bin/env bash
# scripts/profile.sh: options, profiler detection, the commands it builds (--dry-run) for nsys,
# nvprof, local ranks and Slurm, the capture window read from the config and --set, and a real
# run with --tool none. No profiler is needed: fake nsys/nvprof on a PATH of their own.
source "$(dirname "$0")/../lib.sh" "$@"
PROFILE="$SRC/scripts/profile.sh"
DIGITS="$SRC/configs/data/digits.csv"
unset SLURM_JOB_ID RINGTRAIN_PROFILE_ARGS RINGTRAIN_SRUN_ARGS

mkdir -p "$WORK/empty" "$WORK/both" "$WORK/nvprof-only"
for tool in nsys nvprof; do printf '#!/bin/sh\nexit 0\n' >"$WORK/both/$tool"; done
printf '#!/bin/sh\nexit 0\n' >"$WORK/nvprof-only/nvprof"
chmod +x "$WORK/both/"* "$WORK/nvprof-only/"*

cat >"$WORK/plain.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, shards: 2}
run: {passes: 3, output: $WORK/run}   # profile_passes: [2, 3] in a comment does not count
models:
  - {kind: logistic, batch_size: 64}
YAML
cat >"$WORK/flow.yaml" <<YAML
data: {train: $DIGITS, label_column: 64}
run: {passes: 3, profile_passes: [2, 3]}
models: [{kind: logistic}]
YAML
cat >"$WORK/block.yaml" <<YAML
data: {train: $DIGITS, label_column: 64}
run:
  passes: 3
  profile_passes:
    - 2
    - 3
models: [{kind: logistic}]
YAML
cat >"$WORK/empty_window.yaml" <<YAML
data: {train: $DIGITS, label_column: 64}
run:
  passes: 3
  profile_passes: []
models: [{kind: logistic}]
YAML

# run_script NAME PATH [env assignments...] -- args...: runs profile.sh with that PATH; output in
# $WORK/NAME.out / .err, exit status in $WORK/NAME.rc.
run_script() {
  local name=$1 path=$2
  shift 2
  local envs=()
  while [[ $# -gt 0 && "$1" != -- ]]; do envs+=("$1"); shift; done
  shift
  local code=0
  env PATH="$path" ${envs[@]+"${envs[@]}"} "$BASH" "$PROFILE" "$@" >"$WORK/$name.out" \
    2>"$WORK/$name.err" || code=$?
  echo "$code" >"$WORK/$name.rc"
}
expect_code() { # NAME CODE
  local got
  got=$(cat "$WORK/$1.rc")
  [[ "$got" == "$2" ]] && pass || fail "$1: exit $got, expected $2; stderr: $(head -c 600 "$WORK/$1.err")"
}
expect_out() { # NAME EXACT-STDOUT
  local got
  got=$(cat "$WORK/$1.out")
  [[ "$got" == "$2" ]] && pass || fail "$1: printed
  $got
expected
  $2"
}
expect_err() { # NAME SUBSTRING
  grep -qF -- "$2" "$WORK/$1.err" && pass || fail "$1: stderr lacks '$2': $(head -c 600 "$WORK/$1.err")"
}
no_err() { # NAME SUBSTRING
  ! grep -qF -- "$2" "$WORK/$1.err" && pass || fail "$1: stderr has '$2'"
}

# ---- options --------------------------------------------------------------------------------
run_script help "$WORK/empty" -- --help
expect_code help 0
grep -q "^Usage: scripts/profile.sh" "$WORK/help.out" && pass || fail "--help lacks the usage line"
grep -q -- "--dry-run" "$WORK/help.out" && pass || fail "--help lacks --dry-run"
run_script noargs "$WORK/empty" --
expect_code noargs 2
expect_err noargs "expected CONFIG"
run_script badopt "$WORK/both" -- --frobnicate "$WORK/plain.yaml"
expect_code badopt 2
expect_err badopt "unknown option '--frobnicate'"
run_script badtool "$WORK/both" -- --tool perf "$WORK/plain.yaml"
expect_code badtool 2
expect_err badtool "--tool expects nsys, nvprof or none, got 'perf'"
run_script badnp "$WORK/both" -- --np 0 "$WORK/plain.yaml"
expect_code badnp 2
expect_err badnp "--np expects a positive integer, got '0'"
run_script nonp "$WORK/both" -- --np
expect_code nonp 2
run_script noconfig "$WORK/both" -- "$WORK/missing.yaml"
expect_code noconfig 2
expect_err noconfig "config '$WORK/missing.yaml' not found"

# ---- profiler detection -----------------------------------------------------------------------
run_script none_found "$WORK/empty" -- --dry-run "$WORK/plain.yaml"
expect_code none_found 2
expect_err none_found "no profiler found: neither nsys (Nsight Systems) nor nvprof is on PATH"
run_script explicit_missing "$WORK/empty" -- --tool nsys "$WORK/plain.yaml"
expect_code explicit_missing 2
expect_err explicit_missing "--tool nsys: 'nsys' is not on PATH"

B="$WORK/bin/ringtrain"
run_script auto_nsys "$WORK/both" -- --dry-run --out P --binary "$B" "$WORK/plain.yaml"
expect_code auto_nsys 0
expect_out auto_nsys "$SRC/scripts/mpirun.sh 1 nsys profile --trace=cuda,nvtx,mpi --force-overwrite=true -o P/ringtrain.rank%q{OMPI_COMM_WORLD_RANK} $B train $WORK/plain.yaml"
# No window: the capture range is dropped and the user is told how to set one.
expect_err auto_nsys "run.profile_passes is not set"
expect_err auto_nsys "--set run.profile_passes=[2,3]"
run_script auto_nvprof "$WORK/nvprof-only" -- --dry-run --out P --binary "$B" "$WORK/plain.yaml"
expect_code auto_nvprof 0
expect_out auto_nvprof "$SRC/scripts/mpirun.sh 1 nvprof --force-overwrite -o P/ringtrain.rank%q{OMPI_COMM_WORLD_RANK}.nvvp $B train $WORK/plain.yaml"

# ---- the capture window -----------------------------------------------------------------------
run_script nsys_set "$WORK/both" -- --dry-run --np 4 --out P --binary "$B" "$WORK/plain.yaml" \
  --set 'run.profile_passes=[2,3]' --quiet
expect_code nsys_set 0
expect_out nsys_set "$SRC/scripts/mpirun.sh 4 nsys profile --trace=cuda,nvtx,mpi --capture-range=cudaProfilerApi --capture-range-end=stop --force-overwrite=true -o P/ringtrain.rank%q{OMPI_COMM_WORLD_RANK} $B train $WORK/plain.yaml --set 'run.profile_passes=[2,3]' --quiet"
no_err nsys_set "not set"
run_script nvprof_set "$WORK/both" -- --tool nvprof --dry-run --np 2 --out P --binary "$B" \
  "$WORK/flow.yaml"
expect_out nvprof_set "$SRC/scripts/mpirun.sh 2 nvprof --profile-from-start off --force-overwrite -o P/ringtrain.rank%q{OMPI_COMM_WORLD_RANK}.nvvp $B train $WORK/flow.yaml"
no_err nvprof_set "not set"
for config in flow block; do
  run_script "window_$config" "$WORK/both" -- --dry-run --out P --binary "$B" "$WORK/$config.yaml"
  grep -qF -- "--capture-range=cudaProfilerApi" "$WORK/window_$config.out" && pass \
    || fail "$config.yaml: the window is not seen"
done
run_script window_empty "$WORK/both" -- --dry-run --out P --binary "$B" "$WORK/empty_window.yaml"
! grep -qF -- "--capture-range" "$WORK/window_empty.out" && pass || fail "profile_passes: [] taken as a window"
expect_err window_empty "run.profile_passes is not set"
# --set wins over the config, the last one over earlier ones.
run_script set_clears "$WORK/both" -- --dry-run --out P --binary "$B" "$WORK/flow.yaml" \
  --set run.profile_passes=[]
! grep -qF -- "--capture-range" "$WORK/set_clears.out" && pass || fail "--set run.profile_passes=[] ignored"
run_script set_twice "$WORK/both" -- --dry-run --out P --binary "$B" "$WORK/plain.yaml" \
  --set run.profile_passes= --set=run.profile_passes=1,2
grep -qF -- "--capture-range" "$WORK/set_twice.out" && pass || fail "--set=run.profile_passes=1,2 ignored"

# ---- Slurm ---------------------------------------------------------------------------------------
run_script slurm "$WORK/both" SLURM_JOB_ID=42 RINGTRAIN_SRUN_ARGS="--mpi=pmix" -- --dry-run \
  --out P --binary "$B" "$WORK/flow.yaml"
expect_out slurm "srun --mpi=pmix nsys profile --trace=cuda,nvtx,mpi --capture-range=cudaProfilerApi --capture-range-end=stop --force-overwrite=true -o P/ringtrain.rank%q{SLURM_PROCID} $B train $WORK/flow.yaml"
run_script slurm_np "$WORK/both" SLURM_JOB_ID=42 -- --dry-run --np 2 --tool none --out P \
  --binary "$B" "$WORK/plain.yaml" --output "$WORK/a b"
expect_out slurm_np "$SRC/scripts/mpirun.sh 2 $B train $WORK/plain.yaml --output '$WORK/a b'"
no_err slurm_np "not set" # no profiler, nothing to say about capture

# Default output folder, and extra profiler options.
run_script defaults "$WORK/both" RINGTRAIN_PROFILE_ARGS="--sample=none --stats=true" -- \
  --dry-run "$WORK/flow.yaml"
grep -qE -- "--sample=none --stats=true .*-o profiles/[0-9]{8}-[0-9]{6}/ringtrain.rank%q\{OMPI_COMM_WORLD_RANK\} .*build/ringtrain train" \
  "$WORK/defaults.out" && pass || fail "defaults: $(cat "$WORK/defaults.out")"

# ---- a real run without a profiler: the launch works --------------------------------------------
run_script real_none "$PATH" -- --tool none --np 1 --out "$WORK/profiles" --binary "$RT" \
  "$WORK/plain.yaml" --quiet
expect_code real_none 0
[[ -s "$WORK/run/results.csv" ]] && pass || fail "--tool none did not train"
run_script real_nobinary "$PATH" -- --tool none --binary "$WORK/nothing" "$WORK/plain.yaml"
expect_code real_nobinary 2
expect_err real_nobinary "'$WORK/nothing' not found or not executable"

finish
