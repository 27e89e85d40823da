"""Assertions on what an mpiml job left behind (checkpoints, logs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from mpiml.io.ckpt_read import Checkpoint

from .slurmjobs import REPO


def inspect(path) -> dict:
    """``mpiml inspect PATH --json`` (serial; verifies every shard's size and CRC32)."""
    p = subprocess.run([sys.executable, "-m", "mpiml", "inspect", str(path), "--json"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert p.returncode == 0, f"mpiml inspect {path} exited {p.returncode}:\n{p.stderr}"
    return json.loads(p.stdout)


def assert_same_model(a, b, atol: float = 0.0) -> None:
    """Every array of the two checkpoints is equal (and the iteration too): bit for bit by
    default; with ``atol``, floating-point arrays up to that (for runs on different rank
    counts, whose reductions add in a different order), other arrays still exactly."""
    ca, cb = Checkpoint(a), Checkpoint(b)
    assert (ca.algorithm, ca.iteration) == (cb.algorithm, cb.iteration), \
        f"{a}: {ca.algorithm} at {ca.iteration}, {b}: {cb.algorithm} at {cb.iteration}"
    assert ca.array_names == cb.array_names
    for name in ca.array_names["replicated"]:
        _same(ca.replicated(name), cb.replicated(name), atol, f"replicated/{name}", a, b)
    for name in ca.array_names["distributed"]:
        _same(ca.read_rows(name), cb.read_rows(name), atol, f"distributed/{name}", a, b)


def _same(x, y, atol, what, a, b) -> None:
    assert x.shape == y.shape and x.dtype == y.dtype, f"{what}: {x.shape} {x.dtype} vs {y.shape} {y.dtype}"
    if atol and x.dtype.kind == "f":
        err = float(np.max(np.abs(x - y))) if x.size else 0.0
        assert err <= atol, f"{what} differs by up to {err:.3g} between {a} and {b}"
    else:
        assert np.array_equal(x, y), f"{what} differs between {a} and {b}"


def text(path) -> str:
    p = Path(path)
    return p.read_text(errors="replace") if p.is_file() else ""
