#!/usr/bin/env bash
# NCCL ring hand-off across ranks, one rank per visible GPU (label gpu; exit 77 = skipped with
# fewer than 2 GPUs: NCCL needs a distinct device per rank).
source "$(dirname "$0")/../lib.sh" "$@"
NCCL_TEST="$(dirname "$RT")/tests/test_gpu_nccl"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [[ ${gpus:-0} -lt 2 ]]; then
  echo "SKIPPED: the ring needs at least 2 GPUs, ${gpus:-0} visible"
  exit 77
fi
"$MPIRUN" "$gpus" "$NCCL_TEST" >"$WORK/ring.out" 2>&1 && pass || fail "ring failed: $(cat "$WORK/ring.out")"
[[ $(grep -c "NCCL ring hand-off .* ok" "$WORK/ring.out") -eq $gpus ]] && pass \
  || fail "not every rank reported its hand-off: $(cat "$WORK/ring.out")"
finish
