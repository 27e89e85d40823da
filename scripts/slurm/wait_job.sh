#!/usr/bin/env bash
# Wait (bounded) for a Slurm job to reach a final state and print it.
#
#   scripts/slurm/wait_job.sh JOBID [TIMEOUT_SECONDS=600]
#
# Prints one line "JOBID STATE EXITCODE RESTARTS" (EXITCODE as Slurm's "code:signal"),
# e.g. "7 COMPLETED 0:0 1". Exit status: 0 if the job COMPLETED with 0:0, 1 if it ended
# any other way, 2 if Slurm does not know the job, 124 on timeout (the job is left alone).
#
# Uses `scontrol show job`, not sacct: without slurmdbd there is no accounting database.
# slurmctld keeps finished jobs for MinJobAge seconds (start.sh sets an hour).
# A requeued job passes through REQUEUED/PENDING back to RUNNING; those are not final.
set -uo pipefail

job=${1:?usage: wait_job.sh JOBID [TIMEOUT_SECONDS]}
limit=${2:-600}
deadline=$((SECONDS + limit))

field() { grep -o "\b$1=[^ ]*" <<<"$info" | head -n1 | cut -d= -f2-; }

while :; do
    if ! info=$(timeout 20 scontrol -o show job "$job" 2>&1); then
        echo "$job UNKNOWN - - ($info)"
        exit 2
    fi
    state=$(field JobState)
    case "$state" in
        COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|PREEMPTED|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE)
            echo "$job $state $(field ExitCode) $(field Restarts)"
            [ "$state" = COMPLETED ] && [ "$(field ExitCode)" = 0:0 ] && exit 0
            exit 1 ;;
    esac
    if [ $SECONDS -ge $deadline ]; then
        echo "$job $state(timeout after ${limit}s) $(field ExitCode) $(field Restarts)"
        exit 124
    fi
    sleep 1
done
