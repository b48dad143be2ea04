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

# close_params A.rtm B.rtm [REL]: the two model files hold the same spec (apart from id= and
# libsvm_base=) and states whose counters are equal and whose parameters and optimizer state agree
# within REL (default 1e-3) relative plus 1e-5 absolute: the same model computed with sums in
# another order (cuSPARSE's sparse products against dense ones). States without per-pass
# validation history only (the layout of src/models/registry.c: a 128-byte header, the training
# history, then parameters and aux, each 64-byte aligned). Exit status 0 when they agree; otherwise
# it says where they do not.
close_params() {
  python3 - "$@" <<'PY'
import struct, sys
rel = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-3
def up(n): return (n + 63) // 64 * 64
def load(path):
    b = open(path, "rb").read()
    spec_len, state_len = struct.unpack_from("<QQ", b, 16)
    off = up(32 + spec_len)
    spec = "\n".join(l for l in b[32:32 + spec_len].decode().split("\n")
                     if not l.startswith(("id=", "libsvm_base=")))
    s = b[off:off + state_len]
    head = struct.unpack_from("<8QdQQQQ", s, 0)  # through history_count
    params, aux, hist = head[10], head[11], head[12]
    p0 = up(up(128) + 8 * hist)
    a0 = up(p0 + 4 * params)
    return spec, head, struct.unpack_from("<%df" % params, s, p0), struct.unpack_from("<%df" % aux, s, a0)
a, b = load(sys.argv[1]), load(sys.argv[2])
if a[0] != b[0]:
    sys.exit("spec texts differ: %s vs %s" % (sys.argv[1], sys.argv[2]))
for i in (0, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12):
    if a[1][i] != b[1][i]:
        sys.exit("header field %d differs: %r vs %r" % (i, a[1][i], b[1][i]))
for name, x, y in (("parameter", a[2], b[2]), ("aux", a[3], b[3])):
    for i, (u, v) in enumerate(zip(x, y)):
        if abs(u - v) > rel * max(abs(u), abs(v)) + 1e-5:
            sys.exit("%s %d: %.9g vs %.9g (beyond %g relative)" % (name, i, u, v, rel))
PY
}
