"""Checkpoint before the time limit, requeue, resume: under a real Slurm.

The interrupted runs are slowed down with ``--straggler 0:20`` (rank 0 sleeps 19x its compute
time in every iteration; the arithmetic is untouched), so that a signal reliably lands in
the middle of training, and must still end with the same model as the uninterrupted
reference run. Keep the factor small: the first iteration after a resume includes loading
the numba kernels (~0.4 s here), and the straggler multiplies that too.
"""

from __future__ import annotations

import json
import time

import pytest

from .checks import assert_same_model, inspect, text
from .conftest import KMEANS_ARGS
from .slurmjobs import FINAL, JOBSCRIPTS, diagnose, record, run, sbatch, wait, wait_progress

SLOW = "0:20"
# Long enough that the time-limit warning, which may take a minute, lands mid-training.
SLOWER = "0:40"


def _kmeans_job(job_env, points, work, options=(), extra=()):
    job = sbatch(JOBSCRIPTS / "kmeans.sbatch", [points, *KMEANS_ARGS, *extra],
                 options=[f"--chdir={work}", *options], env=job_env)
    return job, work / "mpiml-runs" / f"mpiml-kmeans-{job}"


@pytest.mark.timeout(600)
def test_requeue_after_usr1_resumes_to_the_same_model(job_env, points, tmp_path,
                                                      kmeans_reference):
    """SIGUSR1 to the batch shell (what --signal=B:USR1@T does): the trap forwards it, the
    ranks checkpoint and exit 75, the script requeues the job, the requeued run resumes."""
    job, run_dir = _kmeans_job(job_env, points, tmp_path, extra=["--straggler", SLOW])
    reached = wait_progress(job, run_dir / "progress.jsonl", min_iter=30, timeout=240)
    run(["scancel", "--signal=USR1", "--batch", job])
    (rec,) = wait(job, timeout=400)
    out, err = text(rec["StdOut"]), text(rec["StdErr"])
    assert (rec["JobState"], rec["ExitCode"]) == ("COMPLETED", "0:0"), out + err
    assert rec["Restarts"] == "1", out + err
    assert "SIGUSR1 received" in err and "requeueing job" in err, err
    assert "(restart 1)" in out, out
    ref = inspect(kmeans_reference[2] / "checkpoints")
    assert reached < ref["iteration"], "the signal came after training had ended"
    assert_same_model(run_dir / "checkpoints", kmeans_reference[2] / "checkpoints")


@pytest.mark.timeout(900)
def test_time_limit_signal_requeues_and_resumes(job_env, points, tmp_path, kmeans_reference):
    """The real path: Slurm itself sends the --signal=B:USR1@60 warning as the time limit
    approaches. Slurm's timing is loose (it checks limits periodically; with @30 on a
    1-minute job the warning came 8-19 s after the start here), so rather than hope it
    lands mid-training we submit with a long limit and, once training is under way, cut the
    limit to 1-2 minutes from now with `scontrol update`. After the requeue the limit is
    restored, so the resumed run finishes; exactly one requeue is expected."""
    job, run_dir = _kmeans_job(job_env, points, tmp_path,
                               options=["--time=10", "--signal=B:USR1@60"],
                               extra=["--straggler", SLOWER])
    wait_progress(job, run_dir / "progress.jsonl", min_iter=30, timeout=240)
    elapsed = _seconds(record(job)["RunTime"])
    run(["scontrol", "update", f"JobId={job}", f"TimeLimit={elapsed // 60 + 2}"])
    deadline = time.monotonic() + 240
    while record(job)["Restarts"] == "0":
        assert record(job)["JobState"] not in FINAL, diagnose(job)
        assert time.monotonic() < deadline, "no time-limit signal within 240 s\n" + diagnose(job)
        time.sleep(1)
    run(["scontrol", "update", f"JobId={job}", "TimeLimit=10"])
    (rec,) = wait(job, timeout=600)
    out, err = text(rec["StdOut"]), text(rec["StdErr"])
    assert (rec["JobState"], rec["ExitCode"], rec["Restarts"]) == ("COMPLETED", "0:0", "1"), \
        out + err
    assert err.count("SIGUSR1 received") == 1 and "requeueing job" in err, err
    assert "TIME LIMIT" not in err, err
    assert_same_model(run_dir / "checkpoints", kmeans_reference[2] / "checkpoints")


def _seconds(runtime: str) -> int:
    """Slurm's [D-]HH:MM:SS as seconds."""
    days, _, hms = runtime.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return ((int(days or 0) * 24 + h) * 60 + m) * 60 + s


@pytest.mark.timeout(600)
def test_scancel_checkpoints_without_requeue_then_resume_by_hand(job_env, points, tmp_path,
                                                                 kmeans_reference):
    """scancel (SIGTERM) writes a checkpoint but must not requeue a job the user cancelled;
    a new job pointed at the old run directory (MPIML_RUN_DIR) resumes it."""
    job, run_dir = _kmeans_job(job_env, points, tmp_path, extra=["--straggler", SLOW])
    wait_progress(job, run_dir / "progress.jsonl", min_iter=30, timeout=240)
    run(["scancel", job])
    (rec,) = wait(job, timeout=120)
    assert (rec["JobState"], rec["Restarts"]) == ("CANCELLED", "0"), text(rec["StdErr"])
    assert "requeueing" not in text(rec["StdErr"])
    ref_iter = inspect(kmeans_reference[2] / "checkpoints")["iteration"]
    partial = inspect(run_dir / "checkpoints")
    assert 30 <= partial["iteration"] < ref_iter

    # Resume in a new job, on a different number of ranks (the checkpoint re-partitions).
    env = dict(job_env, MPIML_RUN_DIR=str(run_dir))
    job2 = sbatch(JOBSCRIPTS / "kmeans.sbatch", [points, *KMEANS_ARGS],
                  options=[f"--chdir={tmp_path}", "--ntasks=3"], env=env)
    (rec2,) = wait(job2, timeout=300)
    out2 = text(rec2["StdOut"])
    assert (rec2["JobState"], rec2["ExitCode"]) == ("COMPLETED", "0:0"), out2
    starts = [r for r in map(json.loads, (run_dir / "progress.jsonl").read_text().splitlines())
              if r.get("event") == "start"]
    assert (starts[-1].get("start_iteration"), starts[-1]["size"]) == (partial["iteration"], 3)
    assert inspect(run_dir / "checkpoints")["n_ranks"] == 3
    # Sums over 3 instead of 4 partial results round differently (~1e-15 here).
    assert_same_model(run_dir / "checkpoints", kmeans_reference[2] / "checkpoints", atol=1e-9)
    assert record(job)["JobState"] == "CANCELLED"
