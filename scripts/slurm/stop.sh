#!/usr/bin/env bash
# Stop the Slurm daemons (and munged, if it started it) that scripts/slurm/start.sh
# started, identified by the pid files it recorded. Safe to call twice.
#   MPIML_SLURM_DIR   same base directory start.sh used (default /tmp/mpiml-slurm)
set -uo pipefail

BASE=${MPIML_SLURM_DIR:-/tmp/mpiml-slurm}
RUN=$BASE/run

log() { echo "stop.sh: $*" >&2; }

# Only signal a pid that still runs the program the pid file is named after: a stale
# pid file must never make us kill an unrelated process that reused the number.
owns() {  # owns PIDFILE NAME
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1")
    kill -0 "$pid" 2>/dev/null || return 1
    grep -qa "$2" "/proc/$pid/cmdline" 2>/dev/null
}

stop_one() {  # stop_one NAME PIDFILE
    local name=$1 pidfile=$2 pid
    if owns "$pidfile" "$name"; then
        pid=$(cat "$pidfile")
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not stop in 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -f "$pidfile"
}

# Jobs first: they run under this private cluster, and a batch script or job step left
# behind by a killed slurmd would keep running (slurmstepd outlives slurmd by design).
if owns "$RUN/slurmctld.pid" slurmctld; then
    export SLURM_CONF=$BASE/slurm.conf
    jobs=$(timeout 20 squeue -h -o %A 2>/dev/null | sort -u)
    if [ -n "$jobs" ]; then
        log "cancelling jobs still in this cluster: $(echo $jobs)"
        # shellcheck disable=SC2086
        timeout 20 scancel $jobs 2>/dev/null
        for _ in $(seq 1 60); do
            [ -z "$(timeout 20 squeue -h -o %A 2>/dev/null)" ] && break
            sleep 1
        done
    fi
fi

# slurmd before slurmctld, so the controller does not mark the node down in between.
stop_one slurmd "$RUN/slurmd.pid"
stop_one slurmctld "$RUN/slurmctld.pid"
stop_one munged "$RUN/munged.pid"
exit 0
