#!/usr/bin/env bash
# Sets up, builds and trains the quickstart sweep (configs/quickstart.yaml: 8 softmax-regression
# models on the 8x8 digits) around 4 local MPI ranks. Rank 0 prints the results table; the run
# directory is runs/quickstart. Extra arguments go to `ringtrain train` (e.g. --set run.passes=3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j"$(nproc)" --target ringtrain
exec scripts/mpirun.sh 4 build/ringtrain train configs/quickstart.yaml "$@"
