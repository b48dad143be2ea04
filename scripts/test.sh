#!/usr/bin/env bash
# Sets up, configures, builds (the CUDA part too when nvcc is found) and runs every test.
# Usage: scripts/test.sh [--sanitize | --fuzz SECONDS] [extra cmake configure arguments...]
#   --sanitize      builds in build-asan with AddressSanitizer + UndefinedBehaviorSanitizer
#   --fuzz SECONDS  builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz and runs
#                   each for SECONDS on a copy of its seed corpus; fails if one finds a crash
# The exit status is ctest's verdict (or the first failing step's; --fuzz: any target's crash).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=build
fuzz_seconds=
cmake_args=()
setup_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sanitize) build_dir=build-asan; cmake_args+=(-DRINGTRAIN_SANITIZE=ON) ;;
    --fuzz)
      if [[ $# -lt 2 || ! "$2" =~ ^[1-9][0-9]*$ ]]; then
        echo "test.sh: --fuzz needs the seconds to run each target, e.g. --fuzz 60" >&2
        exit 2
      fi
      fuzz_seconds=$2
      shift
      build_dir=build-fuzz
      setup_args+=(--fuzz)
      # The fuzz build needs only the library and the fuzzers: no CUDA.
      cmake_args+=(-DCMAKE_C_COMPILER=clang -DRINGTRAIN_FUZZ=ON -DRINGTRAIN_CUDA=OFF) ;;
    -h|--help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) cmake_args+=("$1") ;;
  esac
  shift
done
if [[ -n "$fuzz_seconds" && " ${cmake_args[*]} " == *" -DRINGTRAIN_SANITIZE=ON "* ]]; then
  echo "test.sh: --sanitize and --fuzz are separate runs (the fuzzers carry their own sanitizers)" >&2
  exit 2
fi

scripts/setup.sh "${setup_args[@]}"
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
if [[ -z "$fuzz_seconds" ]]; then
  cmake --build "$build_dir" -j"$(nproc)"
  ctest --test-dir "$build_dir" --output-on-failure
  exit
fi

# Fuzzing: each target on a fresh copy of its seed corpus in build-fuzz/fuzz-run/TARGET (new
# inputs and crash artifacts stay there, out of the repository; a crash worth keeping is added
# by hand as a regression case: tests/fuzz/README.md).
cmake --build "$build_dir" -j"$(nproc)" --target ringtrain_fuzzers
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
failed=()
targets=()
for source in tests/fuzz/fuzz_*.c; do # every target the build made (tests/fuzz/CMakeLists.txt)
  target=${source#tests/fuzz/fuzz_}
  targets+=("${target%.c}")
done
for target in "${targets[@]}"; do
  run_dir=$build_dir/fuzz-run/$target
  rm -rf "$run_dir"
  mkdir -p "$run_dir/corpus" "$run_dir/artifacts"
  cp -R "tests/fuzz/corpus/$target/." "$run_dir/corpus/"
  options=(-max_total_time="$fuzz_seconds" -max_len=65536 -timeout=60 -print_final_stats=1
           -artifact_prefix="$run_dir/artifacts/")
  if [[ -f "tests/fuzz/$target.dict" ]]; then
    options+=(-dict="tests/fuzz/$target.dict")
  fi
  seeds=$(find "$run_dir/corpus" -type f | wc -l)
  echo "fuzz_$target: ${fuzz_seconds}s from $seeds seeds (log: $run_dir/log)"
  rc=0
  "$build_dir/tests/fuzz/fuzz_$target" "${options[@]}" "$run_dir/corpus" >"$run_dir/log" 2>&1 || rc=$?
  if [[ $rc -eq 0 ]]; then
    grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$run_dir/log" |
      sed 's/^/  /'
    echo "  corpus: $(find "$run_dir/corpus" -type f | wc -l) inputs"
  else
    failed+=("fuzz_$target")
    echo "fuzz_$target: FAILED (exit $rc); the end of its log:" >&2
    tail -n 60 "$run_dir/log" >&2
    for input in "$run_dir"/artifacts/*; do
      [[ -e "$input" ]] || continue
      echo "fuzz_$target: crashing input: $input" >&2
      echo "  reproduce: $build_dir/tests/fuzz/fuzz_$target $input" >&2
    done
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "test.sh --fuzz: ${failed[*]} found a crash" >&2
  exit 1
fi
echo "test.sh --fuzz: no crashes (${#targets[@]} targets, ${fuzz_seconds}s each)"
