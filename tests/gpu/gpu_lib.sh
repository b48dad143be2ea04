# Shared by the GPU shell tests (after tests/lib.sh): how many GPUs this process may use, and the
# skip (exit 77, saying why) when there are too few. CUDA_VISIBLE_DEVICES, when set, is what CUDA
# will show; otherwise nvidia-smi's list. Either way ringtrain must see a usable device, or the
# reason it gives (no driver, a driver too old, ...) is the skip message.

visible_gpus() {
  if [[ -n "${CUDA_VISIBLE_DEVICES+set}" ]]; then
    local list=${CUDA_VISIBLE_DEVICES//[[:space:]]/}
    [[ -z "$list" ]] && { echo 0; return; }
    tr ',' '\n' <<<"$list" | grep -c .
    return
  fi
  nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true
}

# need_gpus N: exits 77 unless ringtrain can train on CUDA here and N GPUs are visible.
need_gpus() {
  local want=$1 cfg="$WORK/gpu-probe.yaml"
  printf 'data: {train: %s, label_column: 64}\nmodels: [{kind: logistic}]\n' \
    "$SRC/configs/data/digits.csv" >"$cfg"
  if ! "$RT" check "$cfg" --set run.backend=cuda >/dev/null 2>"$WORK/gpu-probe.err"; then
    echo "SKIPPED: CUDA cannot train here: $(cat "$WORK/gpu-probe.err")"
    exit 77
  fi
  local have
  have=$(visible_gpus)
  if [[ ${have:-0} -lt $want ]]; then
    echo "SKIPPED: needs $want GPUs, ${have:-0} visible"
    exit 77
  fi
}
