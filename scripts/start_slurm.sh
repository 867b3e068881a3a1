#!/usr/bin/env bash
# A single-node Slurm for the cluster grading test (tests/test_grading_slurm.py) and CI, as root:
#   scripts/start_slurm.sh          install slurm-wlm and munge if absent (apt-get), start munged,
#                                   slurmctld and slurmd unless they run, wait for the node
#   scripts/start_slurm.sh stop     end the daemons this script started (by their process ids)
# It writes /etc/slurm/slurm.conf only when there is none, so a real cluster's is never touched.
set -euo pipefail
STATE=/run/tlcourse-slurm.pids

if [ "${1:-start}" = stop ]; then
    [ -f "$STATE" ] || exit 0
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$STATE"
    while read -r pid; do  # gone, or a zombie no init reaps
        for _ in $(seq 100); do
            state=$(ps -o stat= -p "$pid") && [[ $state != Z* ]] || break
            sleep 0.1
        done
    done <"$STATE"
    rm -f "$STATE"
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "start_slurm.sh: run it as root" >&2; exit 1; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
host=$(hostname -s)
if [ ! -f /etc/slurm/slurm.conf ]; then
    # The node line as slurmd measures it (CPUs, sockets, memory), less its UpTime.
    node=$(slurmd -C | head -n 1)
    cat >/etc/slurm/slurm.conf <<EOF
# Written by tlcourse scripts/start_slurm.sh: one node, no cgroups, no accounting.
ClusterName=local
# Addresses given: the host name need not resolve (a container's often does not).
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
AccountingStorageType=accounting_storage/none
# Tasks run at the nice value of the sbatch that submitted them (a shared machine stays usable).
PropagatePrioProcess=1
# A job whose dependency can no longer be met (a failed shard) is cancelled, not left pending.
SchedulerParameters=kill_invalid_depend
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
fi
mkdir -p /var/spool/slurmctld /var/spool/slurmd /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge

started=()
start() {  # start NAME PIDFILE COMMAND...: unless NAME runs; its process id is kept for "stop"
    # Running, not a zombie left to a container's init that does not reap.
    pgrep -r R,S,D -x "$1" >/dev/null && return 0
    rm -f "$2"
    "${@:3}"
    for _ in $(seq 100); do
        [ -s "$2" ] && { started+=("$(cat "$2")"); return 0; }
        sleep 0.1
    done
    echo "start_slurm.sh: $1 did not start (no $2)" >&2
    exit 1
}
start munged /run/munge/munged.pid runuser -u munge -- /usr/sbin/munged
# -i: ignore the state an earlier run left in StateSaveLocation.
start slurmctld /run/slurmctld.pid slurmctld -i
start slurmd /run/slurmd.pid slurmd
[ ${#started[@]} -eq 0 ] || printf '%s\n' "${started[@]}" >>"$STATE"

while [ "$SECONDS" -lt 60 ]; do
    if timeout 5 sinfo -h -o %t 2>/dev/null | grep -qx idle; then
        exit 0
    fi
    sleep 0.5
done
echo "start_slurm.sh: the node is not idle after 60 s:" >&2
sinfo >&2 || true
exit 1
