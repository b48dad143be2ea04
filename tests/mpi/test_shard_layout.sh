#!/usr/bin/env bash
# Shard contents depend only on the file and S: 1, 2 and 4 ranks load identical shards (train and
# held-out validation rows), each rank holds only its own shards, never the whole dataset.
source "$(dirname "$0")/../lib.sh" "$@"
DIGEST="$(dirname "$RT")/tests/rt_shard_digest"
for data in csv npy; do
  file="$SRC/configs/data/digits.csv"
  if [[ $data == npy ]]; then
    file="$WORK/d.npy"
    python3 - "$SRC/configs/data/digits.csv" "$file" <<'PY'
import struct, sys
rows = [list(map(float, l.split(','))) for l in open(sys.argv[1]) if l.strip()]
hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), len(rows[0]))
hdr += ' ' * (64 - (10 + len(hdr) + 1) % 64) + '\n'
with open(sys.argv[2], 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode())
    for r in rows: f.write(struct.pack('<%dd' % len(r), *r))
PY
  fi
  printf 'data: {train: %s, label_column: 64, validation_fraction: 0.1, shards: 4}\nmodels: [{kind: logistic}]\n' \
    "$file" >"$WORK/s.yaml"
  "$DIGEST" "$WORK/s.yaml" 2>/dev/null | sort >"$WORK/$data-1" || fail "$data: 1 rank"
  for np in 2 4; do
    "$MPIRUN" $np "$DIGEST" "$WORK/s.yaml" 2>"$WORK/$data-$np.err" | sort >"$WORK/$data-$np" || fail "$data: $np ranks"
    cmp -s "$WORK/$data-1" "$WORK/$data-$np" && pass || fail "$data: shards differ between 1 and $np ranks"
    # Nobody holds everything once there are several ranks.
    if grep -q "holds 1797 of 1797" "$WORK/$data-$np.err"; then fail "$data: a rank holds the whole dataset"
    else pass; fi
  done
  [[ $(wc -l <"$WORK/$data-1") -eq 4 ]] && pass || fail "$data: expected 4 shards"
  rows=$(awk '{ s += $4 + $7 } END { print s }' "$WORK/$data-1")
  [[ $rows -eq 1797 ]] && pass || fail "$data: shards hold $rows rows, the file 1797"
done
finish
