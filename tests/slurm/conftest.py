"""Fixtures for the real-Slurm tests: a private single-node Slurm for the session.

These tests run when asked for (``make test-slurm``, ``pytest tests/slurm`` or
``MPIML_TEST_SLURM=1``), not in a plain ``pytest`` of the whole tree: they install packages
and start daemons. If Slurm cannot be started they FAIL when ``CI`` is set and are skipped
otherwise, with the reason either way. ``MPIML_SLURM_KEEP=1`` leaves the daemons running
afterwards (for poking at a failure with squeue/scontrol).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .slurmjobs import REPO, SCRIPTS, run

HERE = Path(__file__).resolve().parent


def _requested(config) -> bool:
    if os.environ.get("MPIML_TEST_SLURM") == "1":
        return True
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def _unavailable(message: str):
    message = "Slurm is not available: " + message
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def slurm(request):
    """Start Slurm via scripts/slurm/start.sh; stop it via stop.sh at the end."""
    if not _requested(request.config):
        pytest.skip("real-Slurm tests run only on request: make test-slurm, "
                    "pytest tests/slurm, or MPIML_TEST_SLURM=1")
    if os.geteuid() != 0:
        _unavailable("scripts/slurm/start.sh needs root (it installs slurm-wlm/munge and "
                     "runs slurmd as root)")
    try:
        p = subprocess.run(["bash", str(SCRIPTS / "start.sh")], capture_output=True, text=True,
                           timeout=1500)
    except subprocess.TimeoutExpired:
        _unavailable("scripts/slurm/start.sh did not finish in 1500 s")
    m = re.search(r"^export SLURM_CONF=(\S+)$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        # Whatever start.sh did start must not outlive the failed attempt.
        subprocess.run(["bash", str(SCRIPTS / "stop.sh")], capture_output=True, timeout=120)
        errors = [line for line in p.stderr.splitlines() if "start.sh: ERROR" in line]
        _unavailable(f"scripts/slurm/start.sh exited {p.returncode}: "
                     f"{errors[-1] if errors else ''}\n--- its stderr:\n{p.stderr[-3000:]}")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = m.group(1)
    try:
        run(["sinfo"], timeout=30)
        yield m.group(1)
    finally:
        if os.environ.get("MPIML_SLURM_KEEP") != "1":
            # Jobs of a failed test must not outlive the session (nor keep the node busy).
            subprocess.run(["scancel", "--user", "root"], capture_output=True, timeout=30)
            subprocess.run(["bash", str(SCRIPTS / "stop.sh")], capture_output=True, timeout=120)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old


@pytest.fixture(scope="session")
def job_env(slurm):
    """Environment for sbatch: our SLURM_CONF and the venv the jobscripts activate."""
    venv = os.environ.get("MPIML_VENV") or os.environ.get("VIRTUAL_ENV") or sys.prefix
    if not (Path(venv) / "bin" / "activate").is_file():
        pytest.fail(f"no virtualenv with bin/activate at {venv}: run the Slurm tests with the "
                    "project's venv python or set MPIML_VENV", pytrace=False)
    env = dict(os.environ, SLURM_CONF=slurm, MPIML_VENV=venv)
    # Nothing from the test runner's own run may leak into the jobs.
    for k in ("MPIML_FAULT", "MPIML_RUN_DIR"):
        env.pop(k, None)
    return env


@pytest.fixture(scope="session")
def points(tmp_path_factory) -> Path:
    """200000 x 8 uniform points (13 MB): K-means with k=32 and tol 0 takes ~570 Lloyd
    iterations before the centres stop moving (~5 s on 4 ranks here), plenty of iteration
    boundaries at which to interrupt a run."""
    path = tmp_path_factory.mktemp("data") / "points.npy"
    np.save(path, np.random.default_rng(7).random((200000, 8)))
    return path


def mpiml_has(algorithm: str) -> bool:
    """Whether this checkout's CLI has ``mpiml train ALGORITHM`` yet."""
    p = subprocess.run([sys.executable, "-m", "mpiml", "train", algorithm, "--help"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    return p.returncode == 0


#: One K-means problem for the job tests: the uninterrupted reference run and the
#: interrupted ones must agree on every array of the final checkpoint.
KMEANS_ARGS = ["--k", "32", "--max-iter", "1000", "--tol", "0", "--seed", "1",
               "--checkpoint-every", "20"]


@pytest.fixture(scope="session")
def kmeans_reference(job_env, points, tmp_path_factory):
    """An uninterrupted jobscripts/kmeans.sbatch run: (job record, work dir, run dir)."""
    from .slurmjobs import JOBSCRIPTS, sbatch, wait
    work = tmp_path_factory.mktemp("kmeans-ref")
    job = sbatch(JOBSCRIPTS / "kmeans.sbatch", [points, *KMEANS_ARGS],
                 options=[f"--chdir={work}"], env=job_env)
    (rec,) = wait(job, timeout=300)
    return rec, work, work / "mpiml-runs" / f"mpiml-kmeans-{job}"
