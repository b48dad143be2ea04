#!/usr/bin/env bash
# scripts/slurm/train.sbatch with stand-ins for srun (local ranks through scripts/mpirun.sh),
# scontrol (records the requeue) and squeue (the job is RUNNING): a job stopped by SIGTERM
# (injected on rank 1) exits 75 and asks for a requeue; the requeued job resumes and ends with the
# same models as an uninterrupted run. tests/cli/test_slurm_real.sh runs the script under Slurm.
source "$(dirname "$0")/../lib.sh" "$@"
mkdir -p "$WORK/bin"
cat >"$WORK/bin/srun" <<SH
#!/usr/bin/env bash
while [[ \$1 == --* ]]; do shift; done
exec "$MPIRUN" "\${SLURM_NTASKS:-2}" "\$@"
SH
cat >"$WORK/bin/scontrol" <<SH
#!/usr/bin/env bash
echo "\$*" >>"$WORK/scontrol.log"
SH
cat >"$WORK/bin/squeue" <<SH
#!/usr/bin/env bash
echo RUNNING
SH
chmod +x "$WORK/bin/srun" "$WORK/bin/scontrol" "$WORK/bin/squeue"
cat >"$WORK/c.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 3, seed: 9, checkpoint_every: 1}
models:
  - {kind: logistic, learning_rate: [0.1, 0.01], batch_size: 64}
  - {kind: kmeans, k: 6, batch_size: 64}
YAML
"$RT" train "$WORK/c.yaml" --quiet --output "$WORK/ref" || fail "reference run failed"
job() { PATH="$WORK/bin:$PATH" SLURM_JOB_ID=4242 SLURM_NTASKS=$1 CONFIG="$WORK/c.yaml" RUN_DIR="$WORK/run" \
  RINGTRAIN="$RT" bash "$SRC/scripts/slurm/train.sbatch" >>"$WORK/job.log" 2>&1; }
code=0; RINGTRAIN_FAULT=term:1:4 job 2 || code=$?
[[ $code -eq 75 ]] && pass || fail "first job: exit $code, expected 75: $(tail -c 600 "$WORK/job.log")"
[[ "$(cat "$WORK/scontrol.log" 2>/dev/null)" == "requeue 4242" ]] && pass || fail "no requeue: $(cat "$WORK/scontrol.log" 2>/dev/null)"
code=0; job 3 || code=$?
[[ $code -eq 0 ]] && pass || fail "requeued job: exit $code: $(tail -c 600 "$WORK/job.log")"
grep -q "resuming $WORK/run" "$WORK/job.log" && pass || fail "the requeued job did not resume"
for m in "$WORK/ref"/models/*.rtm; do
  cmp -s "$m" "$WORK/run/models/$(basename "$m")" && pass || fail "$(basename "$m") differs after requeue"
done
finish
