# Shared helpers for the shell integration tests. Usage in a test:
#   source "$(dirname "$0")/../lib.sh" "$@"     (arguments: RINGTRAIN_BINARY SOURCE_DIR)
set -euo pipefail
RT=${1:?ringtrain binary}
SRC=${2:?source dir}
MPIRUN="$SRC/scripts/mpirun.sh"
WORK=$(mktemp -d /tmp/ringtrain-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
failures=0
checks=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { checks=$((checks + 1)); }

# expect_run NAME EXIT SUBSTRING -- command...   runs the command, checks its exit code and that
# stderr contains SUBSTRING (empty: no check) on exactly one line starting "ringtrain: error:".
expect_run() {
  local name=$1 want=$2 text=$3
  shift 4
  local out="$WORK/$name.out" err="$WORK/$name.err" code=0
  "$@" >"$out" 2>"$err" || code=$?
  if [[ $code -ne $want ]]; then
    fail "$name: exit $code, expected $want; stderr: $(head -c 600 "$err")"
    return 0
  fi
  if [[ -n "$text" ]]; then
    if ! grep -qF -- "$text" "$err"; then
      fail "$name: stderr lacks '$text': $(head -c 600 "$err")"
      return 0
    fi
    local n
    n=$(grep -c '^ringtrain: error:' "$err" || true)
    if [[ $n -ne 1 ]]; then
      fail "$name: expected exactly one error line, got $n: $(head -c 600 "$err")"
      return 0
    fi
  fi
  pass
}

# col FILE NAME: the values of the CSV column called NAME, one per data row.
col() {
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == name) c = i; if (!c) exit 3; next }
                        { print $c }' "$1"
}

# same_models REF DIR WHAT: every model file of REF/models is byte-identical in DIR/models.
same_models() {
  local m bad=0
  for m in "$1"/models/*.rtm; do
    cmp -s "$m" "$2/models/$(basename "$m")" || { bad=1; fail "$3: $(basename "$m") differs from $1"; }
  done
  [[ $bad -eq 0 ]] && pass
  return 0
}

# same_params A.rtm B.rtm [KEY...]: the two model files hold the same model apart from its id (the
# spec text without its id= line, and without the lines of the KEYs given, the state with the
# header's model id zeroed): a model of a sweep and the same model trained alone from its resolved
# entry. Exit status 0 when they do; otherwise it says what differs.
same_params() {
  python3 - "$@" <<'PY'
import struct, sys
def load(path):
    b = open(path, "rb").read()
    spec_len, state_len = struct.unpack_from("<QQ", b, 16)
    off = (32 + spec_len + 63) // 64 * 64
    spec = b[32:32 + spec_len].decode()
    state = bytearray(b[off:off + state_len])
    state[8:16] = bytes(8)  # the header's model id
    skip = ["id="] + [k + "=" for k in sys.argv[3:]]
    spec = "\n".join(l for l in spec.split("\n") if not any(l.startswith(k) for k in skip))
    return spec, bytes(state)
a, b = load(sys.argv[1]), load(sys.argv[2])
if a[0] != b[0]:
    diff = [f"{x} / {y}" for x, y in zip(a[0].split("\n"), b[0].split("\n")) if x != y]
    sys.exit(f"spec texts differ ({'; '.join(diff)}): {sys.argv[1]} vs {sys.argv[2]}")
if a[1] != b[1]:
    n = next(i for i in range(min(len(a[1]), len(b[1]))) if a[1][i] != b[1][i]) if len(a[1]) == len(b[1]) else -1
    sys.exit(f"state bytes differ (first at byte {n} of the state; -1: other sizes): {sys.argv[1]} vs {sys.argv[2]}")
PY
}

# RINGTRAIN_MODEL_DIGESTS=FILE (scripts/model_digests.sh): every finished run's model files
# (RUN/models/*.rtm, RUN/best.rtm) are appended to FILE as "TEST SHA256 PATH-IN-WORK".
record_model_digests() {
  [[ -n ${RINGTRAIN_MODEL_DIGESTS:-} ]] || return 0
  local name
  name=$(basename "$0" .sh)
  (cd "$WORK" && find . \( -path '*/models/*.rtm' -o -name best.rtm \) -not -path '*/checkpoints/*' -print0 |
    sort -z | xargs -0 -r sha256sum) | awk -v t="$name" '{ print t, $1, $2 }' >>"$RINGTRAIN_MODEL_DIGESTS"
}

finish() {
  record_model_digests
  if [[ $failures -ne 0 ]]; then
    echo "$checks passed, $failures failed"
    exit 1
  fi
  echo "$checks passed, 0 failed"
}
