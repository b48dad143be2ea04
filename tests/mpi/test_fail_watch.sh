#!/usr/bin/env bash
# The failure notices and the origin-aware agreement the NCCL layer's error path rests on
# (src/engine/fail_watch.h, used by cuda/rt_nccl.cu), on 1 to 4 ranks
# (tests/mpi/fail_watch_probe.c):
#  - a rank that fails reaches every rank that is polling (as ranks waiting on a transfer from it
#    do) and the agreement ends every rank: its own error on the failing rank, RT_ERR_PEER naming it
#    ("rank 2 failed: ...") elsewhere; an input error is the same everywhere (one exit code, printed
#    once); with two failing ranks the lower one is named; a rank that fails after the others
#    entered the agreement is named too; nobody failing agrees on RT_OK;
#  - every scenario ends (each run is bounded by `timeout`: a hang fails the test).
source "$(dirname "$0")/../lib.sh" "$@"
PROBE="$(dirname "$RT")/tests/rt_fail_watch_probe"

run() { # NAME NP ARGS...: the probe's lines, sorted, in $WORK/NAME
  local name=$1 np=$2
  shift 2
  if [[ $np -eq 1 ]]; then timeout 60 "$PROBE" "$@" >"$WORK/$name.raw" 2>"$WORK/$name.err"
  else timeout 60 "$MPIRUN" "$np" "$PROBE" "$@" >"$WORK/$name.raw" 2>"$WORK/$name.err"; fi \
    || fail "$name: the probe failed or hung: $(cat "$WORK/$name.raw" "$WORK/$name.err")"
  grep '^rank ' "$WORK/$name.raw" | sort >"$WORK/$name"
}
expect() { # NAME LINE: LINE is among the probe's output
  grep -qxF -- "$2" "$WORK/$1" && pass || fail "$1: no line '$2' in: $(cat "$WORK/$1")"
}
lines() { # NAME N: exactly N lines (nothing unexpected printed)
  [[ $(wc -l <"$WORK/$1") -eq $2 ]] && pass || fail "$1: expected $2 lines: $(cat "$WORK/$1")"
}

run single-none 1 none
expect single-none "rank 0: RT_OK: "
lines single-none 1
run single-fail 1 runtime 0
expect single-fail "rank 0: RT_ERR_INTERNAL: failure on rank 0"
lines single-fail 1

for np in 2 4; do
  last=$((np - 1))
  run none-$np $np none
  for r in $(seq 0 $last); do expect none-$np "rank $r: RT_OK: "; done
  lines none-$np $np

  run runtime-$np $np runtime $last
  expect runtime-$np "rank $last: RT_ERR_INTERNAL: failure on rank $last"
  for r in $(seq 0 $((last - 1))); do
    expect runtime-$np "rank $r: RT_ERR_PEER: rank $last failed: failure on rank $last"
  done
  lines runtime-$np $np

  run config-$np $np config 1
  for r in $(seq 0 $last); do expect config-$np "rank $r: RT_ERR_CONFIG: bad input on rank 1"; done
  lines config-$np $np

  run late-$np $np late 0
  expect late-$np "rank 0: RT_ERR_INTERNAL: late failure on rank 0"
  for r in $(seq 1 $last); do expect late-$np "rank $r: RT_ERR_PEER: rank 0 failed: late failure on rank 0"; done
  lines late-$np $np
done

run two 4 two
expect two "rank 1: RT_ERR_INTERNAL: failure on rank 1"
expect two "rank 3: RT_ERR_INTERNAL: failure on rank 3"
expect two "rank 0: RT_ERR_PEER: rank 1 failed: failure on rank 1"
expect two "rank 2: RT_ERR_PEER: rank 1 failed: failure on rank 1"
lines two 4
finish
