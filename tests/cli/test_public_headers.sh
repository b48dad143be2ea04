#!/usr/bin/env bash
# The CLI includes only public headers (scripts/check_public_headers.sh): src/cli passes, and the
# checker does fail on a file that includes a private header, and on a pending entry that is clean.
source "$(dirname "$0")/../lib.sh" "$@"
CHECK="$SRC/scripts/check_public_headers.sh"

out=$("$CHECK" "$SRC/src/cli" 2>&1) && pass || fail "src/cli includes private headers: $out"

mkdir -p "$WORK/cli"
printf '#include <stdio.h>\n#include "cli/cli.h"\n#include "ringtrain/check.h"\n' >"$WORK/cli/good.c"
RT_PUBLIC_HEADERS_PENDING="" "$CHECK" "$WORK/cli" >/dev/null && pass || fail "a clean folder was refused"
printf '#include "ringtrain/config.h"\n  #  include "model.h"\n' >"$WORK/cli/bad.c"
if out=$(RT_PUBLIC_HEADERS_PENDING="" "$CHECK" "$WORK/cli"); then
  fail "a private include was not caught"
else
  [[ $out == *"bad.c:2: includes a private header"* ]] && pass || fail "unexpected report: $out"
fi
rm "$WORK/cli/bad.c"
if RT_PUBLIC_HEADERS_PENDING="good.c" "$CHECK" "$WORK/cli" >/dev/null; then
  fail "a clean file listed as pending was not caught"
else pass; fi
finish
