"""Small helpers for driving a real Slurm from tests: submit, inspect, wait (always bounded).

No accounting database (slurmdbd) is running, so there is no ``sacct``; job records come from
``scontrol -o show job``, which slurmctld keeps for MinJobAge seconds after a job ends
(scripts/slurm/start.sh sets an hour).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "slurm"
JOBSCRIPTS = REPO / "jobscripts"

#: Job states after which nothing more happens to a job (a requeued job passes through
#: REQUEUED, PENDING and RUNNING again, so those are not final).
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
         "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}

_FIELD = re.compile(r"(?:^|\s)([A-Za-z][\w:/]*)=(\S*)")


def run(cmd, timeout=60, check=True, **kw) -> subprocess.CompletedProcess:
    """subprocess.run with a timeout, text output and a readable failure."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}\n"
                             f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def sbatch(script, args=(), options=(), cwd=None, env=None) -> str:
    """Submit ``script`` with sbatch ``options`` and script ``args``; return the job id."""
    p = run(["sbatch", "--parsable", *options, script, *args], cwd=cwd, env=env, timeout=60)
    return p.stdout.strip().split(";")[0]


def records(job_id) -> list[dict]:
    """All records Slurm has for ``job_id`` (several for a job array), as dicts of strings."""
    p = run(["scontrol", "-o", "show", "job", job_id], timeout=30, check=False)
    if p.returncode != 0:
        raise AssertionError(f"scontrol does not know job {job_id}: {p.stderr.strip()}")
    return [dict(_FIELD.findall(line)) for line in p.stdout.splitlines() if line.strip()]


def record(job_id) -> dict:
    (r,) = records(job_id)
    return r


def state(job_id) -> str:
    return record(job_id)["JobState"]


def diagnose(job_id, cwd=None) -> str:
    """Everything useful when a job misbehaves: its record(s), output files, daemon logs."""
    out = [f"--- scontrol show job {job_id}"]
    try:
        for r in records(job_id):
            out.append(" ".join(f"{k}={r.get(k)}" for k in
                                ("JobId", "ArrayTaskId", "JobState", "Reason", "ExitCode",
                                 "Restarts", "RunTime", "StdOut")))
            for key in ("StdOut", "StdErr"):
                path = Path(r.get(key, ""))
                if path.is_file():
                    out.append(f"--- {path} (last 40 lines)")
                    out.extend(path.read_text(errors="replace").splitlines()[-40:])
    except AssertionError as exc:
        out.append(str(exc))
    base = Path(os.environ.get("SLURM_CONF", "/tmp/mpiml-slurm/slurm.conf")).parent / "log"
    for name in ("slurmctld.log", "slurmd.log"):
        path = base / name
        if path.is_file():
            out.append(f"--- {path} (last 15 lines)")
            out.extend(path.read_text(errors="replace").splitlines()[-15:])
    return "\n".join(out)


def wait(job_id, timeout, n_tasks=1, nudge_after=30.0) -> list[dict]:
    """Wait until every record of ``job_id`` is final; return the records.

    ``n_tasks``: how many records to expect (array tasks). A requeued job is held back
    until its begin time (start.sh's ``cred_expire`` makes that ~10 s); if one pends for
    that reason longer than ``nudge_after`` seconds we move its start time to now rather
    than burn the test's time. On timeout the job is cancelled and the test fails with a
    diagnosis.
    """
    deadline = time.monotonic() + timeout
    begin_wait: dict[str, float] = {}
    while True:
        recs = records(job_id)
        # A job array's unstarted tasks share one record ("ArrayTaskId=1-3"): not done.
        expanded = all(re.fullmatch(r"\d*", r.get("ArrayTaskId", "")) for r in recs)
        if expanded and len(recs) >= n_tasks and all(r["JobState"] in FINAL for r in recs):
            return recs
        now = time.monotonic()
        for r in recs:
            if r["JobState"] == "PENDING" and r.get("Reason") == "BeginTime":
                first = begin_wait.setdefault(r["JobId"], now)
                if now - first > nudge_after:
                    run(["scontrol", "update", f"JobId={r['JobId']}", "StartTime=now"], check=False)
                    begin_wait.pop(r["JobId"])
        if now > deadline:
            info = diagnose(job_id)
            run(["scancel", job_id], check=False)
            raise AssertionError(f"job {job_id} not finished after {timeout} s\n{info}")
        time.sleep(1.0)


def progress(path) -> list[dict]:
    """Iteration records of an mpiml --log JSON-lines file (missing file: none yet)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    recs = []
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:  # a line being written right now
            continue
        if "iter" in r:
            recs.append(r)
    return recs


def wait_progress(job_id, log_path, min_iter, timeout) -> int:
    """Wait until the job's progress log reached ``min_iter``; return the iteration seen."""
    deadline = time.monotonic() + timeout
    while True:
        recs = progress(log_path)
        it = max((r["iter"] for r in recs), default=0)
        if it >= min_iter:
            return it
        st = state(job_id)
        if st in FINAL:
            raise AssertionError(f"job {job_id} ended ({st}) before reaching iteration "
                                 f"{min_iter}\n{diagnose(job_id)}")
        if time.monotonic() > deadline:
            info = diagnose(job_id)
            run(["scancel", job_id], check=False)
            raise AssertionError(f"job {job_id} did not reach iteration {min_iter} in "
                                 f"{timeout} s (at {it})\n{info}")
        time.sleep(0.2)
