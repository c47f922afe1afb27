#!/usr/bin/env bash
# A real Slurm 22.05 cluster of JOBMAN_SLURM_NODES compute nodes (default 3: n1 n2 n3) on
# this one Debian host, for the Slurm end-to-end tests (tests/integration with
# JOBMAN_TEST_BACKEND=slurm): munged, one slurmctld and one `slurmd -N nK` per node, each
# on its own port at 127.0.0.1. The nodes share this host's podman and file systems,
# which stands in for a shared state directory (NFS) and images present on every node.
# No systemd; the cluster's own files live in JOBMAN_SLURM_DIR (default
# /var/tmp/jobman-slurm), its config reached through SLURM_CONF, so a real /etc/slurm is
# never touched.
#
#   tests/slurm/cluster.sh start    install what is missing, (re)write the config, start
#                                   what is not running, wait until every node is idle
#   tests/slurm/cluster.sh stop     stop what start started (by pid file)
#   tests/slurm/cluster.sh env      print the SLURM_CONF line to eval
#
# As root. Facts it relies on (measured here): ../shared/slurm/README.md in the team's docs.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${JOBMAN_SLURM_DIR:-/var/tmp/jobman-slurm}
nodes=${JOBMAN_SLURM_NODES:-3}
node_mem=${JOBMAN_SLURM_NODE_MEM_MB:-3000}
export SLURM_CONF=$dir/slurm.conf

alive() { # alive PIDFILE NAME: the pid, if that process runs (not a zombie) and is NAME
  local p
  [ -s "$1" ] || return 1
  p=$(cat "$1" 2>/dev/null) || return 1
  [ -r "/proc/$p/stat" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] &&
    grep -q "^$2" "/proc/$p/comm" 2>/dev/null && echo "$p"
}
stop_one() { # stop_one PIDFILE NAME
  local p
  if p=$(alive "$1" "$2"); then
    kill "$p"
    for _ in $(seq 100); do alive "$1" "$2" >/dev/null || break; sleep 0.1; done
    alive "$1" "$2" >/dev/null && kill -9 "$p" 2>/dev/null
  fi
  rm -f "$1"
}

case ${1:-} in
env)
  echo "export SLURM_CONF=$SLURM_CONF"
  exit 0
  ;;
stop)
  for f in "$dir"/run/slurmd-*.pid; do [ -e "$f" ] && stop_one "$f" slurmd; done
  stop_one "$dir/run/slurmctld.pid" slurmctld
  # munged only if this script started it (else it is the host's own)
  if [ -e "$dir/run/munged.ours" ]; then
    stop_one /run/munge/munged.pid munged
    rm -f "$dir/run/munged.ours"
  fi
  exit 0
  ;;
start) ;;
*)
  echo "usage: $0 start|stop|env" >&2
  exit 2
  ;;
esac

[ "$(id -u)" = 0 ] || { echo "cluster.sh: run as root" >&2; exit 1; }
. scripts/packages.sh
install_missing cluster.sh slurmctld slurmd slurm-client munge

# munge: the key the package made (or one made now), and munged running
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key
chmod 0600 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -m 0755 "$dir" "$dir/run"
if ! alive /run/munge/munged.pid munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged
  touch "$dir/run/munged.ours"
  for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi

install -d -m 0755 "$dir" "$dir/run" "$dir/log"
install -d -o slurm -g slurm -m 0755 "$dir/ctld"
chown slurm:slurm "$dir/log"
names=()
node_lines=""
for i in $(seq "$nodes"); do
  names+=("n$i")
  install -d -m 0755 "$dir/spool-n$i"
  node_lines+="NodeName=n$i NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 Port=$((6917 + i)) CPUs=1 RealMemory=$node_mem State=UNKNOWN"$'\n'
done
# Slurm must resolve the controller's name: loopback when the host's own name does not.
host=$(hostname -s)
ctld_host=$host
getent hosts "$host" >/dev/null || ctld_host="$host(127.0.0.1)"
proctrack="ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux"
if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] && [ -d /sys/fs/cgroup/freezer ] && mkdir /sys/fs/cgroup/freezer/.jobman_probe 2>/dev/null; then
  rmdir /sys/fs/cgroup/freezer/.jobman_probe
  proctrack="ProctrackType=proctrack/cgroup
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux"
fi

# The Epilog the package ships, as an admin installs it (doc/slurm.md).
install -m 0755 packaging/slurm/epilog.sh "$dir/epilog.sh"

cat >"$dir/slurm.conf.new" <<EOF
# written by jobman's tests/slurm/cluster.sh
ClusterName=jobmantest
SlurmctldHost=$ctld_host
SlurmctldPort=6917
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool-%n
ReturnToService=2
MpiDefault=none
$proctrack
SchedulerType=sched/backfill
# the default batch_sched_delay (3 s) makes back-to-back jobs wait
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it a job with no --mem takes a whole node
DefMemPerCPU=512
# no slurmdbd: sacct -c reads this (backend.slurm.sacct_args ["-c"])
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.log
Epilog=$dir/epilog.sh
# quick to notice a node that went away, quick to kill what ignores TERM
SlurmdTimeout=10
KillWait=5
MessageTimeout=5
SlurmctldDebug=info
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdDebug=info
SlurmdLogFile=$dir/log/slurmd-%n.log
${node_lines}PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$dir/cgroup.conf" <<'EOF'
CgroupPlugin=autodetect
CgroupAutomount=no
EOF
changed=0
if ! cmp -s "$dir/slurm.conf.new" "$dir/slurm.conf"; then
  mv "$dir/slurm.conf.new" "$dir/slurm.conf"
  changed=1
else
  rm -f "$dir/slurm.conf.new"
fi
chmod 0644 "$dir/slurm.conf" "$dir/cgroup.conf"
if [ "$changed" = 1 ]; then
  for f in "$dir"/run/slurmd-*.pid; do [ -e "$f" ] && stop_one "$f" slurmd; done
  stop_one "$dir/run/slurmctld.pid" slurmctld
fi
if ! alive "$dir/run/slurmctld.pid" slurmctld >/dev/null; then
  slurmctld -f "$SLURM_CONF"
  for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.1; done
fi
for n in "${names[@]}"; do
  alive "$dir/run/slurmd-$n.pid" slurmd >/dev/null || slurmd -f "$SLURM_CONF" -N "$n"
done
ready() {
  local n s
  for n in "${names[@]}"; do
    s=$(sinfo -h -n "$n" -o %T 2>/dev/null | head -1)
    case $s in idle | mixed | allocated | completing) ;; *) return 1 ;; esac
  done
}
for _ in $(seq 150); do ready && break; sleep 0.2; done
if ! ready; then
  for n in "${names[@]}"; do scontrol update NodeName="$n" State=RESUME 2>/dev/null || true; done
  for _ in $(seq 50); do ready && break; sleep 0.2; done
fi
sinfo -N
ready || { echo "cluster.sh: nodes not ready (logs in $dir/log)" >&2; exit 1; }
echo "cluster.sh: ${names[*]} ready; export SLURM_CONF=$SLURM_CONF"
