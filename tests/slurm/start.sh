#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for tests/slurm/test_slurm.py: installs slurmctld, slurmd and munge
# from the Debian packages when absent (needs root and apt), writes a slurm.conf with the partitions that
# workflow/profiles/slurm names (cpu and gpu, both this machine, no accounting: the executor plugin then
# queries job states with squeue), starts munged, slurmctld and slurmd, and waits until the node is idle.
# Exit status 0: sinfo shows the node idle; anything else: SLURM could not start (the message says why).
set -euo pipefail
log=${SLURM_TEST_LOG:-/tmp/emoverify_slurm_start.log}
say() { echo "start.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then say "not root: cannot install or start SLURM"; exit 3; fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurmctld slurmd munge slurm-client (apt)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd munge slurm-client) \
    >>"$log" 2>&1 || { say "apt-get install failed (see $log)"; exit 4; }
fi

host=$(hostname -s)
cpus=$(nproc)
memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=emoverify-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
# cgroup plugins are not used (proctrack/linuxproc, task/none)
rm -f /etc/slurm/cgroup.conf  # slurm 22.05 has no "disabled"; autodetect

if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
# whether a process of program $1 runs (a zombie, ended but not yet reaped, does not)
alive() {
  for pid in $(pgrep -x "$1"); do
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] || [ ! -e "/proc/$pid" ] || return 0
  done
  return 1
}
# report a daemon just started, by the pid its pid file gives once it runs in the background (the process that
# was launched forks and exits, so its own pid is not the daemon's)
started() {
  for _ in $(seq 1 100); do
    pid=$(cat "$2" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]; then echo "started $1 $pid"; return 0; fi
    sleep 0.1
  done
  say "$1 started but its pid file $2 names no running $1"
  return 1
}
if ! alive munged; then
  rm -f /run/munge/munged.pid
  su -s /bin/sh munge -c "/usr/sbin/munged" >>"$log" 2>&1 \
    || /usr/sbin/munged --force >>"$log" 2>&1 || { say "munged did not start (see $log)"; exit 5; }
  started munged /run/munge/munged.pid
fi
if ! alive slurmctld; then
  rm -f /run/slurmctld.pid
  /usr/sbin/slurmctld >>"$log" 2>&1 || { say "slurmctld did not start"; exit 6; }
  started slurmctld /run/slurmctld.pid
fi
if ! alive slurmd; then
  rm -f /run/slurmd.pid
  /usr/sbin/slurmd >>"$log" 2>&1 || { say "slurmd did not start"; exit 7; }
  started slurmd /run/slurmd.pid
fi
for _ in $(seq 1 30); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
  case "$state" in idle* | mix* | alloc*) say "node $host is $state"; exit 0 ;; esac
  sleep 1
done
say "the node did not become idle (state: ${state:-none}); see /var/log/slurm/*.log"
exit 8
