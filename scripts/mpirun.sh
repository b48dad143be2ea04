#!/usr/bin/env bash
# Runs a command on NP local MPI ranks with Open MPI's mpirun and the options this machine needs.
# Usage: scripts/mpirun.sh NP command [args...]
#   --allow-run-as-root  only when running as root (containers, CI)
#   --oversubscribe      only when NP exceeds the cores Open MPI counts as slots
#   --bind-to none       always: every rank's BLAS/OpenMP threads may use every core
# Inside a container (Docker, Podman) the shared-memory transport's single-copy mechanism (CMA,
# process_vm_readv) is often forbidden, so it is switched off there unless
# OMPI_MCA_btl_vader_single_copy_mechanism is already set. Environment:
#   MPIRUN                  launcher to use (default: mpirun)
#   RINGTRAIN_MPIRUN_ARGS   extra mpirun options, split on whitespace
# The command's (mpirun's) exit status passes through.
set -euo pipefail

usage() { sed -n '2,13s/^# \{0,1\}//p' "$0"; }
if [[ $# -ge 1 && ( "$1" == "-h" || "$1" == "--help" ) ]]; then usage; exit 0; fi
if [[ $# -lt 2 || ! "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "mpirun.sh: expected NP (a positive integer) and a command" >&2
  usage >&2
  exit 2
fi
np=$1
shift

launcher=${MPIRUN:-mpirun}
if ! command -v "$launcher" >/dev/null 2>&1; then
  echo "mpirun.sh: '$launcher' not found; run scripts/setup.sh (installs openmpi-bin)" >&2
  exit 2
fi

args=(-np "$np" --bind-to none)
if [[ $(id -u) -eq 0 ]]; then
  args+=(--allow-run-as-root)
fi

# Open MPI counts physical cores (not hardware threads) as slots, so compare NP against the
# smaller of the usable CPUs and the physical cores.
slots=$(nproc)
if command -v lscpu >/dev/null 2>&1; then
  cores=$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l || true)
  if [[ "$cores" =~ ^[0-9]+$ ]] && (( cores > 0 && cores < slots )); then
    slots=$cores
  fi
fi
if (( np > slots )); then
  args+=(--oversubscribe)
fi

in_container=0
if [[ -e /.dockerenv || -e /run/.containerenv ]]; then
  in_container=1
elif command -v systemd-detect-virt >/dev/null 2>&1 && systemd-detect-virt -q --container; then
  in_container=1
fi
if (( in_container )) && [[ -z "${OMPI_MCA_btl_vader_single_copy_mechanism:-}" ]]; then
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
fi

if [[ -n "${RINGTRAIN_MPIRUN_ARGS:-}" ]]; then
  read -r -a extra <<<"$RINGTRAIN_MPIRUN_ARGS"
  args+=("${extra[@]}")
fi

exec "$launcher" "${args[@]}" "$@"
