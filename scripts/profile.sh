#!/usr/bin/env bash
# Runs `ringtrain train` under a profiler, one profile per rank, named after the rank.
#
# Usage: scripts/profile.sh [options] CONFIG [ringtrain train options...]
#   --tool nsys|nvprof|none  profiler (default: nsys if on PATH, else nvprof); none runs the
#                            same launch without a profiler
#   --np N                   N local ranks through scripts/mpirun.sh (default 1; under Slurm,
#                            when --np is not given, srun launches the job's tasks instead)
#   --out DIR                folder for the profiles (default profiles/YYYYmmdd-HHMMSS)
#   --binary PATH            the ringtrain binary (default build/ringtrain of this checkout)
#   --dry-run                print the command instead of running it
#   -h, --help               this text
# Everything after CONFIG goes to `ringtrain train` (--set key=value, --output DIR, --quiet).
#
# Profiles: DIR/ringtrain.rank<R>.nsys-rep (nsys; open with nsys-ui, or `nsys stats`) or
# DIR/ringtrain.rank<R>.nvvp (nvprof; open with nvvp). nvprof does not support GPUs newer than
# Turing (compute capability 7.5); use nsys there.
# Capture window: when run.profile_passes is set (in CONFIG or with --set
# run.profile_passes=[2,3]) the profiler records only those passes (nsys
# --capture-range=cudaProfilerApi, nvprof --profile-from-start off: ringtrain calls
# cudaProfilerStart/Stop). When it is not set the whole run is recorded.
# Environment: RINGTRAIN_PROFILE_ARGS (extra profiler options), RINGTRAIN_SRUN_ARGS (extra srun
# options), plus what scripts/mpirun.sh reads (MPIRUN, RINGTRAIN_MPIRUN_ARGS).
# Exit status: the run's; 2 for usage errors and when no profiler is found.
set -euo pipefail

here=${BASH_SOURCE[0]%/*}
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here=.
case "$here" in
  scripts) root="" ;;                      # run from the checkout: paths stay short
  */scripts) root="${here%/scripts}/" ;;
  *) root="$here/../" ;;
esac

usage() {
  local line n=0
  while IFS= read -r line; do
    n=$((n + 1))
    (( n < 2 )) && continue
    [[ "$line" == \#* ]] || break
    line=${line#\#}
    printf '%s\n' "${line# }"
  done <"${BASH_SOURCE[0]}"
}
die() { echo "profile.sh: $*" >&2; exit 2; }

tool=""
np=""
out=""
binary=""
dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tool) [[ $# -ge 2 ]] || die "--tool needs a value: nsys, nvprof or none"; tool=$2; shift 2 ;;
    --tool=*) tool=${1#--tool=}; shift ;;
    --np) [[ $# -ge 2 ]] || die "--np needs a value"; np=$2; shift 2 ;;
    --np=*) np=${1#--np=}; shift ;;
    --out) [[ $# -ge 2 ]] || die "--out needs a value"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --binary) [[ $# -ge 2 ]] || die "--binary needs a value"; binary=$2; shift 2 ;;
    --binary=*) binary=${1#--binary=}; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { usage >&2; die "expected CONFIG"; }
config=$1
shift
train_args=("$@")

case "$tool" in
  ""|nsys|nvprof|none) ;;
  *) die "--tool expects nsys, nvprof or none, got '$tool'" ;;
esac
if [[ -n "$np" && ! "$np" =~ ^[1-9][0-9]*$ ]]; then
  die "--np expects a positive integer, got '$np'"
fi
if [[ -z "$out" ]]; then
  out="profiles/$(printf '%(%Y%m%d-%H%M%S)T' -1)"
fi
[[ -f "$config" ]] || die "config '$config' not found"
binary=${binary:-${root}build/ringtrain}

# ---- the profiler ------------------------------------------------------------------------------
if [[ -z "$tool" ]]; then
  if command -v nsys >/dev/null 2>&1; then
    tool=nsys
  elif command -v nvprof >/dev/null 2>&1; then
    tool=nvprof
  else
    die "no profiler found: neither nsys (Nsight Systems) nor nvprof is on PATH; install Nsight \
Systems (or the CUDA toolkit's nvprof) or choose one with --tool (--tool none: no profiler)"
  fi
elif [[ "$tool" != none && $dry_run -eq 0 ]] && ! command -v "$tool" >/dev/null 2>&1; then
  die "--tool $tool: '$tool' is not on PATH"
fi

# ---- the launcher and the rank variable ----------------------------------------------------------
launch=()
if [[ -z "$np" && -n "${SLURM_JOB_ID:-}" ]]; then
  launch=(srun)
  if [[ -n "${RINGTRAIN_SRUN_ARGS:-}" ]]; then
    read -r -a extra <<<"$RINGTRAIN_SRUN_ARGS"
    launch+=("${extra[@]}")
  fi
  rank_var=SLURM_PROCID
else
  launch=("$here/mpirun.sh" "${np:-1}")
  rank_var=OMPI_COMM_WORLD_RANK
fi

# ---- is a capture window set? (the config file, then --set overrides in order) -----------------
# YAML is not parsed here; the forms people write are recognised: "profile_passes: [2, 3]",
# "{..., profile_passes: [2, 3]}", a block list under "profile_passes:", and "[]" / nothing for
# not set. ringtrain itself checks the value.
window=0
window_value() { # $1: the text after "profile_passes:" or "=": 1 when it sets a window
  local v=$1
  v=${v#"${v%%[![:space:]]*}"}
  v=${v#\"}
  v=${v#\'}
  [[ "$v" =~ ^\[?[[:space:]]*[+]?[0-9] ]]
}
pending=0
while IFS= read -r line || [[ -n "$line" ]]; do
  stripped=${line%%#*}
  if (( pending )); then
    [[ "$stripped" =~ ^[[:space:]]*$ ]] && continue
    [[ "$stripped" =~ ^[[:space:]]*-[[:space:]]*[+]?[0-9] ]] && window=1
    pending=0
  fi
  if [[ "$stripped" =~ (^|[[:space:]{,])profile_passes:(.*)$ ]]; then
    rest=${BASH_REMATCH[2]}
    if [[ "$rest" =~ ^[[:space:]]*$ ]]; then
      window=0
      pending=1
    elif window_value "$rest"; then
      window=1
    else
      window=0
    fi
  fi
done <"$config"
expect_set=0
for arg in ${train_args[@]+"${train_args[@]}"}; do
  if (( expect_set )); then
    expect_set=0
  elif [[ "$arg" == --set=* ]]; then
    arg=${arg#--set=}
  elif [[ "$arg" == --set ]]; then
    expect_set=1
    continue
  else
    continue
  fi
  if [[ "$arg" == run.profile_passes=* ]]; then
    if window_value "${arg#run.profile_passes=}"; then window=1; else window=0; fi
  fi
done

# ---- the command ------------------------------------------------------------------------------
prefix="$out/ringtrain.rank%q{$rank_var}" # the profiler expands %q{VAR} in each rank
extra=()
if [[ -n "${RINGTRAIN_PROFILE_ARGS:-}" ]]; then
  read -r -a extra <<<"$RINGTRAIN_PROFILE_ARGS"
fi
profiler=()
case "$tool" in
  nsys)
    profiler=(nsys profile "--trace=cuda,nvtx,mpi")
    if (( window )); then
      profiler+=(--capture-range=cudaProfilerApi --capture-range-end=stop)
    fi
    profiler+=(${extra[@]+"${extra[@]}"} --force-overwrite=true -o "$prefix")
    ;;
  nvprof)
    profiler=(nvprof)
    if (( window )); then
      profiler+=(--profile-from-start off)
    fi
    profiler+=(${extra[@]+"${extra[@]}"} --force-overwrite -o "$prefix.nvvp")
    ;;
  none) ;;
esac
command=("${launch[@]}" ${profiler[@]+"${profiler[@]}"} "$binary" train "$config"
         ${train_args[@]+"${train_args[@]}"})

if [[ "$tool" != none && $window -eq 0 ]]; then
  echo "profile.sh: run.profile_passes is not set, so the whole run is captured (a" \
       "cudaProfilerApi capture range would capture nothing); to capture passes 2 to 3 only:" \
       "--set run.profile_passes=[2,3]" >&2
fi

# One line a shell reads back: arguments with characters outside a safe set are single-quoted.
quote() {
  local a=$1
  if [[ -n "$a" && "$a" =~ ^[A-Za-z0-9_./=,:+%{}@-]+$ ]]; then
    printf '%s' "$a"
  else
    printf "'%s'" "${a//\'/\'\\\'\'}"
  fi
}
if (( dry_run )); then
  sep=""
  for a in "${command[@]}"; do
    printf '%s' "$sep"
    quote "$a"
    sep=" "
  done
  printf '\n'
  exit 0
fi

[[ -x "$binary" ]] || die "'$binary' not found or not executable; build first (cmake --build build) or pass --binary"
mkdir -p "$out"
case "$tool" in
  nsys) echo "profile.sh: profiles: $out/ringtrain.rank<R>.nsys-rep (open with nsys-ui)" >&2 ;;
  nvprof) echo "profile.sh: profiles: $out/ringtrain.rank<R>.nvvp (open with nvvp)" >&2 ;;
  none) ;;
esac
exec "${command[@]}"
