# The machine a benchmark ran on, for its header line (sourced by the scripts/bench*.sh): the CPU
# count and model, and the OpenBLAS core the given ringtrain binary loads (CPU figures and whether
# fused groups fuse their products depend on it: src/models/fused_gemm.h), with OPENBLAS_CORETYPE
# when it is set; and json_get, a value by key from the flat JSON objects the bench tools print.
# Usage: source scripts/machine.sh; machine_desc [RINGTRAIN_BINARY]; json_get JSON KEY
machine_desc() {
  local desc core=""
  desc="$(nproc) CPUs: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
  if [[ -n "${1:-}" && -x "$1" ]]; then
    core=$(OPENBLAS_VERBOSE=2 "$1" --version 2>&1 | sed -n 's/^Core: //p' | head -1)
  fi
  [[ -z "$core" ]] || desc+="; OpenBLAS core $core${OPENBLAS_CORETYPE:+ (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE)}"
  echo "$desc"
}

# JSON value by key (flat objects with simple values, as rt-floor, bench_sklearn.py and
# bench_families.py print); empty when the key is missing.
json_get() { sed -n "s/.*\"$2\": *\\([^,}]*\\).*/\\1/p" <<<"$1" | tr -d '"'; }
