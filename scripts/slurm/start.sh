#!/usr/bin/env bash
# Start a private single-node Slurm on this machine for mpiml's Slurm tests.
#
#   scripts/slurm/start.sh            # idempotent; prints "export SLURM_CONF=..." on success
#   scripts/slurm/stop.sh             # stops exactly what this script started
#
# Needs root (apt-get, munged, slurmd as root). Environment knobs:
#   MPIML_SLURM_DIR      base directory for conf, state, spool, logs, pid files
#                        (default /tmp/mpiml-slurm)
#   MPIML_SLURM_CPUS     CPUs the node claims to have (default 8, see below)
#   MPIML_SLURM_PORT     slurmctld port; slurmd uses PORT+1 (default 6817)
#   MPIML_SLURM_TIMEOUT  seconds to wait for the node to become idle (default 60)
#
# Everything lives under MPIML_SLURM_DIR; nothing is written to /etc/slurm, so a site
# configuration (if any) is left alone. Clients find this cluster through SLURM_CONF,
# which the caller must export (the script prints the line; also in $BASE/env.sh).
# munged uses the system defaults (socket /run/munge/munge.socket.2, key
# /etc/munge/munge.key) because Slurm's auth/munge looks there; an already running
# munged is reused and then not stopped by stop.sh.
set -euo pipefail

BASE=${MPIML_SLURM_DIR:-/tmp/mpiml-slurm}
CPUS=${MPIML_SLURM_CPUS:-8}
PORT=${MPIML_SLURM_PORT:-6817}
TIMEOUT=${MPIML_SLURM_TIMEOUT:-60}
NODE=localhost
CONF=$BASE/slurm.conf
RUN=$BASE/run

log() { echo "start.sh: $*" >&2; }
die() { echo "start.sh: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, runs munged/slurmd)"

# --- packages ---------------------------------------------------------------------------
need_pkgs=()
command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 \
    && command -v sbatch >/dev/null 2>&1 || need_pkgs+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || need_pkgs+=(munge)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "no apt-get; install ${need_pkgs[*]} by hand"
    log "installing ${need_pkgs[*]} (apt-get)"
    # The package scripts may try to start services; in a container there is no
    # init to do it and we start the daemons ourselves below anyway.
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq || die "apt-get update failed"
    timeout 900 apt-get install -y -qq "${need_pkgs[@]}" >/dev/null \
        || die "apt-get install ${need_pkgs[*]} failed"
fi

mkdir -p "$BASE" "$BASE/state" "$BASE/spool" "$BASE/log" "$RUN"

# --- munge ------------------------------------------------------------------------------
munge_ok() { timeout 10 munge -n 2>/dev/null | timeout 10 unmunge >/dev/null 2>&1; }

if ! munge_ok; then
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating /etc/munge/munge.key"
        mkdir -p /etc/munge
        # 1024 random bits, the size mungekey(8) creates by default.
        dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 status=none
    fi
    # munged refuses keys and directories that others can write; Debian runs it as
    # the "munge" user, so do the same when that user exists.
    muser=root
    getent passwd munge >/dev/null 2>&1 && muser=munge
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown "$muser:" /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
    chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge; chmod 0711 /var/lib/munge; chmod 0700 /var/log/munge
    rm -f /run/munge/munged.pid
    log "starting munged as $muser"
    if [ "$muser" = root ]; then
        munged --force
    else
        runuser -u munge -- munged
    fi
    for _ in $(seq 1 50); do munge_ok && break; sleep 0.2; done
    munge_ok || die "munged started but munge -n | unmunge fails; see /var/log/munge/munged.log"
    cp /run/munge/munged.pid "$RUN/munged.pid"
elif [ -s "$RUN/munged.pid" ] && kill -0 "$(cat "$RUN/munged.pid")" 2>/dev/null; then
    log "munged (started by an earlier start.sh) is running"
else
    # Not ours (e.g. the system's): use it, and leave it to whoever started it.
    rm -f "$RUN/munged.pid"
    log "munged already running; reusing it (stop.sh will not stop it)"
fi

# --- slurm.conf -------------------------------------------------------------------------
# More tasks than cores: the node declares MPIML_SLURM_CPUS (8) CPUs although the machine
# has fewer, and SlurmdParameters=config_overrides makes slurmd accept that. We chose this
# over "--overcommit" in the jobscripts because the jobscripts are what users submit on
# real clusters, where --overcommit would silently pack several ranks per core; the
# over-declared node is a property of this test machine only and lives here, in the test
# cluster's configuration.
real_mem=$(awk '/MemTotal/ {print int($2/1024/2)}' /proc/meminfo)
cat > "$CONF.new" <<EOF
# Written by scripts/slurm/start.sh for mpiml's tests; regenerated on every start.
ClusterName=mpiml
SlurmctldHost=$NODE
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire is also how long a requeued job must wait before it may start again
# (default 120 s); keep it short so the requeue test stays quick.
AuthInfo=cred_expire=10
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool/%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: they are not available (or not writable) in containers; track processes
# through /proc instead and do no CPU binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# No slurmdbd, so no sacct; finished jobs are kept in slurmctld's memory for an hour
# (scontrol show job works for them) and also logged to a text file.
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/log/jobcomp.txt
MinJobAge=3600
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
# After SIGTERM (scancel, hard time limit) mpiml needs one iteration plus a checkpoint
# write; 10 s is plenty for the test problems (Slurm's default is 30 s).
KillWait=10
SlurmdTimeout=60
InactiveLimit=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

conf_changed=1
if [ -f "$CONF" ] && cmp -s "$CONF" "$CONF.new"; then conf_changed=0; fi
mv "$CONF.new" "$CONF"
export SLURM_CONF=$CONF
echo "export SLURM_CONF=$CONF" > "$BASE/env.sh"

if [ $conf_changed -eq 1 ]; then
    # A different configuration needs fresh daemons (ours only, by their pid files).
    for d in slurmd slurmctld; do
        if pid_alive "$RUN/$d.pid"; then
            log "configuration changed; stopping our $d"
            kill "$(cat "$RUN/$d.pid")" 2>/dev/null || true
            for _ in $(seq 1 50); do pid_alive "$RUN/$d.pid" || break; sleep 0.2; done
        fi
    done
fi

# --- daemons ----------------------------------------------------------------------------
if ! pid_alive "$RUN/slurmctld.pid"; then
    rm -f "$RUN/slurmctld.pid"
    log "starting slurmctld (logs in $BASE/log)"
    # -i: ignore unreadable state from an earlier run rather than refusing to start.
    slurmctld -i -f "$CONF" || die "slurmctld failed to start; see $BASE/log/slurmctld.log"
fi
if ! pid_alive "$RUN/slurmd.pid"; then
    rm -f "$RUN/slurmd.pid"
    mkdir -p "$BASE/spool/$NODE"
    log "starting slurmd"
    slurmd -N "$NODE" -f "$CONF" || die "slurmd failed to start; see $BASE/log/slurmd.log"
fi

# --- wait until the node is idle --------------------------------------------------------
deadline=$((SECONDS + TIMEOUT))
state=""
while [ $SECONDS -lt $deadline ]; do
    state=$(timeout 10 sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1 || true)
    case "$state" in
        idle|mixed|allocated) break ;;
        down*|drain*|drained*|fail*)
            # A node left DOWN/DRAIN by an earlier run (e.g. a killed slurmd): put it
            # back into service; it is ours.
            timeout 10 scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 1
done
case "$state" in
    idle|mixed|allocated) ;;
    *) tail -n 20 "$BASE/log/slurmctld.log" "$BASE/log/slurmd.log" >&2 2>/dev/null || true
       die "node $NODE not idle after ${TIMEOUT}s (state: '${state:-no answer}')" ;;
esac
log "Slurm is up: node $NODE $state, $CPUS CPUs declared"
echo "export SLURM_CONF=$CONF"
