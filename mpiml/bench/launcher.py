"""Shared launcher for the benchmarks: run the CLI under ``mpiexec -n R``,
time a function by its best of several repeats, take the steady-state median
of a job's per-iteration records."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    exe = str(here) if here.exists() else shutil.which("mpiexec")
    if not exe:
        raise SystemExit("mpiml bench: no mpiexec found (pip install mpich, or load your site MPI)")
    return exe


def run_mpi(n: int, args: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    cmd = [mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", *args]
    env = dict(os.environ, MPIEXEC_TIMEOUT=str(int(timeout)))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, env=env)
    if res.returncode:
        raise SystemExit(f"mpiml bench: {' '.join(cmd)} failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return res


def best(fn, reps: int = 3) -> float:
    """Best wall time of ``fn(seed)`` over ``reps`` calls (seeds 0..reps-1)."""
    ts = []
    for s in range(reps):
        t0 = time.perf_counter()
        fn(s)
        ts.append(time.perf_counter() - t0)
    return min(ts)


def median_steady(its: list[dict], key: str) -> float:
    """Median of ``key`` over the iteration records ``its`` of one job,
    leaving out the first iteration (it also loads the compiled kernels)
    unless it is the only one."""
    if not its:
        raise ValueError(f"no iteration records to take the median of {key!r} from")
    steady = its[1:] or its
    return float(np.median([r[key] for r in steady]))
