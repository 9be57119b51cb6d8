#!/usr/bin/env bash
# A one-node Slurm cluster on localhost, for the batch tests and benchmarks (docs/batch.md).
#
#   scripts/slurm-local.sh start    # install slurm + munge if missing, configure, start, wait idle
#   scripts/slurm-local.sh status   # exit 0 when the node answers and is usable, 1 otherwise
#   scripts/slurm-local.sh stop     # cancel every job, stop slurmd, slurmctld and munged
#
# Needs root (Debian/Ubuntu: apt-get, daemons). Written for Debian 12 (slurm 22.05) in a
# container or VM without systemd: the daemons are started directly, munged's runtime
# directory is created by hand, and cgroup.conf pins CgroupPlugin=cgroup/v1 (slurmd 22.05
# always initialises a cgroup plugin; the autodetected cgroup/v2 needs systemd over dbus).
#
# start is idempotent: daemons that answer are kept, stale pid files and unresponsive
# daemons are replaced, a down/drained node is resumed. It writes /etc/slurm/slurm.conf only
# when there is none or when the one there was written by this script (marker line), so a
# real site configuration is never overwritten.
#
# Environment: SLURM_LOCAL_PARTITION (default "debug"), SLURM_LOCAL_TIMEOUT (seconds to wait
# for each daemon and for the idle node, default 60).
set -euo pipefail

PARTITION=${SLURM_LOCAL_PARTITION:-debug}
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARKER="# written by calocoffea scripts/slurm-local.sh"
STATE=/var/lib/slurm
LOGS=/var/log/slurm
LOCK=/run/lock/calocoffea-slurm-local.lock
HOST=$(hostname -s)

say() { echo "slurm-local: $*" >&2; }
die() { say "error: $*"; exit 1; }

pid_alive() {  # pid_alive FILE: the pid in FILE is a live process (not a zombie)
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

stop_pidfile() {  # stop_pidfile FILE NAME: TERM, then KILL after 10 s
  local file=$1 name=$2 pid i
  if ! pid_alive "$file"; then rm -f "$file"; return 0; fi
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  for i in $(seq 100); do pid_alive "$file" || break; sleep 0.1; done
  if pid_alive "$file"; then say "$name ($pid) ignores TERM, killing"; kill -9 "$pid" || true; fi
  rm -f "$file"
}

wait_for() {  # wait_for WHAT COMMAND...: retry COMMAND for TIMEOUT s
  local what=$1 i; shift
  for i in $(seq $((TIMEOUT * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
ctld_ok() { scontrol ping 2>/dev/null | grep -q "is UP"; }
node_state() { sinfo -h -N -n "$HOST" -o %t 2>/dev/null | head -1; }
node_ok() { node_state | grep -Eq '^(idle|mix|alloc|comp)'; }

install_packages() {
  local missing=()
  command -v munged >/dev/null || missing+=(munge)
  command -v slurmctld >/dev/null || missing+=(slurmctld)
  command -v slurmd >/dev/null || missing+=(slurmd)
  command -v sbatch >/dev/null || missing+=(slurm-client)
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # services are started below, never by the package scripts
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -q >/dev/null 2>&1 || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  }
}

write_config() {
  local ncpu mem_mb
  if [ -e "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
    say "keeping the existing $CONF (not written by this script)"
    return 0
  fi
  ncpu=$(nproc)
  # all memory but 1 GiB for the system; dask jobs ask for --mem within it
  mem_mb=$(( $(awk '/^MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  install -d -m 0755 "$CONF_DIR"
  cat > "$CONF.tmp" <<EOF
$MARKER
# one-node cluster on localhost for calocoffea's batch tests (docs/batch.md)
ClusterName=calocoffea
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=5
MinJobAge=60
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${ncpu} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=${PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
  printf '%s\nCgroupPlugin=cgroup/v1\n' "$MARKER" > "$CONF_DIR/cgroup.conf"
}

start_munge() {
  if munge_ok; then return 0; fi
  stop_pidfile /run/munge/munged.pid munged
  if [ ! -s /etc/munge/munge.key ]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    runuser -u munge -- mungekey --create --keyfile /etc/munge/munge.key --force
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  runuser -u munge -- /usr/sbin/munged --force 9>&-
  wait_for munged munge_ok || die "munged does not answer (see /var/log/munge/munged.log)"
}

start_slurmctld() {
  if ctld_ok; then return 0; fi
  stop_pidfile /run/slurmctld.pid slurmctld
  install -d -o slurm -g slurm "$STATE/slurmctld" "$LOGS"
  # -c: start clean (no jobs or node states left over from an earlier cluster)
  /usr/sbin/slurmctld -c 9>&-
  wait_for slurmctld ctld_ok || die "slurmctld does not answer (see $LOGS/slurmctld.log)"
}

start_slurmd() {
  if pid_alive /run/slurmd.pid && node_ok; then return 0; fi
  stop_pidfile /run/slurmd.pid slurmd
  install -d "$STATE/slurmd"
  /usr/sbin/slurmd 9>&-
  wait_for slurmd pid_alive /run/slurmd.pid || die "slurmd did not start (see $LOGS/slurmd.log)"
}

wait_idle() {
  local i state
  for i in $(seq $((TIMEOUT * 2))); do
    state=$(node_state)
    case "$state" in
      idle*|mix*|alloc*|comp*) return 0 ;;
      down*|drain*|drng*|fail*)
        scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  die "node $HOST not idle after ${TIMEOUT}s (state '${state}'; see $LOGS/slurmd.log, scontrol show node)"
}

cmd_status() {
  command -v sinfo >/dev/null || { say "slurm is not installed"; return 1; }
  munge_ok || { say "munged is not running"; return 1; }
  ctld_ok || { say "slurmctld is not running"; return 1; }
  node_ok || { say "node $HOST is not usable (state '$(node_state)')"; return 1; }
  sinfo -h -o "slurm-local: partition %P %a, %D node(s) %t, %c cpus, %m MB" >&2
  return 0
}

cmd_start() {
  [ "$(id -u)" -eq 0 ] || die "start needs root (installs packages, starts daemons)"
  install -d /run/lock
  exec 9>"$LOCK"  # the daemons are started with 9>&-: they must not inherit the lock
  flock -w $((TIMEOUT * 3)) 9 || die "another start/stop holds $LOCK"
  install_packages
  write_config
  start_munge
  start_slurmctld
  start_slurmd
  wait_idle
  cmd_status
}

cmd_stop() {
  [ "$(id -u)" -eq 0 ] || die "stop needs root"
  install -d /run/lock
  exec 9>"$LOCK"
  flock -w $((TIMEOUT * 3)) 9 || die "another start/stop holds $LOCK"
  if command -v squeue >/dev/null && ctld_ok; then
    local jobs i
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      for i in $(seq 40); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.5; done
    fi
  fi
  stop_pidfile /run/slurmd.pid slurmd
  stop_pidfile /run/slurmctld.pid slurmctld
  stop_pidfile /run/munge/munged.pid munged
  say "stopped"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
