"""Fixtures for tests run under mpiexec with ``--with-mpi`` (pytest-mpi)."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def comm():
    from mpiml.comm import Comm
    c = Comm(watchdog_timeout=120)
    yield c
    c.close()


def assert_all(comm, ok: bool, message: str = "") -> None:
    """Collective assertion: every rank fails if any rank's check failed."""
    from mpi4py import MPI  # tests may use mpi4py directly
    bad = comm.mpi.allgather(not bool(ok))
    failed = [r for r, b in enumerate(bad) if b]
    assert not failed, f"check failed on ranks {failed}: {message}"


@pytest.fixture
def shared_tmp(comm, tmp_path):
    """A directory every rank sees (rank 0's tmp_path, broadcast)."""
    from pathlib import Path
    return Path(comm.bcast_obj(str(tmp_path) if comm.rank == 0 else None))


def close(a, b, rtol=1e-10, atol=1e-12) -> bool:
    return np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=rtol, atol=atol))
