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
