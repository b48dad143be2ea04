#!/usr/bin/env bash
# What a network partition does to a ringtrain job under Open MPI (README "Multi-node runs",
# docs/RELIABILITY.md). Trains on 3 hosts made of network namespaces (scripts/netns_hosts.sh,
# TCP only, mpirun in host 1), cuts host 3's link once training runs, and prints a timeline from
# the cut: when the watchdog reports (if it does), whether mpirun ends by itself within the
# observation time, what a SIGTERM to mpirun then does (SIGKILL 10 s later if needed), what is
# left running, and whether that ends within 30 s of the link coming back. Root only.
# Usage: scripts/partition.sh [--timeout SECONDS] [--observe SECONDS] [BUILD_DIR]
#   --timeout  run.timeout of the job (default 2; 0: no watchdog)
#   --observe  how long to watch mpirun after the watchdog line (or the cut) (default 30)
#   BUILD_DIR  where ringtrain is (default build)
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
timeout_s=2 observe=30 build=build
while [[ $# -gt 0 ]]; do
  case "$1" in
    --timeout) timeout_s=$2; shift ;;
    --observe) observe=$2; shift ;;
    -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) build=$1 ;;
  esac
  shift
done
RT=$(cd "$build" && pwd)/ringtrain
[[ -x "$RT" ]] || { echo "partition.sh: no ringtrain in $build (build it first)" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "partition.sh: network namespaces need root" >&2; exit 2; }
source "$SRC/scripts/netns_hosts.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
WORK=$(mktemp -d /tmp/ringtrain-partition.XXXXXX)
trap 'netns_down; rm -rf "$WORK"' EXIT
netns_probe "rtpart$$" || { echo "partition.sh: $NETNS_ERROR" >&2; exit 2; }
netns_up 3 "$WORK"

cat >"$WORK/long.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 6}
run: {passes: 5000, seed: 5, timeout: $timeout_s}
models:
  - {kind: mlp, hidden: [64], batch_size: 16, learning_rate: [0.01, 0.02]}
  - {kind: logistic, batch_size: 16}
YAML
netns_launch_on 3
# No time limit around mpirun here: this script watches what it does and ends it itself.
ip netns exec "$NETNS_PREFIX-h1" "$SRC/scripts/mpirun.sh" 3 "$RT" train "$WORK/long.yaml" --output "$WORK/run" \
  --progress-interval 0.5 >"$WORK/out" 2>"$WORK/err" &
mpirun_pid=$! # ip netns exec and scripts/mpirun.sh exec: this becomes mpirun
for i in $(seq 600); do grep -qs '^# progress' "$WORK/out" && break; sleep 0.1; done
grep -qs '^# progress' "$WORK/out" || { echo "partition.sh: training did not start: $(head -c 600 "$WORK/err")" >&2; exit 1; }

t0=$(date +%s.%N)
at() { printf '%6.1f s  %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$*"; }
alive() { kill -0 "$mpirun_pid" 2>/dev/null; }
netns_cut 3
at "host 3's link cut (rank 2); running: $(netns_procs)"
if [[ $timeout_s -gt 0 ]]; then
  for i in $(seq 600); do grep -q 'watchdog:' "$WORK/err" && break; sleep 0.1; done
  if grep -q 'watchdog:' "$WORK/err"; then at "watchdog: $(grep 'watchdog:' "$WORK/err")"
  else at "no watchdog line within 60 s"; fi
fi
for i in $(seq "$((observe * 10))"); do alive || break; sleep 0.1; done
if alive; then
  at "mpirun still running; running: $(netns_procs)"
  kill -TERM "$mpirun_pid"
  at "SIGTERM to mpirun"
  for i in $(seq 100); do alive || break; sleep 0.1; done
  if alive; then
    at "mpirun still running 10 s after SIGTERM: SIGKILL"
    kill -KILL "$mpirun_pid"
  fi
fi
code=0; wait "$mpirun_pid" 2>/dev/null || code=$?
at "mpirun ended, exit status $code; running: $(netns_procs)"
sleep 2
at "2 s later; running: $(netns_procs)"
netns_mend 3
at "host 3's link back"
for i in $(seq 300); do [[ -z "$(netns_procs)" ]] && break; sleep 0.1; done
at "running: $(netns_procs)"
echo "watchdog lines: $(grep -c 'watchdog:' "$WORK/err" || true); mpirun's stderr, without the progress:"
grep -v '^ *$' "$WORK/err" | sed 's/^/  | /' | head -40
