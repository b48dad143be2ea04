#!/usr/bin/env bash
# The ring across hosts (issue 11): three "hosts" made of Linux network namespaces
# (scripts/netns_hosts.sh: a veth pair each to a bridge in a private namespace, addresses
# 10.77.0.N/24 only inside them, nothing in the root namespace changes) and Open MPI's mpirun
# started in host 1, reaching hosts 2 and 3 through a remote-shell agent that enters their
# namespace the way ssh enters a node (fresh environment, -x for what the ranks need), TCP only,
# one rank per host. The filesystem is shared, as on a cluster with a shared filesystem. Checks:
#   - 2 and 3 hosts give model files byte-identical to 1 rank (a mix of all four families);
#   - a rank that stalls (RINGTRAIN_FAULT=stall) with run.timeout set ends the job with exactly
#     one watchdog line, naming a stuck hand-off of the stalled rank;
#   - a rank that is SIGKILLed (RINGTRAIN_FAULT=die) ends the job promptly with a non-zero exit,
#     and no ringtrain or orted process is left in any of the hosts;
#   - a network partition (host 3's link cut mid-run): the watchdog on the connected side
#     reports it in one line; what mpirun and the cut-off host do afterwards is printed as a
#     note (Open MPI's behaviour, see README "Multi-node runs"), mpirun is ended by the test.
# Each job runs under mpirun's own --timeout (JOB_LIMIT s) with --report-state-on-timeout: a job
# that hangs (a daemon that never called back, a rank that never ended) fails with mpirun's exit
# code, the seconds it took, what Open MPI reported and what still ran in which host.
# Skips (77) only where network namespaces cannot be made (not root, no CAP_SYS_ADMIN, no ip).
source "$(dirname "$0")/../lib.sh" "$@"
source "$SRC/scripts/netns_hosts.sh"

skip() { echo "skipped: $*"; exit 77; }
command -v ip >/dev/null 2>&1 || skip "no 'ip' command (scripts/setup.sh installs iproute2)"
[[ $(id -u) -eq 0 ]] || skip "network namespaces need root (CAP_SYS_ADMIN); running as uid $(id -u)"
HOSTS=3
JOB_LIMIT=45 # s; a job needs under 10 s here even in the sanitizer build
NETNS_LIMIT=$((JOB_LIMIT + 30)) # the outer limit (scripts/netns_hosts.sh), should mpirun not end
SECONDS=0
trap 'netns_down; rm -rf "$WORK"' EXIT
# A prefix of its own (the pid): concurrent runs of this test do not meet.
netns_probe "rtmh$$" || skip "$NETNS_ERROR"
netns_up "$HOSTS" "$WORK"

# launch_on N: netns_launch_on N, under mpirun's own time limit (it then aborts the job, exit
# 110, and prints each daemon's and rank's state).
launch_on() {
  netns_launch_on "$1"
  RINGTRAIN_MPIRUN_ARGS+=" --timeout $JOB_LIMIT --report-state-on-timeout"
}
# on_hosts N ARGS...: ringtrain ARGS on N hosts, one rank each, mpirun in host 1.
on_hosts() {
  local n=$1
  shift
  launch_on "$n"
  "${NETNS_MPIRUN[@]}" "$n" "$RT" "$@"
}
# how CODE START ERR: for a failure message: mpirun's exit code and seconds since START; when a
# time limit ended it, what Open MPI reported (daemons and ranks) and what ran in the hosts then;
# the start of ERR (mpirun's stderr).
how() {
  local s="mpirun exit $1 after $((SECONDS - $2)) s"
  case $1 in
    110) s+=" (Open MPI's --timeout $JOB_LIMIT); Open MPI's state: $(awk '
           /DATA FOR JOB/ { printf "%s", (++n == 1 ? "daemons" : "; ranks") }
           /JobState/ { t = $0; sub(/.*JobState: /, "", t); sub(/[ \t]*Abort.*/, "", t); printf " (%s)", t }
           /Num launched/ { gsub(/[ \t]+/, " "); printf ":%s", $0 }
           /Rank:/ { t = $0; sub(/.*State: /, "", t); sub(/[ \t]*ExitCode.*/, "", t); printf ", %s on %s %s", $2, $4, t }
           ' "$3")" ;;
    124|137) s+=" (the outer limit of $NETNS_LIMIT s ended it)" ;;
  esac
  echo "$s; running in the hosts now: [$(netns_procs)]; stderr: $(grep -v -e setpgid -e '^-*$' -e '^[[:space:]]*$' \
    -e 'DATA FOR JOB' -e JobState -e 'Num launched' -e 'Rank:' -e 'Procs:' -e 'time limit' -e 'Timeout:' \
    -e 'will now be aborted' -e 'adjust/remove' -e 'MPIEXEC_TIMEOUT' "$3" | tr '\n' ' ' | head -c 600)"
}
# no_leftovers WHAT: within 10 s no process is left in any host namespace.
no_leftovers() {
  local i
  for i in $(seq 100); do [[ -z "$(netns_procs)" ]] && { pass; return 0; }; sleep 0.1; done
  fail "$1: still running afterwards: $(netns_procs)"
}
# spread JOBPID: whether each host namespace ran exactly one ringtrain process while the job ran.
spread() {
  local i h p n
  for i in $(seq 300); do
    n=0
    for h in $(seq "$HOSTS"); do
      for p in $(ip netns pids "$NETNS_PREFIX-h$h" 2>/dev/null); do
        [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == ringtrain ]] && n=$((n + (1 << (4 * (h - 1)))))
      done
    done
    [[ $n -eq 273 ]] && return 0 # 0x111: one in each
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# 1. Byte identity: 1 rank here, 2 and 3 hosts.
cat >"$WORK/mix.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 6}
run: {passes: 3, seed: 11, eval_every_pass: true}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 32, l2: 0.0001}
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: 0.05, batch_size: 50, schedule: cosine}
  - {kind: kmeans, k: 10, batch_size: 64, init_sample: 300}
  - {kind: mlp, hidden: [24, 12], activation: gelu, optimizer: adam, learning_rate: 0.01, batch_size: 32}
  - {kind: mlp, hidden: [16], output: regression, optimizer: sgd, momentum: 0.9, learning_rate: 0.001, batch_size: 50}
  - {kind: linear, solver: exact, alpha: 0.1, batch_size: 100}
  - {kind: linear, solver: sgd, optimizer: adam, learning_rate: 0.001, alpha: 1, batch_size: 64}
YAML
"$RT" train "$WORK/mix.yaml" --quiet --output "$WORK/r1" || fail "1 rank failed"
for n in 2 3; do
  start=$SECONDS
  code=0
  on_hosts "$n" train "$WORK/mix.yaml" --quiet --output "$WORK/h$n" 2>"$WORK/h$n.err" || code=$?
  if [[ $code -eq 0 ]]; then
    same_models "$WORK/r1" "$WORK/h$n" "$n hosts"
    cmp -s "$WORK/r1/history.csv" "$WORK/h$n/history.csv" && pass || fail "$n hosts: history.csv differs"
  else
    fail "$n hosts failed: $(how "$code" "$start" "$WORK/h$n.err")"
  fi
done
[[ $(ls "$WORK/r1/models" | wc -l) -eq 7 ]] && pass || fail "expected 7 model files"

cat >"$WORK/short.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 6}
run: {passes: 4, seed: 3}
models:
  - {kind: logistic, learning_rate: [0.1, 0.01], batch_size: 64}
  - {kind: mlp, hidden: [32], batch_size: 32}
YAML

# 2. The watchdog: rank 1 (host 2) stalls before its 2nd hand-off. Exactly one line names one of
# its two hand-offs: rank 2 waiting for it, or rank 0 whose send it does not take.
start=$SECONDS
export RINGTRAIN_FAULT=stall:1:2
launch_on 3
"${NETNS_MPIRUN[@]}" 3 "$RT" train "$WORK/short.yaml" --quiet --output "$WORK/w" --set run.timeout=2 \
  >/dev/null 2>"$WORK/w.err" &
job=$!
unset RINGTRAIN_FAULT
spread "$job" && pass || fail "watchdog run: not one ringtrain process in each host: $(netns_procs)"
code=0; wait "$job" || code=$?
[[ $code -ne 0 && $code -ne 110 && $code -ne 124 && $code -ne 137 ]] && pass || fail "watchdog: $(how "$code" "$start" "$WORK/w.err")"
lines=$(grep -c 'watchdog:' "$WORK/w.err" || true)
[[ $lines -eq 1 ]] && pass || fail "watchdog: $lines watchdog lines, expected 1: $(how "$code" "$start" "$WORK/w.err")"
grep -Eq '^ringtrain: error: rank [02]: watchdog: rank [02] waited [0-9]+ s \(run.timeout\) .*: model [0-9]+ \(pass [1-4] of 4, shard [0-5]\) is stuck on the hand-off from rank (1 to rank 2.*|0 to rank 1); rank 1 does not answer$' \
  "$WORK/w.err" && pass || fail "watchdog: the line does not name a stuck hand-off of rank 1: $(how "$code" "$start" "$WORK/w.err")"
[[ $((SECONDS - start)) -lt 30 ]] && pass || fail "watchdog: the job took too long: $(how "$code" "$start" "$WORK/w.err")"
no_leftovers "watchdog"

# 3. A dead rank: rank 1 is SIGKILLed before its 3rd hand-off.
start=$SECONDS
code=0
RINGTRAIN_FAULT=die:1:3 on_hosts 3 train "$WORK/short.yaml" --quiet --output "$WORK/d" >/dev/null 2>"$WORK/d.err" || code=$?
[[ $code -ne 0 && $code -ne 110 && $code -ne 124 ]] && pass || fail "SIGKILLed rank: $(how "$code" "$start" "$WORK/d.err")"
[[ $((SECONDS - start)) -lt 30 ]] && pass || fail "SIGKILLed rank: the job took too long: $(how "$code" "$start" "$WORK/d.err")"
[[ ! -e "$WORK/d/results.csv" ]] && pass || fail "SIGKILLed rank: results written ($(how "$code" "$start" "$WORK/d.err"))"
no_leftovers "SIGKILLed rank"

# 4. A partition: host 3's link goes down once training runs. The connected side's watchdog
# reports it; then mpirun waits for host 3's daemon (Open MPI) and the test ends it.
cat >"$WORK/long.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 6}
run: {passes: 2000, seed: 5}
models:
  - {kind: mlp, hidden: [64], batch_size: 16, learning_rate: [0.01, 0.02]}
  - {kind: logistic, batch_size: 16}
YAML
start=$SECONDS
launch_on 3
"${NETNS_MPIRUN[@]}" 3 "$RT" train "$WORK/long.yaml" --output "$WORK/p" --progress-interval 0.5 --set run.timeout=2 \
  >"$WORK/p.out" 2>"$WORK/p.err" &
job=$! # timeout's pid: a SIGTERM to it reaches mpirun, and SIGKILL follows 5 s later
for i in $(seq 600); do grep -qs '^# progress' "$WORK/p.out" && break; kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
if grep -qs '^# progress' "$WORK/p.out"; then
  netns_cut 3
  cut=$SECONDS
  for i in $(seq 300); do grep -q 'watchdog:' "$WORK/p.err" && break; kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  seen=$((SECONDS - cut))
  grep -q 'watchdog:' "$WORK/p.err" && pass || fail "partition: no watchdog line within 30 s of the cut: $(how running "$start" "$WORK/p.err")"
  sleep 3
  if kill -0 "$job" 2>/dev/null; then
    echo "note: partition: the watchdog reported ${seen} s after the cut; mpirun was still running 3 s later (ended by the test)"
    kill -TERM "$job" 2>/dev/null || true
  else
    echo "note: partition: the watchdog reported ${seen} s after the cut and mpirun ended by itself"
  fi
  code=0; wait "$job" 2>/dev/null || code=$?
  echo "note: partition: mpirun's exit status: $code (137: the SIGKILL 5 s after SIGTERM ended it)"
  lines=$(grep -c 'watchdog:' "$WORK/p.err" || true)
  [[ $lines -eq 1 ]] && pass || fail "partition: $lines watchdog lines, expected 1: $(grep 'watchdog:' "$WORK/p.err")"
  grep -Eq 'watchdog: rank [01] .*hand-off from rank ([01] to rank 2|2 to rank [01]).*; rank 2 does not answer$' "$WORK/p.err" && pass \
    || fail "partition: the line does not name rank 2: $(grep 'watchdog:' "$WORK/p.err")"
  echo "note: partition: still running once mpirun ended: $(netns_procs)"
else
  code=0
  kill -0 "$job" 2>/dev/null && code=running
  kill -KILL "$job" 2>/dev/null || true
  wait "$job" 2>/dev/null || [[ $code == running ]] || code=$?
  fail "partition: training did not start; stdout: $(head -c 300 "$WORK/p.out"); $(how "$code" "$start" "$WORK/p.err")"
fi
echo "multihost: ${SECONDS} s"
finish
