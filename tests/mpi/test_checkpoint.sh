#!/usr/bin/env bash
# Checkpoints and resume (issue 7): a run killed by SIGKILL on one rank, or stopped by SIGTERM on
# one rank, and resumed -- on the same or another number of ranks -- gives model files
# byte-identical to an uninterrupted run; SIGUSR1 checkpoints without changing anything;
# checkpointing itself changes no byte; a resume refuses a different config (listing the keys)
# and damaged checkpoint files (naming them). Faults come from RINGTRAIN_FAULT (src/engine/fault.h).
source "$(dirname "$0")/../lib.sh" "$@"
cat >"$WORK/c.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 4, seed: 3, checkpoint_every: 1, keep_checkpoints: 3}
models:
  - {kind: logistic, optimizer: [sgd, adam], learning_rate: 0.05, batch_size: 64}
  - {kind: kmeans, k: [4, 8], batch_size: 64}
  - {kind: mlp, hidden: [16], batch_size: 32}
  - {kind: linear, alpha: [0.1, 1], batch_size: 64}
  - {kind: kmeans, k: 6, batch_size: 32, lloyd_passes: 3}
YAML

# The reference, uninterrupted, and the same without checkpoints: checkpointing changes nothing.
"$RT" train "$WORK/c.yaml" --quiet --output "$WORK/ref" || fail "reference run failed"
[[ $(ls "$WORK/ref/checkpoints" | wc -l) -eq 3 ]] && pass || fail "keep_checkpoints 3: $(ls "$WORK/ref/checkpoints")"
"$RT" train "$WORK/c.yaml" --quiet --output "$WORK/plain" --set run.checkpoint_every=never || fail "plain run failed"
same_models "$WORK/ref" "$WORK/plain" "without checkpoints"

# SIGKILL on rank 1 at its 8th hand-off (pass 3 or so): the job ends, no results, checkpoints.
code=0
timeout 120 env RINGTRAIN_FAULT=die:1:8 "$MPIRUN" 2 "$RT" train "$WORK/c.yaml" --quiet --output "$WORK/k" \
  >"$WORK/k.log" 2>&1 || code=$?
[[ $code -ne 0 && $code -ne 124 ]] && pass || fail "SIGKILL on rank 1: exit $code"
[[ ! -e "$WORK/k/results.csv" ]] && pass || fail "a killed run wrote results.csv"
ls "$WORK/k/checkpoints"/ckpt-*/MANIFEST >/dev/null 2>&1 && pass || fail "no checkpoint before the kill"
for np in 1 2 3; do
  cp -r "$WORK/k" "$WORK/k$np"
  "$MPIRUN" $np "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/k$np" || fail "resume on $np ranks failed"
  same_models "$WORK/ref" "$WORK/k$np" "SIGKILL, resumed on $np ranks"
done

# SIGTERM on rank 1 at its 9th hand-off: every rank stops after its batch, one checkpoint, exit 75.
code=0
RINGTRAIN_FAULT=term:1:9 "$MPIRUN" 2 "$RT" train "$WORK/c.yaml" --quiet --output "$WORK/t" 2>"$WORK/t.err" || code=$?
[[ $code -eq 75 ]] && pass || fail "SIGTERM: exit $code, expected 75: $(head -c 400 "$WORK/t.err")"
[[ $(grep -c '^ringtrain: stopped by a signal' "$WORK/t.err") -eq 1 ]] && pass || fail "SIGTERM: message: $(head -c 400 "$WORK/t.err")"
last=$(ls -d "$WORK/t/checkpoints"/ckpt-* | tail -1)
grep -qx 'reason signal' "$last/MANIFEST" && pass || fail "the last checkpoint is not the signal's: $(cat "$last/MANIFEST")"
# The cut is inside a pass: some model is past position 0 (usually inside a shard visit too).
awk '$1 == "model" && ($4 > 0 || $5 > 0) { found = 1 } END { exit !found }' "$last/MANIFEST" && pass \
  || fail "the signal's checkpoint is at a pass boundary: $(cat "$last/MANIFEST")"
# Model 7 (k-means, passes 2-4 Lloyd steps) is cut inside its Lloyd passes, where its state holds
# the pass's per-centre sums (usually mid-pass: a position or batch past 0).
awk '$1 == "model" && $2 == 7 && $3 >= 1 && $3 < 4 { found = 1 } END { exit !found }' "$last/MANIFEST" && pass \
  || fail "the signal's checkpoint does not cut the Lloyd model inside its Lloyd passes: $(cat "$last/MANIFEST")"
cp -r "$WORK/t" "$WORK/t4"
"$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/t" || fail "resume after SIGTERM (1 rank) failed"
same_models "$WORK/ref" "$WORK/t" "SIGTERM, resumed on 1 rank"
# (On 4 ranks, with the backend named: a checkpoint of another backend resumes, src/config/config_diff.c.)
"$MPIRUN" 4 "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/t4/checkpoints/$(basename "$last")" \
  --set run.timeout=600 --set run.backend=cpu || fail "resume of a checkpoint folder on 4 ranks (backend cpu) failed"
same_models "$WORK/ref" "$WORK/t4" "SIGTERM, resumed from the folder on 4 ranks"

# Relative data paths (the quickstart's style), as README documents the resume: run from the
# config's folder, stopped, resumed with the same command; and from another working directory.
mkdir -p "$WORK/proj/data" "$WORK/other/data"
cp "$SRC/configs/data/digits.csv" "$WORK/proj/data/"
head -n 1200 "$SRC/configs/data/digits.csv" >"$WORK/other/data/digits.csv" # other data, same name
sed "s|train: $SRC/configs/data/digits.csv|train: data/digits.csv|" "$WORK/c.yaml" >"$WORK/proj/c.yaml"
cp "$WORK/proj/c.yaml" "$WORK/other/c.yaml"
grep -q 'train: data/digits.csv' "$WORK/proj/c.yaml" && pass || fail "the relative config was not made"
ln -s proj "$WORK/proj-link"
stop_relative() { # DIR CONFIG RUN_DIR: a 2-rank run from DIR stopped by SIGTERM (exit 75)
  local code=0
  (cd "$1" && RINGTRAIN_FAULT=term:1:9 "$MPIRUN" 2 "$RT" train "$2" --quiet --output "$3") 2>"$WORK/rel.err" || code=$?
  [[ $code -eq 75 ]] && pass || fail "relative paths, stop from $1: exit $code: $(head -c 400 "$WORK/rel.err")"
}
stop_relative "$WORK/proj" c.yaml runs/r
(cd "$WORK/proj" && "$RT" train c.yaml --quiet --resume runs/r) || fail "relative paths: resume from the config's folder failed"
same_models "$WORK/ref" "$WORK/proj/runs/r" "relative paths, resumed from the config's folder"
stop_relative "$WORK/proj" c.yaml runs/r2
(cd "$WORK" && "$MPIRUN" 3 "$RT" train proj/c.yaml --quiet --resume proj/runs/r2) || fail "relative paths: resume from another folder failed"
same_models "$WORK/ref" "$WORK/proj/runs/r2" "relative paths, resumed from another working directory"
stop_relative "$WORK" proj/c.yaml proj/runs/r3
(cd "$WORK/proj-link" && "$RT" train c.yaml --quiet --resume runs/r3) || fail "relative paths: resume through a symbolic link failed"
same_models "$WORK/ref" "$WORK/proj/runs/r3" "relative paths, resumed through a symbolic link"
# A config elsewhere whose relative path names other data: refused, with the diff.
stop_relative "$WORK/proj" c.yaml runs/r4
expect_run other_data 2 "data.train (checkpoint: $WORK/proj/data/digits.csv, now: data/digits.csv = $WORK/other/data/digits.csv)" -- \
  env -C "$WORK/other" "$RT" train c.yaml --quiet --resume "$WORK/proj/runs/r4"

# SIGINT (Ctrl-C) on rank 0 works the same way.
code=0
RINGTRAIN_FAULT=int:0:6 "$MPIRUN" 3 "$RT" train "$WORK/c.yaml" --quiet --output "$WORK/i" 2>"$WORK/i.err" || code=$?
[[ $code -eq 75 ]] && pass || fail "SIGINT: exit $code, expected 75: $(head -c 400 "$WORK/i.err")"
"$MPIRUN" 2 "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/i" || fail "resume after SIGINT failed"
same_models "$WORK/ref" "$WORK/i" "SIGINT on 3 ranks, resumed on 2"

# SIGUSR1 on rank 0: a checkpoint on demand, and the run goes on to the same models.
RINGTRAIN_FAULT=usr1:0:3 "$MPIRUN" 2 "$RT" train "$WORK/c.yaml" --quiet --output "$WORK/u" \
  --set run.checkpoint_every=never --set run.keep_checkpoints=5 || fail "SIGUSR1 run failed"
grep -qx 'reason request' "$WORK/u"/checkpoints/ckpt-000001/MANIFEST && pass || fail "no checkpoint on SIGUSR1"
same_models "$WORK/ref" "$WORK/u" "SIGUSR1"

# A resume with another config: refused, listing the keys; neutral keys (timeout) are fine.
cp -r "$WORK/k" "$WORK/d"
expect_run diff_passes 2 "1 setting differs from the checkpoint: run.passes (checkpoint: 4, now: 5)" -- \
  "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/d" --set run.passes=5
expect_run diff_two 2 "2 settings differ from the checkpoint: run.seed (checkpoint: 3, now: 4); models.2.learning_rate" -- \
  "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/d" --set run.seed=4 --set models.2.learning_rate=0.5
[[ ! -e "$WORK/d/results.csv" ]] && pass || fail "a refused resume wrote results"
# The refusal names the checkpoint's own config, and that config resumes it to the same models.
expect_run diff_hint 2 "; its own config is $WORK/d/checkpoints/ckpt-" -- \
  "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/d" --set run.passes=5
own=$(ls -d "$WORK/d/checkpoints"/ckpt-* | tail -1)/config.yaml
"$MPIRUN" 2 "$RT" train "$own" --quiet --resume "$WORK/d" || fail "resume from the checkpoint's own config failed"
same_models "$WORK/ref" "$WORK/d" "resumed from the checkpoint's own config"
expect_run no_ckpt 2 "no checkpoint to resume from" -- "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/plain/models"

# Damaged checkpoints: named, exit 2, never a crash.
dmg() { rm -rf "$WORK/x"; cp -r "$WORK/k" "$WORK/x"; ls -d "$WORK/x/checkpoints"/ckpt-* | tail -1; }
c=$(dmg); printf '\x01' | dd of="$c/model-2.rtm" bs=1 seek=200 conv=notrunc status=none
expect_run flipped 2 "model-2.rtm: checksum mismatch with" -- "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/x"
c=$(dmg); head -n 4 "$c/MANIFEST" >"$c/M" && mv "$c/M" "$c/MANIFEST"
expect_run truncated_manifest 2 "MANIFEST: incomplete manifest (truncated?)" -- "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/x"
c=$(dmg); sed -i 's/^sequence /sequenze /' "$c/MANIFEST"
expect_run bad_record 2 "MANIFEST:2: expected 'sequence N'" -- "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/x"
c=$(dmg); truncate -s 100 "$c/model-0.rtm"; m=$(sha256sum "$c/model-0.rtm" | cut -d' ' -f1)
sed -i "s/^\(model 0 .*\) [0-9a-f]\{64\}$/\1 $m/" "$c/MANIFEST"
expect_run truncated_model 2 "model-0.rtm: truncated at byte 100" -- "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/x"
c=$(dmg); rm "$c/model-4.rtm"
expect_run missing_model 2 "model-4.rtm: cannot open" -- "$RT" train "$WORK/c.yaml" --quiet --resume "$WORK/x"
finish
