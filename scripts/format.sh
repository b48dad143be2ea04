#!/usr/bin/env bash
# Formats the C and CUDA sources (src, cuda, include, tests: *.c *.h *.cu *.cuh) with the
# repository's .clang-format. The reference formatter is clang-format 14 (Debian's clang-format,
# installed by scripts/setup.sh); other versions may lay out a few constructs differently.
# Usage: scripts/format.sh            rewrites every file that differs, in place
#        scripts/format.sh --check    changes nothing; lists the files that differ and exits 1
#                                     (0 when every file is formatted)
# CLANG_FORMAT overrides the program (default: clang-format-14, else clang-format). Exit 2 on a
# usage error or when no clang-format is found.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  -h|--help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "format.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

if [[ -z "${CLANG_FORMAT:-}" ]]; then
  if command -v clang-format-14 >/dev/null; then CLANG_FORMAT=clang-format-14
  else CLANG_FORMAT=clang-format; fi
fi
if ! command -v "$CLANG_FORMAT" >/dev/null; then
  echo "format.sh: $CLANG_FORMAT not found (scripts/setup.sh installs clang-format)" >&2
  exit 2
fi

mapfile -d '' files < <(find src cuda include tests -type f \
  \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) -print0 | sort -z)

differ=0
for f in "${files[@]}"; do
  if [[ $check == 1 ]]; then
    if ! "$CLANG_FORMAT" --style=file "$f" | cmp -s - "$f"; then
      echo "$f"
      differ=1
    fi
  else
    "$CLANG_FORMAT" --style=file -i "$f"
  fi
done
if [[ $check == 1 && $differ == 1 ]]; then
  echo "format.sh: the files above differ from .clang-format (scripts/format.sh rewrites them)" >&2
  exit 1
fi
exit 0
