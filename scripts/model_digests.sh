#!/usr/bin/env bash
# The SHA-256 of every model file the integration tests and the shipped configs produce, sorted,
# one line each: "TEST DIGEST PATH". Two builds that must train the same bytes (a refactor, a
# faster kernel that claims to change nothing) give the same file:
#   scripts/model_digests.sh build-old > before.txt; scripts/model_digests.sh build > after.txt
#   diff before.txt after.txt
# Usage: scripts/model_digests.sh [BUILD_DIR (default build)]
#   runs ctest -L 'cli|mpi' in BUILD_DIR with RINGTRAIN_MODEL_DIGESTS set (tests/lib.sh records
#   each finished run's models/*.rtm and best.rtm; checkpoints are left out: where a stop cuts
#   depends on timing), then trains configs/*.yaml on one rank with BUILD_DIR/ringtrain.
# Exit status: ctest's, or 1 when a config failed to train.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
[[ -x "$build/ringtrain" ]] || { echo "model_digests.sh: no $build/ringtrain (build first)" >&2; exit 2; }
out=$(mktemp -d /tmp/ringtrain-digests.XXXXXX)
trap 'rm -rf "$out"' EXIT
export RINGTRAIN_MODEL_DIGESTS="$out/tests.txt"
: >"$RINGTRAIN_MODEL_DIGESTS"
ctest --test-dir "$build" -L 'cli|mpi' >"$out/ctest.log" 2>&1 ||
  { tail -n 30 "$out/ctest.log" >&2; exit 1; }
for config in configs/*.yaml; do
  name=$(basename "$config" .yaml)
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$build/ringtrain" train "$config" --quiet --output "$out/$name" \
    >"$out/$name.log" 2>&1 || { echo "model_digests.sh: $config failed: $(tail -n 3 "$out/$name.log")" >&2; exit 1; }
  (cd "$out" && find "$name" \( -path '*/models/*.rtm' -o -name best.rtm \) -print0 | sort -z | xargs -0 -r sha256sum) |
    awk '{ print "configs", $1, $2 }' >>"$RINGTRAIN_MODEL_DIGESTS"
done
sort "$RINGTRAIN_MODEL_DIGESTS"
