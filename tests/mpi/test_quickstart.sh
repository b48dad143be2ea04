#!/usr/bin/env bash
# The quickstart config on 4 local ranks trains to a sensible accuracy on the digits.
source "$(dirname "$0")/../lib.sh" "$@"
"$MPIRUN" 4 "$RT" train "$SRC/configs/quickstart.yaml" --output "$WORK/qs" >"$WORK/qs.out" \
  && pass || fail "quickstart training failed: $(tail -5 "$WORK/qs.out")"
best=$(col "$WORK/qs/results.csv" val_accuracy | sort -g | tail -1)
python3 -c "import sys; sys.exit(0 if float('$best') >= 0.93 else 1)" && pass \
  || fail "best validation accuracy $best < 0.93"
models=$(($(wc -l <"$WORK/qs/results.csv") - 1))
[[ $models -ge 6 ]] && pass || fail "quickstart has only $models models"
ok=$(col "$WORK/qs/results.csv" status | grep -c '^ok$')
[[ $ok -eq $models ]] && pass || fail "some quickstart models diverged"
finish
