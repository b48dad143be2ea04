#!/usr/bin/env bash
# Installs the Debian packages ringtrain needs to build and test. Idempotent, and silent when
# everything is already installed. Usage: scripts/setup.sh [--bench] [--fashion-mnist] [--fuzz]
#                                                        [--slurm]
#   --bench  also installs Debian's scikit-learn and NumPy (for scripts/bench_sklearn.py)
#   --fashion-mnist  also installs Debian's dataset-fashion-mnist (the k-means benchmark of
#            scripts/bench_families.sh; the IDX files land in /usr/share/datasets/fashion-mnist)
#   --fuzz   also installs clang, its runtime libraries (libFuzzer, sanitizers) and its OpenMP
#            (for scripts/test.sh --fuzz), and checks that clang links a libFuzzer program
#   --slurm  also installs Slurm (slurmctld, slurmd, the client commands) and munge, for the
#            one-node cluster of tests/cli/test_slurm_real.sh (which calls this itself; it runs
#            its own daemons: the packages' slurmctld and slurmd services stay down without
#            /etc/slurm/slurm.conf)
set -euo pipefail

fuzz=0
# patchelf and xz-utils: scripts/gpu/bundle.sh (and its test, tests/cli/test_bundle.sh);
# iproute2: network namespaces as hosts (scripts/netns_hosts.sh, tests/mpi/test_multihost.sh);
# clang-format (14 on Debian 12): scripts/format.sh and its test, tests/style/test_format.sh.
packages=(build-essential cmake pkg-config openmpi-bin libopenmpi-dev libopenblas-openmp-dev
          liblapacke-dev libcmocka-dev libyaml-dev libssl-dev patchelf xz-utils iproute2
          clang-format)
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(python3-sklearn python3-numpy) ;;
    --fashion-mnist) packages+=(dataset-fashion-mnist) ;;
    --fuzz) fuzz=1; packages+=(clang libclang-rt-dev libomp-dev) ;;
    --slurm) packages+=(slurmctld slurmd slurm-client munge) ;;
    -h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

# --fuzz: a tiny libFuzzer program must build with clang (silent when it does).
check_fuzzer() {
  [[ $fuzz -eq 1 ]] || return 0
  local dir
  dir=$(mktemp -d)
  printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
    >"$dir/probe.c"
  if ! clang -fsanitize=fuzzer,address,undefined "$dir/probe.c" -o "$dir/probe" >"$dir/log" 2>&1 ||
     ! "$dir/probe" -runs=10 >>"$dir/log" 2>&1; then
    echo "setup.sh: clang cannot build or run a libFuzzer program (-fsanitize=fuzzer):" >&2
    cat "$dir/log" >&2
    rm -rf "$dir"
    exit 1
  fi
  rm -rf "$dir"
}

if [[ ${#missing[@]} -eq 0 ]]; then
  check_fuzzer
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup.sh: missing packages (${missing[*]}) and no apt-get to install them;" \
       "install their equivalents by hand" >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup.sh: missing packages (${missing[*]}); run as root or install sudo" >&2
    exit 1
  fi
fi

echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${missing[@]}"
check_fuzzer
