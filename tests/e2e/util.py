"""Launch the real CLI under mpiexec, with a hard timeout."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def run_cli(n: int, args, env=None, timeout: float = 180, mpi: bool = True):
    """Run ``mpiml ARGS`` on ``n`` ranks (or serially); returns CompletedProcess
    with ``.seconds`` set.  MPIEXEC_TIMEOUT bounds the MPI job itself."""
    full_env = dict(os.environ, MPIEXEC_TIMEOUT=str(int(timeout)), **(env or {}))
    full_env.pop("MPIML_FAULT", None) if not (env and "MPIML_FAULT" in env) else None
    if mpi:
        cmd = [mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", "-m", "mpiml", *map(str, args)]
    else:
        cmd = [sys.executable, "-m", "mpiml", *map(str, args)]
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, env=full_env, cwd=REPO)
    res.seconds = time.monotonic() - t0
    return res


def blobs_file(path: Path, n=600, d=3, k=4, seed=2, fmt="npy") -> Path:
    from mpiml.datasets.blobs import make_blobs
    X, _, _ = make_blobs(n, d, k, seed=seed, spread=5.0, noise=1.5)
    if fmt == "npy":
        np.save(path, X)
    else:
        np.savetxt(path, X, delimiter=",", fmt="%.17g")
    return path


def final_model(ckdir):
    from mpiml.io.ckpt_read import Checkpoint
    ck = Checkpoint(ckdir)
    return ck, ck.replicated("cluster_centers"), ck.read_rows("labels")
