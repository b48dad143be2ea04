# Hosts made of Linux network namespaces, to run the ring across "hosts" on one machine over
# TCP (tests/mpi/test_multihost.sh, scripts/partition.sh). Needs root and iproute2. Source it
# (bash), then:
#   netns_probe PREFIX      makes the switch namespace PREFIX-sw; returns 1 with the reason in
#                           NETNS_ERROR where namespaces cannot be made (then nothing exists)
#   netns_up N DIR          N hosts: namespaces PREFIX-h1..PREFIX-hN, each with lo and eth0
#                           (10.77.0.I/24) on a veth to a bridge in PREFIX-sw; nothing in the
#                           root namespace changes. Writes DIR/hosts (hostfile, one slot each)
#                           and DIR/agent.sh, the remote shell: it enters the host's namespace
#                           and, like ssh, gives the command a fresh environment. Each host has
#                           a /tmp of its own, DIR/tmp-hI (TMPDIR, where Open MPI keeps its
#                           session directory: hosts sharing one, all named after the machine,
#                           race on it). Call it where a failure stops the script (set -e, not
#                           in a condition).
#   netns_launch_on N       exports RINGTRAIN_MPIRUN_ARGS (read by scripts/mpirun.sh) for one rank
#                           on each of the first N hosts, TCP on the test network only; every
#                           variable the ranks need and that is set travels with -x
#   NETNS_MPIRUN            array: runs scripts/mpirun.sh inside host 1 (SRC must be set), within
#                           NETNS_LIMIT s (default 120; then SIGTERM, SIGKILL 5 s later)
#   netns_procs             "hI:name/pid ..." for every process still running in a host
#   netns_cut I / netns_mend I   host I's link down / up (a partition)
#   netns_down              kills whatever runs in the namespaces and deletes them
NETNS_NET=10.77.0.0/24
NETNS_PREFIX=
NETNS_HOSTS=0
NETNS_DIR=
NETNS_ERROR=
NETNS_MPIRUN=()
NETNS_LIMIT=${NETNS_LIMIT:-120}

netns_probe() {
  if ! NETNS_ERROR=$(ip netns add "$1-sw" 2>&1); then
    NETNS_ERROR="cannot create a network namespace: ${NETNS_ERROR%%$'\n'*}"
    return 1
  fi
  NETNS_PREFIX=$1
}

netns_up() {
  NETNS_HOSTS=$1 NETNS_DIR=$2
  local P=$NETNS_PREFIX i
  ip -n "$P-sw" link add br0 type bridge
  ip -n "$P-sw" link set br0 up
  : >"$NETNS_DIR/hosts"
  for i in $(seq "$NETNS_HOSTS"); do
    ip netns add "$P-h$i"
    ip -n "$P-sw" link add "p$i" type veth peer name eth0 netns "$P-h$i"
    ip -n "$P-sw" link set "p$i" master br0 up
    ip -n "$P-h$i" addr add "10.77.0.$i/24" dev eth0
    ip -n "$P-h$i" link set eth0 up
    ip -n "$P-h$i" link set lo up
    echo "10.77.0.$i slots=1" >>"$NETNS_DIR/hosts"
    mkdir -p "$NETNS_DIR/tmp-h$i"
  done
  cat >"$NETNS_DIR/agent.sh" <<EOF
#!/bin/bash
# The remote shell of the namespace hosts: \$1 is a host's address, the rest the command (orted ...).
host=\$1
shift
case "\$host" in
  10.77.0.[1-$NETNS_HOSTS]) ;;
  *) echo "agent: unknown host '\$host'" >&2; exit 255 ;;
esac
exec ip netns exec "$P-h\${host##*.}" env -i PATH="\$PATH" HOME="\${HOME:-/}" TMPDIR="$NETNS_DIR/tmp-h\${host##*.}" /bin/sh -c "\$*"
EOF
  chmod +x "$NETNS_DIR/agent.sh"
  NETNS_MPIRUN=(timeout -k 5 "$NETNS_LIMIT" ip netns exec "$P-h1" env TMPDIR="$NETNS_DIR/tmp-h1" "$SRC/scripts/mpirun.sh")
}

netns_launch_on() {
  local v fwd=""
  head -n "$1" "$NETNS_DIR/hosts" >"$NETNS_DIR/hosts.$1"
  # OpenBLAS's settings (OPENBLAS_CORETYPE above all: another core computes other bits) travel
  # with the job, as a cluster's mpirun -x would send them.
  for v in OMP_NUM_THREADS RINGTRAIN_FAULT LSAN_OPTIONS ASAN_OPTIONS UBSAN_OPTIONS \
           $(compgen -e | grep '^OPENBLAS_'); do
    [[ -n "${!v:-}" ]] && fwd+=" -x $v"
  done
  RINGTRAIN_MPIRUN_ARGS="--hostfile $NETNS_DIR/hosts.$1 --mca plm_rsh_agent $NETNS_DIR/agent.sh"
  RINGTRAIN_MPIRUN_ARGS+=" --mca plm_rsh_no_tree_spawn 1 --mca btl tcp,self --mca btl_tcp_if_include $NETNS_NET"
  export RINGTRAIN_MPIRUN_ARGS+=" --mca oob_tcp_if_include $NETNS_NET$fwd"
}

netns_procs() {
  local i p
  for i in $(seq "$NETNS_HOSTS"); do
    for p in $(ip netns pids "$NETNS_PREFIX-h$i" 2>/dev/null); do
      echo -n "h$i:$(cat "/proc/$p/comm" 2>/dev/null)/$p "
    done
  done
}

netns_cut() { ip -n "$NETNS_PREFIX-sw" link set "p$1" down; }
netns_mend() { ip -n "$NETNS_PREFIX-sw" link set "p$1" up; }

netns_down() {
  local ns p
  [[ -n "$NETNS_PREFIX" ]] || return 0
  for ns in $(ip netns list | awk -v p="$NETNS_PREFIX-" 'index($1, p) == 1 { print $1 }'); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}
