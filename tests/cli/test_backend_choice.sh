#!/usr/bin/env bash
# The backend decision (src/engine/backend_decide.h) as users meet it: `ringtrain check` reports the
# same decision as `train` (the same note with auto, the same one error line with cuda), whatever
# engine features the run uses (none keeps it off CUDA); on 2 ranks the decision is agreed and
# printed once. Works on any build and machine: a CPU-only build refuses cuda for being built
# without it; a CUDA build on a machine without a usable GPU names why (driver, device) and auto
# falls back with that note; on a GPU host auto picks CUDA.
source "$(dirname "$0")/../lib.sh" "$@"
DIGITS="$SRC/configs/data/digits.csv"
printf 'data: {train: %s, label_column: 64, validation_fraction: 0.2}\nrun: {passes: 1}\nmodels: [{kind: logistic}, {kind: logistic, learning_rate: 0.1}]\n' \
  "$DIGITS" >"$WORK/c.yaml"
printf 'data: {train: %s, label_column: 64, validation_fraction: 0.2}\nrun: {passes: 1}\nmodels:\n  - {kind: linear, alpha: 0.1}\n  - {kind: linear, alpha: 3}\n' \
  "$DIGITS" >"$WORK/shared.yaml"

code=0
"$RT" check "$WORK/c.yaml" --set run.backend=cuda >/dev/null 2>"$WORK/probe.err" || code=$?
if grep -q "built without the CUDA backend" "$WORK/probe.err"; then build=cpu
elif grep -q "cannot use CUDA" "$WORK/probe.err"; then build=cuda-no-gpu
elif [[ $code -eq 0 ]]; then build=gpu
else fail "unexpected answer to run.backend=cuda: $(cat "$WORK/probe.err")"; build=unknown; fi
echo "build/machine: $build"

# No feature keeps a run off CUDA any more (one engine serves both backends): with cuda, check and
# train give the same answer for checkpoints, validation along the ring, early termination, a
# shared statistics pass and --resume, and that answer is about the build or the machine only.
features=("run.checkpoint_every=1" "run.eval_every_pass=true" "sweep.early_terminate.type=median")
names=("run.checkpoint_every" "run.eval_every_pass" "sweep.early_terminate")
case $build in
  cpu) want="built without the CUDA backend" ;;
  cuda-no-gpu) want="run.backend is cuda, but rank 0 cannot use CUDA: " ;;
  *) want="" ;;
esac
for i in 0 1 2; do
  if [[ $build == gpu ]]; then
    "$RT" check "$WORK/c.yaml" --set run.backend=cuda --set "${features[$i]}" >"$WORK/check-$i.out" 2>&1 \
      && grep -q "^# backend cuda" "$WORK/check-$i.out" && pass \
      || fail "${names[$i]}: check does not choose cuda on a GPU host: $(cat "$WORK/check-$i.out")"
    continue
  fi
  expect_run "check-${names[$i]}" 2 "$want" -- "$RT" check "$WORK/c.yaml" --set run.backend=cuda --set "${features[$i]}"
  expect_run "train-${names[$i]}" 2 "$want" -- "$RT" train "$WORK/c.yaml" --set run.backend=cuda --set "${features[$i]}" \
    --output "$WORK/out-$i"
  cmp -s "$WORK/check-${names[$i]}.err" "$WORK/train-${names[$i]}.err" && pass \
    || fail "${names[$i]}: check and train disagree: $(cat "$WORK/check-${names[$i]}.err" "$WORK/train-${names[$i]}.err")"
  ! grep -q "not supported" "$WORK/check-${names[$i]}.err" && pass \
    || fail "${names[$i]}: a feature is still refused on CUDA: $(cat "$WORK/check-${names[$i]}.err")"
  [[ ! -e "$WORK/out-$i" ]] && pass || fail "${names[$i]}: train wrote a run directory before refusing"
done
if [[ $build != gpu ]]; then
  expect_run check-shared 2 "$want" -- "$RT" check "$WORK/shared.yaml" --set run.backend=cuda
  expect_run train-shared 2 "$want" -- "$RT" train "$WORK/shared.yaml" --set run.backend=cuda --output "$WORK/out-shared"
  ! grep -q "not supported" "$WORK/check-shared.err" && pass || fail "a shared pass is still refused on CUDA"
  expect_run train-resume 2 "$want" -- "$RT" train "$WORK/c.yaml" --set run.backend=cuda --resume "$WORK/nowhere"
fi

# auto: the note (or none) of check is the note of train, and both train on the same backend.
for extra in "run.backend=auto" "run.eval_every_pass=true"; do
  "$RT" check "$WORK/c.yaml" --set "$extra" >"$WORK/check.out" 2>&1 || fail "check --set $extra: $(cat "$WORK/check.out")"
  "$RT" train "$WORK/c.yaml" --set "$extra" --output "$WORK/auto-$extra" >"$WORK/train.out" 2>&1 \
    || fail "train --set $extra: $(cat "$WORK/train.out")"
  diff <(grep '^# note:' "$WORK/check.out") <(grep '^# note:' "$WORK/train.out") >/dev/null && pass \
    || fail "$extra: notes differ: check: $(grep note "$WORK/check.out"); train: $(grep note "$WORK/train.out")"
  chose=$(sed -n 's/^# backend \([a-z]*\) (.*/\1/p' "$WORK/check.out")
  trained=$(sed -n 's/^# backend \([a-z]*\);.*/\1/p' "$WORK/train.out")
  [[ -n "$chose" && "$chose" == "$trained" ]] && pass || fail "$extra: check chose '$chose', train used '$trained'"
  case $build in
    cpu) ! grep -q '^# note:' "$WORK/check.out" && pass || fail "a CPU-only build has a note: $(cat "$WORK/check.out")" ;;
    cuda-no-gpu) grep -q "^# note: backend auto: rank 0 cannot use CUDA: .*; training on the CPU" "$WORK/check.out" && pass \
                   || fail "no device note: $(cat "$WORK/check.out")" ;;
    gpu) ! grep -q '^# note:' "$WORK/check.out" && [[ $chose == cuda ]] && pass \
           || fail "$extra: auto on a GPU host did not choose cuda: $(cat "$WORK/check.out")" ;;
  esac
done

# Two ranks: the decision is agreed, printed once, and both exit 2 the same way.
if [[ $build != gpu ]]; then
  [[ $build == cpu ]] && want="built without the CUDA backend" || want="run.backend is cuda, but rank 0 cannot use CUDA: "
  expect_run two-ranks 2 "$want" -- "$MPIRUN" 2 "$RT" train "$WORK/c.yaml" --set run.backend=cuda --output "$WORK/two"
fi
finish
