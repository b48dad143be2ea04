#!/usr/bin/env bash
# Faults (issue 7): real SIGTERM, SIGCONT, SIGTERM to the ranks' processes within milliseconds
# (Slurm's preemption) is one request: every rank stops with a checkpoint (exit 75) and the resumed
# run equals an uninterrupted one; a SIGINT after the first signal, or a SIGTERM after the repeat
# window (5 s), ends the job at once; the watchdog (run.timeout) names the stuck hand-off when a
# rank stalls, in one line also with 3 ranks where a second rank is starved by the first one's
# stall; a full disk while writing a checkpoint is a clear error that leaves the last good
# checkpoint intact (injected with RINGTRAIN_FAULT=enospc, and for real on a small tmpfs when this
# machine lets us mount one).
source "$(dirname "$0")/../lib.sh" "$@"
cat >"$WORK/long.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 150, seed: 5, checkpoint_every: 10}
models:
  - {kind: mlp, hidden: [256], batch_size: 16, learning_rate: [0.01, 0.02]}
  - {kind: logistic, batch_size: 16}
YAML
cat >"$WORK/short.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 4, seed: 3, checkpoint_every: 1, keep_checkpoints: 1}
models:
  - {kind: logistic, learning_rate: [0.1, 0.01], batch_size: 64}
  - {kind: mlp, hidden: [32], batch_size: 32}
YAML
# rank_pid DIR RANK: the pid of the ringtrain process of that rank writing to DIR (from /proc:
# no procps needed).
rank_pid() {
  local d cmd
  for d in /proc/[0-9]*; do
    cmd=$( { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) || continue
    [[ $cmd == *"ringtrain train "*"--output $1 "* ]] || continue
    if { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then echo "${d#/proc/}"; return; fi
  done
}
# wait_for PATH: until it exists (at most 60 s).
wait_for() { local i; for i in $(seq 600); do [[ -e $1 ]] && return 0; sleep 0.1; done; return 1; }

"$MPIRUN" 2 "$RT" train "$WORK/long.yaml" --quiet --output "$WORK/ref" || fail "reference run failed"

# Real signals, as Slurm sends them when it preempts a job with GraceTime=0: SIGTERM to rank 1's
# process once the first checkpoint exists, then SIGCONT and SIGTERM to both ranks 20 ms later
# (not at once: two SIGTERMs still pending together are delivered as one, and the repeat would
# not be tested). The repeats are the same request, not an escalation: every rank stops with the
# checkpoint (exit 75), and the run resumed on 3 ranks equals an uninterrupted one. (A signal on
# one rank alone: RINGTRAIN_FAULT=term in test_checkpoint.sh.)
"$MPIRUN" 2 "$RT" train "$WORK/long.yaml" --quiet --output "$WORK/s" 2>"$WORK/s.err" &
job=$!
wait_for "$WORK/s/checkpoints/ckpt-000001/MANIFEST" || fail "no first checkpoint"
pid0=$(rank_pid "$WORK/s" 0)
pid=$(rank_pid "$WORK/s" 1)
[[ -n $pid0 && -n $pid ]] && { kill -TERM "$pid"; sleep 0.02; kill -CONT "$pid0" "$pid"; kill -TERM "$pid0" "$pid"; }
code=0; wait $job || code=$?
if [[ -z $pid0 || -z $pid ]]; then fail "the ranks' processes not found ('$pid0', '$pid')"
elif [[ -e "$WORK/s/results.csv" ]]; then echo "note: the run ended before the signals; nothing to check"
else
  [[ $code -eq 75 ]] && pass || fail "SIGTERM, SIGCONT, SIGTERM: exit $code, expected 75: $(head -c 400 "$WORK/s.err")"
  grep -q '^ringtrain: stopped by a signal' "$WORK/s.err" && pass || fail "SIGTERM: message: $(head -c 400 "$WORK/s.err")"
  grep -qx 'reason signal' "$(ls -d "$WORK/s/checkpoints"/ckpt-* | tail -n 1)/MANIFEST" && pass \
    || fail "SIGTERM, SIGCONT, SIGTERM: the newest checkpoint is not the stop's"
  "$MPIRUN" 3 "$RT" train "$WORK/long.yaml" --quiet --resume "$WORK/s" || fail "resume after SIGTERM failed"
  same_models "$WORK/ref" "$WORK/s" "SIGTERM, SIGCONT, SIGTERM, resumed on 3 ranks"
fi

# A rank that is stuck (it stalls before its 2nd hand-off) and cannot stop gracefully: a second
# signal that is not a repeat ends it at once, and the launcher ends the job. Repeats within the
# window (the signals above) would leave it stuck: timeout 60 makes that a failure, not a hang.
# second_signal DIR SIGNAL DELAY: SIGTERM, then SIGNAL after DELAY seconds, to a run in WORK/DIR.
second_signal() {
  local start=$SECONDS pid="" i code=0
  RINGTRAIN_FAULT=stall:1:2 timeout 60 "$MPIRUN" 2 "$RT" train "$WORK/short.yaml" --quiet --output "$WORK/$1" \
    >/dev/null 2>&1 &
  local job=$!
  for i in $(seq 100); do pid=$(rank_pid "$WORK/$1" 1); [[ -n $pid ]] && break; sleep 0.1; done
  sleep 1
  [[ -n $pid ]] && { kill -TERM "$pid"; sleep "$3"; kill "-$2" "$pid"; }
  wait $job || code=$?
  local what="SIG$2 $3 s after SIGTERM"
  [[ -n $pid && $code -ne 0 && $code -ne 75 && $code -ne 124 ]] && pass || fail "$what: exit $code (pid '$pid')"
  [[ $((SECONDS - start)) -lt 30 ]] && pass || fail "$what: the job took $((SECONDS - start)) s to end"
}
second_signal d-int INT 0.3
second_signal d-term TERM 5.5

# The watchdog: rank 1 stalls before its 3rd hand-off; rank 0 names the stuck hand-off.
start=$SECONDS
expect_run watchdog 1 "is stuck on the hand-off from rank 1 to rank 0" -- env RINGTRAIN_FAULT=stall:1:3 timeout 60 \
  "$MPIRUN" 2 "$RT" train "$WORK/short.yaml" --quiet --output "$WORK/w" --set run.timeout=2
grep -Eq 'watchdog: rank 0 waited [0-9]+ s \(run.timeout\) with no hand-off arriving: model [0-9]+ \(pass [1-4] of 4, shard [0-3]\)' \
  "$WORK/watchdog.err" && pass || fail "watchdog message: $(head -c 400 "$WORK/watchdog.err")"
[[ $((SECONDS - start)) -lt 30 ]] && pass || fail "watchdog: the job took $((SECONDS - start)) s to end"
[[ ! -e "$WORK/w/results.csv" ]] && pass || fail "watchdog: results written"
# With 3 ranks (ring 0 -> 1 -> 2 -> 0 over the 4 shards) a stall starves both other ranks, yet
# exactly one line names a hand-off of the stalled rank: the rank whose own sender is waiting
# too (a knock-on) defers to it. Rank 1 stalling leaves rank 0 waiting on rank 2; rank 2
# stalling leaves rank 1 done and waiting in the final vote.
for s in 1 2; do
  start=$SECONDS
  expect_run "watchdog3-$s" 1 "; rank $s does not answer" -- env RINGTRAIN_FAULT=stall:$s:2 timeout 60 \
    "$MPIRUN" 3 "$RT" train "$WORK/short.yaml" --quiet --output "$WORK/w3-$s" --set run.timeout=2
  [[ $(grep -c 'watchdog:' "$WORK/watchdog3-$s.err") -eq 1 ]] && pass \
    || fail "3 ranks, rank $s stalled: not one watchdog line: $(grep 'watchdog:' "$WORK/watchdog3-$s.err")"
  grep -Eq "watchdog: rank [0-2] waited [0-9]+ s \(run.timeout\) with .*: model [0-9]+ \(pass [1-4] of 4, shard [0-3]\) is stuck on the hand-off from rank ($s to rank [0-2]|[0-2] to rank $s)" \
    "$WORK/watchdog3-$s.err" && pass || fail "3 ranks, rank $s stalled: no edge of rank $s named: $(grep 'watchdog:' "$WORK/watchdog3-$s.err")"
  [[ $((SECONDS - start)) -lt 30 ]] && pass || fail "3 ranks, rank $s stalled: the job took $((SECONDS - start)) s to end"
done

# Disk full (injected) while writing the 2nd checkpoint: exit 2, the 1st intact, nothing half-written.
"$RT" train "$WORK/short.yaml" --quiet --output "$WORK/sref" || fail "short reference failed"
expect_run enospc 2 "checkpoint ckpt-000002 not written: $WORK/e/checkpoints/.ckpt-000002.tmp/model-1.rtm: cannot write: No space left on device (injected by RINGTRAIN_FAULT); the last complete checkpoint is $WORK/e/checkpoints/ckpt-000001" -- \
  env RINGTRAIN_FAULT=enospc:0:2 "$MPIRUN" 2 "$RT" train "$WORK/short.yaml" --quiet --output "$WORK/e"
[[ "$(ls -A "$WORK/e/checkpoints")" == "ckpt-000001" ]] && pass || fail "after the disk error: $(ls -A "$WORK/e/checkpoints")"
[[ ! -e "$WORK/e/results.csv" ]] && pass || fail "results written after the disk error"
"$RT" train "$WORK/short.yaml" --quiet --resume "$WORK/e" || fail "resume after the disk error failed"
same_models "$WORK/sref" "$WORK/e" "disk error, resumed"

# A real full disk: a tmpfs with room for about one and a half checkpoints (keep_checkpoints 1
# needs two while the second is written).
mnt="$WORK/tmpfs"; mkdir -p "$mnt"
kb=$(du -sk "$(ls -d "$WORK/sref/checkpoints"/ckpt-* | tail -1)" | cut -f1)
if mount -t tmpfs -o size=$(( (kb * 3 / 2 + 8) ))k tmpfs "$mnt" 2>/dev/null; then
  expect_run full 2 "No space left on device; the last complete checkpoint is $mnt/f/checkpoints/ckpt-000001" -- \
    "$MPIRUN" 2 "$RT" train "$WORK/short.yaml" --quiet --output "$mnt/f"
  [[ "$(ls -A "$mnt/f/checkpoints")" == "ckpt-000001" ]] && pass || fail "full disk: $(ls -A "$mnt/f/checkpoints")"
  cp -r "$mnt/f" "$WORK/f"
  umount "$mnt"
  "$RT" train "$WORK/short.yaml" --quiet --resume "$WORK/f" || fail "resume after a full disk failed"
  same_models "$WORK/sref" "$WORK/f" "full disk, resumed elsewhere"
  # The run directory turns read-only mid-run (remounted after the first checkpoint): the next
  # checkpoint fails with a clear error and the last complete one still resumes correctly.
  if mount -t tmpfs -o size=64m tmpfs "$mnt" 2>/dev/null; then
    "$MPIRUN" 2 "$RT" train "$WORK/long.yaml" --quiet --output "$mnt/ro" 2>"$WORK/ro.err" &
    job=$!
    wait_for "$mnt/ro/checkpoints/ckpt-000001/MANIFEST" || fail "read-only: no first checkpoint"
    # (a remount fails with EBUSY while a file is open for writing: retry)
    for i in $(seq 100); do mount -o remount,ro "$mnt" 2>/dev/null && break; sleep 0.02; done
    findmnt -no OPTIONS "$mnt" | grep -q '^ro' || fail "cannot remount read-only"
    code=0; wait $job || code=$?
    [[ $code -eq 2 ]] && pass || fail "read-only: exit $code: $(head -c 400 "$WORK/ro.err")"
    grep -q "Read-only file system; the last complete checkpoint is $mnt/ro/checkpoints/ckpt-" "$WORK/ro.err" && pass \
      || fail "read-only: message: $(head -c 400 "$WORK/ro.err")"
    [[ $(grep -c '^ringtrain: error:' "$WORK/ro.err") -eq 1 ]] && pass || fail "read-only: not one error line"
    cp -r "$mnt/ro" "$WORK/ro"
    umount "$mnt"
    "$MPIRUN" 2 "$RT" train "$WORK/long.yaml" --quiet --resume "$WORK/ro" || fail "resume after read-only failed"
    same_models "$WORK/ref" "$WORK/ro" "read-only disk, resumed elsewhere"
  fi
else
  echo "note: cannot mount a tmpfs here (not root or no CAP_SYS_ADMIN): the real full-disk case is skipped"
fi
finish
