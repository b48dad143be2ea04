#!/usr/bin/env bash
# scripts/slurm/train.sbatch under a real Slurm: a one-node cluster on localhost (munged,
# slurmctld and slurmd from Debian's packages, installed by scripts/setup.sh --slurm when missing;
# configuration, key, state and logs in this test's folder; its own ports; stopped by their pids
# at exit). One job of 2 ranks (srun --mpi=pmix) is stopped five times the ways clusters do it,
# and each time comes back by itself and resumes:
#   1. scancel --signal=TERM JOBID (the tasks): exit 75, a checkpoint, the script requeues;
#   2. scontrol requeue JOBID: Slurm sends SIGCONT, SIGTERM to the tasks and the batch shell and
#      requeues the job itself: exit 75, a checkpoint, the script does not requeue again;
#   3. preemption by a job of a higher-priority partition, PreemptMode=REQUEUE, GraceTime=0:
#      SIGTERM, SIGCONT, SIGTERM within milliseconds: one request, exit 75, a checkpoint;
#   4. scancel --full --signal=TERM: the batch shell traps it and survives, but srun, which gets
#      SIGTERM too, ends its tasks with SIGKILL, so no checkpoint: the script requeues and the job
#      resumes from the last periodic checkpoint;
#   5. scancel -b --signal=TERM (the batch shell only): the shell forwards it: exit 75, requeue.
# The job then finishes with model files byte-identical to an uninterrupted run. A second job,
# cancelled outright (scancel JOBID), checkpoints and stays cancelled.
# Skips (77) only where the cluster cannot run here: not root, no way to install the packages, or
# a daemon that does not start (the note says which and why).
source "$(dirname "$0")/../lib.sh" "$@"
skip() { echo "skipped: $*"; exit 77; }

[[ $(id -u) -eq 0 ]] || skip "the one-node Slurm needs root (slurmd starts the jobs, apt installs the packages)"
for tool in munged mungekey slurmctld slurmd sbatch srun squeue scontrol scancel; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    "$SRC/scripts/setup.sh" --slurm >"$WORK/setup.log" 2>&1 ||
      skip "cannot install Slurm and munge (scripts/setup.sh --slurm): $(tail -n 1 "$WORK/setup.log")"
    echo "note: installed Slurm and munge with scripts/setup.sh --slurm"
    break
  fi
done

# Stops what this test started: the jobs, then the daemons by their pids, newest first.
daemons=()
ref_pid=
stop_cluster() {
  set +e
  if [[ ${#daemons[@]} -gt 0 ]]; then
    # Jobs first: their slurmstepd and ranks outlive slurmd.
    local ids
    ids=$(timeout 10 squeue -h -o %i 2>/dev/null)
    if [[ -n $ids ]]; then
      # shellcheck disable=SC2086
      timeout 10 scancel $ids 2>/dev/null
      for _ in $(seq 450); do [[ -z $(timeout 10 squeue -h -o %i 2>/dev/null) ]] && break; sleep 0.1; done
    fi
    local i pid
    for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
      pid=${daemons[i]}
      kill "$pid" 2>/dev/null
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    done
  fi
  [[ -z $ref_pid ]] || { kill -KILL "$ref_pid" 2>/dev/null; wait "$ref_pid" 2>/dev/null; }
}
trap 'stop_cluster; rm -rf "$WORK"' EXIT

# The uninterrupted reference, on 1 rank, while the cluster starts. The job's config gives its
# data relative to its own folder and the job gets relative CONFIG and RUN_DIR (the script's
# default style), so every requeue resumes through relative paths.
mkdir -p "$WORK/proj/data"
cp "$SRC/configs/data/digits.csv" "$WORK/proj/data/"
cat >"$WORK/proj/c.yaml" <<YAML
data: {train: data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 1200, seed: 11, checkpoint_every: 4}
models:
  - {kind: mlp, hidden: [64], batch_size: 16, learning_rate: 0.01}
  - {kind: logistic, batch_size: 16, learning_rate: [0.05, 0.01]}
  - {kind: kmeans, k: 8, batch_size: 32}
YAML
"$RT" train "$WORK/proj/c.yaml" --quiet --output "$WORK/ref" >"$WORK/ref.log" 2>&1 &
ref_pid=$!

# ---- the cluster ----
C="$WORK/cluster"
mkdir -p "$C/key" "$C/munge" "$C/state" "$C/spool" "$C/log"
# munged wants its key private and every folder above its socket searchable by all.
chmod 755 "$WORK" "$C" "$C/munge"
chmod 700 "$C/key"
host=$(uname -n)
host=${host%%.*} # slurmctld must run on SlurmctldHost, by its short name
# Two free TCP ports (none listening or connected on them), away from Slurm's 6817/6818.
port_used() { grep -qi "$(printf ':%04X ' "$1")" /proc/net/tcp /proc/net/tcp6 2>/dev/null; }
ctld_port=0
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 20000))
  if ! port_used "$p" && ! port_used $((p + 1)); then ctld_port=$p; break; fi
done
[[ $ctld_port -ne 0 ]] || skip "no free TCP port pair found for slurmctld and slurmd"
export SLURM_CONF="$C/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=ringtrain-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits (PENDING, BeginTime): 120 s by default; 5 is
# the least Slurm accepts.
AuthInfo=socket=$C/munge/munge.socket,cred_expire=5
StateSaveLocation=$C/state
SlurmdSpoolDir=$C/spool
SlurmctldPidFile=$C/slurmctld.pid
SlurmdPidFile=$C/slurmd.pid
SlurmctldLogFile=$C/log/slurmctld.log
SlurmdLogFile=$C/log/slurmd.log
MailProg=/bin/true
# No cgroups: processes are tracked through /proc, tasks are not bound.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Whole-node jobs: the preemptor always needs the node. A scheduling pass every second (default
# 60 s: also part of how long a requeued job waits).
SelectType=select/linear
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
# Slurm's default, as on most clusters: the job passes --mpi=pmix (RINGTRAIN_SRUN_ARGS).
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=30
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=low Nodes=$host Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=0
PartitionName=high Nodes=$host MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
CONF


# wait_until SECONDS command...: polls the command every 0.1 s until it succeeds; 1 on timeout.
wait_until() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < end)) || return 1
    sleep 0.1
  done
}
# daemon_fails NAME: the one-line reason a daemon did not start.
daemon_fails() { skip "$1 did not start: $(grep -ih 'error\|fatal' "$C/log/$1"* 2>/dev/null | tail -n 1)"; }

mungekey -c -k "$C/key/munge.key" >/dev/null 2>&1 || skip "mungekey cannot create a key"
munged -F --key-file="$C/key/munge.key" --socket="$C/munge/munge.socket" --pid-file="$C/munge/munged.pid" \
  --log-file="$C/log/munged.log" --seed-file="$C/key/munged.seed" >"$C/log/munged.out" 2>&1 &
daemons+=($!)
wait_until 10 test -S "$C/munge/munge.socket" || daemon_fails munged
slurmctld -D -f "$SLURM_CONF" >"$C/log/slurmctld.out" 2>&1 &
daemons+=($!)
slurmd -D -N "$host" -f "$SLURM_CONF" >"$C/log/slurmd.out" 2>&1 &
daemons+=($!)
node_idle() { [[ "$(sinfo -h -n "$host" -p low -o %T 2>/dev/null)" == idle ]]; }
if ! wait_until 30 node_idle; then
  kill -0 "${daemons[1]}" 2>/dev/null || daemon_fails slurmctld
  daemon_fails slurmd
fi

# ---- the job ----
# submit NAME: submits train.sbatch (2 ranks on the one node) from $WORK/proj with CONFIG=c.yaml
# and RUN_DIR=runs/NAME; prints the job id.
submit() {
  sbatch --parsable -N 1 --ntasks-per-node=2 --cpus-per-task=1 --time=10 -o "$WORK/$1.log" -D "$WORK/proj" \
    --export="ALL,CONFIG=c.yaml,RUN_DIR=runs/$1,RINGTRAIN=$RT,RINGTRAIN_SRUN_ARGS=--mpi=pmix" \
    "$SRC/scripts/slurm/train.sbatch"
}
state() { squeue -h -j "$job" -o %T 2>/dev/null || true; }
field() { scontrol show job "$job" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
newest() { { compgen -G "$run/checkpoints/ckpt-*/MANIFEST" || true; } | sort | tail -n 1; }
reason() { local m; m=$(newest); [[ -z $m ]] || sed -n 's/^reason //p' "$m"; }
# running_past CHECKPOINT: running, with a checkpoint newer than CHECKPOINT (at least one).
running_past() { [[ "$(state)" == RUNNING && -n "$(newest)" && "$(newest)" != "$1" ]]; }
is_state() { [[ "$(state)" == "$1" ]]; }
# log_since LINE TEXT: the job log has TEXT after its first LINE lines.
log_since() { grep -qF -- "$2" <<<"$(tail -n +"$(($1 + 1))" "$log")"; }
log_tail() { tail -n 8 "$log" | tr '\n' '|'; }

# A job cancelled outright: the shell waits while the ranks checkpoint, and it stays cancelled.
run="$WORK/proj/runs/cancelled"
log="$WORK/cancelled.log"
job=$(submit cancelled) || fail "sbatch refused the job"
if wait_until 120 running_past ""; then
  scancel "$job"
  wait_until 60 is_state "" || fail "scancel: the job did not end: $(state)"
  [[ "$(field JobState)" == CANCELLED ]] && pass || fail "scancel: job state $(field JobState), expected CANCELLED: $(log_tail)"
  [[ "$(reason)" == signal ]] && pass || fail "scancel: the newest checkpoint is not the stop's ($(newest))"
  wait_until 10 log_since 0 "not requeueing" && pass || fail "scancel: log: $(log_tail)"
else
  fail "the first job did not run: state '$(state)': $(log_tail)"
fi

run="$WORK/proj/runs/job"
log="$WORK/job.log"
job=$(submit job) || fail "sbatch refused the job"
start=$SECONDS
for how in step requeue preempt full batch; do
  before=$(newest)
  if ! wait_until 120 running_past "$before"; then
    fail "before '$how': the job is not running past its last checkpoint: state '$(state)': $(log_tail)"
    scontrol show job "$job" | head -n 8 >&2
    break
  fi
  restarts=$(field Restarts)
  lines=$(wc -l <"$log")
  case $how in
    step) scancel --signal=TERM "$job" ;;
    requeue) scontrol requeue "$job" ;;
    preempt) sbatch -p high -o /dev/null --wrap true >/dev/null ;;
    full) scancel --full --signal=TERM "$job" ;;
    batch) scancel -b --signal=TERM "$job" ;;
  esac
  if ! wait_until 60 is_state PENDING; then
    fail "$how: the job was not requeued: state '$(state)': $(log_tail)"
    break
  fi
  # Slurm holds a requeued job for cred_expire + 1 s (6 s here, 121 s by default). Do not shorten
  # it with `scontrol update StartTime=now`: a job released while its last run still completes
  # starts, prints nothing and ends COMPLETED within a second (seen with Slurm 22.05).
  [[ "$(field Restarts)" -eq $((restarts + 1)) ]] && pass || fail "$how: restarts $(field Restarts), expected $((restarts + 1))"
  case $how in
    step | batch) expect=("stopped with a checkpoint" "requeued job") ;;
    requeue | preempt) expect=("the batch shell got SIGTERM" "stopped with a checkpoint" "not requeueing: Slurm is ending") ;;
    full) expect=("the batch shell got SIGTERM" "without a stop checkpoint" "requeued job") ;;
  esac
  [[ $how == preempt ]] && expect+=("DUE TO PREEMPTION")
  [[ $how == batch ]] && expect+=("the batch shell got SIGTERM")
  # The script's last word on this stop (it may follow its own scontrol requeue by a moment).
  wait_until 10 log_since "$lines" "requeue" || true
  for text in "${expect[@]}"; do
    log_since "$lines" "$text" && pass || fail "$how: the log lacks '$text': $(log_tail)"
  done
  # Every stop but --full's writes its checkpoint (srun's SIGKILL leaves the periodic one).
  if [[ $how == full ]]; then
    [[ "$(reason)" == every ]] && pass || fail "full: the newest checkpoint has reason '$(reason)', expected every"
  else
    [[ "$(reason)" == signal ]] && pass || fail "$how: the newest checkpoint has reason '$(reason)', expected signal"
  fi
  if [[ $failures -ne 0 ]]; then
    echo "note: stopped after '$how' failed (the later stops would only fail in its wake)"
    break
  fi
done
finished() { [[ -z "$(state)" ]]; }
[[ $failures -eq 0 ]] || finish
wait_until 240 finished || fail "the job did not finish: state '$(state)': $(log_tail)"
[[ "$(field JobState)" == COMPLETED && "$(field ExitCode)" == 0:0 ]] && pass ||
  fail "final job state $(field JobState) exit $(field ExitCode): $(log_tail)"
[[ $(grep -c "): resuming runs/job" "$log") -eq 5 ]] && pass || fail "resumed $(grep -c "): resuming" "$log") times, expected 5"
echo "note: the job ran $((SECONDS - start)) s with 5 stops and requeues"
wait "$ref_pid" || fail "the reference run failed: $(tail -c 400 "$WORK/ref.log")"
ref_pid=
same_models "$WORK/ref" "$run" "after 5 stops and requeues under Slurm"
finish
