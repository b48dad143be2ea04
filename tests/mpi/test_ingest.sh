#!/usr/bin/env bash
# Fast ingest: `ringtrain convert` and the parsed-shard cache beside a CSV (data.cache).
#  - convert of the digits: every row and column; trained on one shard, the .npy gives the CSV
#    run's model bytes;
#  - training on 2 ranks from a CSV with the cache: the first run writes one entry per shard and
#    gives the model bytes of data.cache: false; the second run reads the entries (they are not
#    rewritten: same inode and time) and gives the same bytes again; a changed CSV is parsed anew;
#  - convert's usage and data errors: exit 2, one line naming the file (and line), no output.
source "$(dirname "$0")/../lib.sh" "$@"
cp "$SRC/configs/data/digits.csv" "$WORK/d.csv"
cfg="$SRC/configs/quickstart.yaml"
common=(--quiet --set run.passes=2 --set "data.train=$WORK/d.csv")

out=$("$RT" convert "$WORK/d.csv" "$WORK/d.npy") || fail "convert failed: $out"
[[ "$out" == *"1797 rows x 65 columns"* ]] && pass || fail "convert said: $out"
"$RT" train "$cfg" "${common[@]}" --set data.shards=1 --set data.cache=false --output "$WORK/csv1" ||
  fail "training on the CSV (1 shard) failed"
"$RT" train "$cfg" "${common[@]}" --set data.shards=1 --set "data.train=$WORK/d.npy" \
  --output "$WORK/npy1" || fail "training on the converted .npy failed"
same_models "$WORK/csv1" "$WORK/npy1" "converted .npy vs CSV, 1 shard"

"$MPIRUN" 2 "$RT" train "$cfg" "${common[@]}" --set data.shards=2 --set data.cache=false \
  --output "$WORK/off" || fail "2 ranks without the cache failed"
[[ ! -e "$WORK/d.csv.rtcache" ]] && pass || fail "data.cache=false wrote a cache"
"$MPIRUN" 2 "$RT" train "$cfg" "${common[@]}" --set data.shards=2 --output "$WORK/cold" ||
  fail "2 ranks with a cold cache failed"
entries=$(find "$WORK/d.csv.rtcache" -name 'shard-*-of-2-*.npy' | wc -l)
[[ $entries -eq 2 ]] && pass || fail "expected 2 cache entries, found $entries"
same_models "$WORK/off" "$WORK/cold" "cold cache vs no cache"
before=$(stat -c '%i %Y %s' "$WORK"/d.csv.rtcache/*.npy)
sleep 1
"$MPIRUN" 2 "$RT" train "$cfg" "${common[@]}" --set data.shards=2 --output "$WORK/warm" ||
  fail "2 ranks with a warm cache failed"
after=$(stat -c '%i %Y %s' "$WORK"/d.csv.rtcache/*.npy)
[[ "$before" == "$after" ]] && pass || fail "the warm run rewrote the cache entries"
same_models "$WORK/off" "$WORK/warm" "warm cache vs no cache"

# A changed file is parsed anew: its first row's label moves from 0 to 1.
sed -i '1s/,0$/,1/' "$WORK/d.csv"
"$MPIRUN" 2 "$RT" train "$cfg" "${common[@]}" --set data.shards=2 --set data.cache=false \
  --output "$WORK/off2" || fail "2 ranks on the changed file without the cache failed"
"$MPIRUN" 2 "$RT" train "$cfg" "${common[@]}" --set data.shards=2 --output "$WORK/changed" ||
  fail "2 ranks on the changed file with the cache failed"
same_models "$WORK/off2" "$WORK/changed" "changed file through the cache vs no cache"
cmp -s "$WORK/off/models/0.rtm" "$WORK/off2/models/0.rtm" && fail "the label change changed nothing" || pass
entries=$(find "$WORK/d.csv.rtcache" -name 'shard-*-of-2-*.npy' | wc -l)
[[ $entries -eq 2 ]] && pass || fail "stale entries were kept: $entries entries"

# convert's errors.
expect_run usage 2 "expected IN and OUT.npy" -- "$RT" convert "$WORK/d.csv"
expect_run not_npy 2 "the output must be a .npy file" -- "$RT" convert "$WORK/d.csv" "$WORK/x.csv"
expect_run bad_header 2 "--header:" -- "$RT" convert --header maybe "$WORK/d.csv" "$WORK/x.npy"
printf '1,2,3\n4,5\n' >"$WORK/bad.csv"
expect_run bad_data 2 "bad.csv:2: expected 3 columns, found 2" -- \
  "$RT" convert "$WORK/bad.csv" "$WORK/bad.npy"
[[ -z "$(find "$WORK" -maxdepth 1 -name 'bad.npy*')" ]] && pass || fail "a failed convert left output"
expect_run missing 2 "nothing.csv: cannot open" -- "$RT" convert "$WORK/nothing.csv" "$WORK/n.npy"
finish
