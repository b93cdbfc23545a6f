#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for test/deploy/slurm.test.ts: munged, slurmctld and
# slurmd with a dozen-line slurm.conf. Needs root and Debian's slurm-wlm and munge
# (tools/ensure-slurm.sh installs them).
#   bash tools/slurm-cluster.sh start   # writes the config if missing, starts what is not running, waits for the node
#   bash tools/slurm-cluster.sh stop    # stops the daemons this script started (by their pid files)
# It never overwrites a slurm.conf it did not write: a machine with a real Slurm config is left alone.
set -euo pipefail
MARK='# written by bulk-embed tools/slurm-cluster.sh'
CONF=/etc/slurm/slurm.conf
STATE=/run/bulk-embed-slurm   # which daemons this script started (their pid files)
node=$(hostname -s)

die() { echo "slurm-cluster: $*" >&2; exit 1; }

start() {
  [ "$(id -u)" = 0 ] || die "needs root (it starts munged, slurmctld and slurmd)"
  for bin in munged slurmctld slurmd sbatch scontrol; do command -v "$bin" >/dev/null || die "$bin is missing: apt-get install -y slurm-wlm munge (bash tools/ensure-slurm.sh)"; done
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then die "$CONF was not written by this project: not touching a real Slurm setup"; fi
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /etc/munge "$STATE"
  chown munge:munge /run/munge /etc/munge
  if [ ! -s /etc/munge/munge.key ]; then
    head -c 1024 /dev/urandom >/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  chown -R slurm:slurm /var/spool/slurmctld /var/log/slurm
  # Written on every start (it is ours): an edit here reaches a machine that ran an older version.
  local before=""
  [ -f "$CONF" ] && before=$(cat "$CONF")
  {
    # CR_Core: cores are the consumable, memory is not tracked, so jobs need no --mem on this
    # small machine; linuxproc/none: no cgroup setup, which containers often lack.
    local mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 9 / 10 ))
    cat <<EOF
$MARK
ClusterName=bulkembed
SlurmctldHost=$node
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
NodeName=$node CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  } >"$CONF.new"
  mv "$CONF.new" "$CONF"
  if [ -n "$before" ] && [ "$before" != "$(cat "$CONF")" ] && alive /run/slurmctld.pid; then scontrol reconfigure; fi
  daemon munged /run/munge/munged.pid su -s /bin/sh munge -c /usr/sbin/munged
  daemon slurmctld /run/slurmctld.pid slurmctld
  daemon slurmd /run/slurmd.pid slurmd
  # The node registers within seconds; a node left down by an earlier run is resumed.
  for _ in $(seq 1 60); do
    state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
    case "$state" in
      idle*|mixed*|allocated*) echo "slurm-cluster: node $node is $state"; return 0 ;;
      down*|drain*) scontrol update NodeName="$node" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
  done
  die "node $node did not come up (state: ${state:-none}); see /var/log/slurm/slurmctld.log and slurmd.log"
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Starts a daemon unless its pid file names a live process; remembers the ones it started, for stop.
daemon() {
  local name=$1 pidfile=$2
  shift 2
  alive "$pidfile" && return 0
  "$@"
  echo "$pidfile" >"$STATE/started-$name"
}

stop() {
  for name in slurmd slurmctld munged; do
    [ -f "$STATE/started-$name" ] || continue
    local pidfile
    pidfile=$(cat "$STATE/started-$name")
    if alive "$pidfile"; then kill "$(cat "$pidfile")"; fi
    rm -f "$STATE/started-$name"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop" ;;
esac
