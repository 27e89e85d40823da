"""Each jobscript submitted with sbatch to a real (single-node) Slurm on small data."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from .checks import inspect, text
from .conftest import KMEANS_ARGS, mpiml_has
from .slurmjobs import JOBSCRIPTS, SCRIPTS, sbatch, wait

ALGORITHM_SCRIPTS = ["kmeans", "ibm1", "mf", "linear"]


# ---------------------------------------------------------------- static (no Slurm needed)
@pytest.mark.parametrize("path", sorted(JOBSCRIPTS.glob("*.sbatch")) + sorted(SCRIPTS.glob("*.sh")),
                         ids=lambda p: p.name)
def test_scripts_are_valid_bash(path):
    p = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("name", ALGORITHM_SCRIPTS + ["template", "sweep"])
def test_jobscript_contract(name):
    """What every jobscript must do for checkpoint-before-timeout to work (issue 5)."""
    s = (JOBSCRIPTS / f"{name}.sbatch").read_text()
    for needle in ("#SBATCH --signal=B:USR1@", "#SBATCH --requeue", "#SBATCH --open-mode=append",
                   "srun --mpi=pmi2 python -m mpi4py -m mpiml train", "--resume auto",
                   "--checkpoint-dir \"$run_dir/checkpoints\"", "trap 'forward USR1' USR1",
                   'scontrol requeue "$SLURM_JOB_ID"', '"$rc" -eq 75', "mpiexec -n",
                   "MPIML_VENV"):
        assert needle in s, f"{name}.sbatch lacks {needle!r}"
    assert "%j" in s or "%A" in s, "output file not named with the job id"
    # The srun step must run in the background, or bash cannot run the trap before it ends.
    launch = s[s.index("srun --mpi=pmi2"):s.index("step=$!")]
    assert launch.rstrip().endswith("&")


# ---------------------------------------------------------------- k-means
def test_kmeans_job(kmeans_reference):
    rec, work, run_dir = kmeans_reference
    out = text(rec["StdOut"])
    assert (rec["JobState"], rec["ExitCode"], rec["Restarts"]) == ("COMPLETED", "0:0", "0"), out
    assert Path(rec["StdOut"]).name == f"mpiml-kmeans-{rec['JobId']}.out"
    # srun's PMI-2 wired the ranks into one world (not four singletons of size 1).
    assert "world size 4" in out, out
    summary = inspect(run_dir / "checkpoints")
    assert summary["algorithm"] == "kmeans" and summary["n_ranks"] == 4
    assert summary["meta"].get("converged") is True
    assert summary["config"]["k"] == 32
    assert 20 < summary["iteration"] < 1000, "the test problem should take many iterations"
    assert (run_dir / "progress.jsonl").is_file()


def test_template_job(job_env, points, tmp_path):
    job = sbatch(JOBSCRIPTS / "template.sbatch",
                 ["kmeans", "--data", points, "--k", "8", "--max-iter", "5", "--tol", "0"],
                 options=[f"--chdir={tmp_path}", "--ntasks=3", "--job-name=tmpl"], env=job_env)
    (rec,) = wait(job, timeout=300)
    assert (rec["JobState"], rec["ExitCode"]) == ("COMPLETED", "0:0"), text(rec["StdOut"])
    # --ntasks on the sbatch command line overrides the script's #SBATCH --ntasks=4.
    summary = inspect(tmp_path / "mpiml-runs" / f"tmpl-{job}" / "checkpoints")
    assert (summary["iteration"], summary["n_ranks"]) == (5, 3)


def test_bad_option_fails_the_job(job_env, points, tmp_path):
    """A usage error is exit code 2 for the job, not a hang and not a requeue."""
    job = sbatch(JOBSCRIPTS / "kmeans.sbatch", [points, "--k", "0"],
                 options=[f"--chdir={tmp_path}"], env=job_env)
    (rec,) = wait(job, timeout=300)
    assert (rec["JobState"], rec["Restarts"]) == ("FAILED", "0"), text(rec["StdOut"])
    assert rec["ExitCode"] == "2:0", text(rec["StdErr"])


def test_sweep_array(job_env, points, tmp_path):
    job = sbatch(JOBSCRIPTS / "sweep.sbatch",
                 ["kmeans", "--k", "4 8 16", "--data", points, "--max-iter", "6", "--tol", "0"],
                 options=[f"--chdir={tmp_path}", "--array=0-2", "--ntasks=2"], env=job_env)
    recs = wait(job, timeout=400, n_tasks=3)
    assert sorted(r["ArrayTaskId"] for r in recs) == ["0", "1", "2"]
    for r in recs:
        assert (r["JobState"], r["ExitCode"]) == ("COMPLETED", "0:0"), text(r["StdErr"])
        assert Path(r["StdOut"]).name == f"mpiml-sweep-{job}_{r['ArrayTaskId']}.out"
    sweep_dir = tmp_path / "mpiml-runs" / f"mpiml-sweep-{job}"
    assert sorted(p.name for p in sweep_dir.iterdir()) == ["k=16", "k=4", "k=8"]
    for k in (4, 8, 16):
        s = inspect(sweep_dir / f"k={k}" / "checkpoints")
        assert (s["config"]["k"], s["iteration"], s["n_ranks"]) == (k, 6, 2)
        (centers,) = [a for a in s["arrays"] if a["name"].endswith("cluster_centers")]
        assert centers["shape"] == [k, 8]


# ---------------------------------------------------------------- the other algorithms
def _needs(algorithm):
    if not mpiml_has(algorithm):
        pytest.skip(f"`mpiml train {algorithm}` does not exist yet in this checkout")


def _run_algorithm_job(job_env, tmp_path, name, args, ntasks=3):
    job = sbatch(JOBSCRIPTS / f"{name}.sbatch", [str(a) for a in args],
                 options=[f"--chdir={tmp_path}", f"--ntasks={ntasks}"], env=job_env)
    (rec,) = wait(job, timeout=400)
    assert (rec["JobState"], rec["ExitCode"]) == ("COMPLETED", "0:0"), \
        text(rec["StdOut"])[-3000:] + text(rec["StdErr"])[-3000:]
    assert f"world size {ntasks}" in text(rec["StdOut"])
    summary = inspect(tmp_path / "mpiml-runs" / f"mpiml-{name}-{job}" / "checkpoints")
    assert summary["algorithm"] == name and summary["n_ranks"] == ntasks
    return summary


def test_ibm1_job(job_env, tmp_path):
    _needs("ibm1")
    rng = np.random.default_rng(3)
    src, tgt = tmp_path / "corpus.e", tmp_path / "corpus.f"
    with open(src, "w") as fe, open(tgt, "w") as ff:
        for _ in range(300):
            n = int(rng.integers(3, 9))
            words = rng.integers(0, 40, n)
            fe.write(" ".join(f"e{w}" for w in words) + "\n")
            # a noisy word-for-word translation, so there is something to align
            ff.write(" ".join(f"f{w}" if rng.random() < 0.8 else f"f{rng.integers(40)}"
                              for w in words[::-1]) + "\n")
    s = _run_algorithm_job(job_env, tmp_path, "ibm1", [src, tgt, "--max-iter", "3"])
    assert s["iteration"] == 3


def test_mf_job(job_env, tmp_path):
    _needs("mf")
    from mpiml.datasets.ratings import synthetic_ratings, write_triplets
    path = tmp_path / "ratings.txt"
    write_triplets(path, synthetic_ratings(120, 90, rank=4, density=0.2, seed=5))
    s = _run_algorithm_job(job_env, tmp_path, "mf", [path, "--rank", "4", "--max-iter", "3"])
    assert s["iteration"] == 3


def test_linear_job(job_env, tmp_path):
    _needs("linear")
    rng = np.random.default_rng(11)
    w = rng.normal(size=20)
    path = tmp_path / "train.svm"
    with open(path, "w") as f:
        for _ in range(600):
            x = rng.normal(size=20) * (rng.random(20) < 0.3)
            label = 1 if x @ w > 0 else -1
            feats = " ".join(f"{j + 1}:{v:.6g}" for j, v in enumerate(x) if v)
            f.write(f"{label} {feats}\n")
    s = _run_algorithm_job(job_env, tmp_path, "linear", [path, "--max-iter", "10"])
    assert s["iteration"] == 10
