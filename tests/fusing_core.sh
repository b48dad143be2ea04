#!/usr/bin/env bash
# Runs a test a second time on OpenBLAS's SkylakeX kernels, the ones fused groups fuse their
# products on (src/models/fused_gemm.h), so that the fused products and the invariants that rest
# on them (a member's bits are its solo bits) are tested on machines whose own OpenBLAS core does
# not fuse: an AVX-512 CPU told OPENBLAS_CORETYPE=Haswell machine-wide (the development VM), or one
# where OpenBLAS picks its Zen kernels. tests/CMakeLists.txt registers the tests it wraps, as
# <test>_fusing.
# Usage: fusing_core.sh RINGTRAIN_BINARY SOURCE_DIR -- COMMAND [ARGS...]
# Exit 77 (ctest: skipped), saying why, when the products already fuse here (the plain run covers
# it), when the CPU cannot run the SkylakeX kernels (AVX-512 F, CD, BW, DQ and VL), or when
# OpenBLAS does not take the core it is told (a build without DYNAMIC_ARCH); `ringtrain check`
# says which core runs and whether products fuse, so the wrapped run is known to fuse.
set -euo pipefail
RT=${1:?ringtrain binary}
SRC=${2:?source dir}
[[ ${3:-} == "--" ]] || { echo "usage: $0 RINGTRAIN_BINARY SOURCE_DIR -- COMMAND [ARGS...]" >&2; exit 2; }
shift 3

blas_line() { (cd "$SRC" && "$RT" check configs/quickstart.yaml) | grep '^# blas:'; }

here=$(blas_line)
if [[ $here == *"products fused"* ]]; then
  echo "SKIPPED: ${here#\# blas: } already: the plain run of this test covers the fused products"
  exit 77
fi
for flag in avx512f avx512cd avx512bw avx512dq avx512vl; do
  if ! grep -qw "$flag" /proc/cpuinfo; then
    echo "SKIPPED: this CPU lacks $flag, so OpenBLAS's SkylakeX kernels (the ones products fuse on) cannot run here"
    exit 77
  fi
done
export OPENBLAS_CORETYPE=SkylakeX
forced=$(blas_line)
if [[ $forced != *"products fused"* ]]; then
  echo "SKIPPED: OpenBLAS did not take OPENBLAS_CORETYPE=SkylakeX (${forced#\# blas: })"
  exit 77
fi
echo "with OPENBLAS_CORETYPE=SkylakeX: ${forced#\# blas: } (here without it: ${here#\# blas: })"
exec "$@"
