#!/usr/bin/env bash
# ctest style_test_format: every C and CUDA source is formatted as .clang-format says
# (scripts/format.sh --check); a file that differs fails this test. Skipped (exit 77) only when
# clang-format is not installed (scripts/setup.sh installs it, so CI always checks).
# Usage: test_format.sh SOURCE_DIR
set -uo pipefail
root=${1:?usage: test_format.sh SOURCE_DIR}
if ! command -v clang-format-14 >/dev/null && ! command -v clang-format >/dev/null; then
  echo "SKIPPED: clang-format not installed (scripts/setup.sh installs it)"
  exit 77
fi
"$root/scripts/format.sh" --check
