#!/usr/bin/env bash
# Sets up, configures, builds (the CUDA part too when nvcc is found) and runs every test.
# Usage: scripts/test.sh [--sanitize] [extra cmake configure arguments...]
#   --sanitize  builds in build-asan with AddressSanitizer + UndefinedBehaviorSanitizer
# The exit status is ctest's verdict (or the first failing step's).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=build
cmake_args=()
for arg in "$@"; do
  case "$arg" in
    --sanitize) build_dir=build-asan; cmake_args+=(-DRINGTRAIN_SANITIZE=ON) ;;
    -h|--help) sed -n '2,5s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) cmake_args+=("$arg") ;;
  esac
done

scripts/setup.sh
if [[ "$build_dir" == build-asan && -z "${LSAN_OPTIONS:-}" ]]; then
  # Open MPI leaks in MPI_Init/MPI_Finalize by design (some from plugins it has already unloaded
  # when LeakSanitizer reports, which only full stack unwinding attributes to libmpi). Suppress
  # those; leaks allocated by ringtrain's own code are still reported.
  mkdir -p "$build_dir"
  printf 'leak:%s\n' libmpi.so libopen-pal.so libopen-rte.so libpmix.so libhwloc.so libevent \
    mca_ >"$build_dir/lsan-mpi.supp"
  export LSAN_OPTIONS="suppressions=$PWD/$build_dir/lsan-mpi.supp:fast_unwind_on_malloc=0:print_suppressions=0"
fi
cmake -S . -B "$build_dir" -DRINGTRAIN_WERROR=ON -DRINGTRAIN_CUDA=AUTO "${cmake_args[@]}"
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure
