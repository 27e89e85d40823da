"""The failure channel and window registration on real ranks (pytest-mpi)."""

import time

import numpy as np
import pytest

from mpiml.comm import rma
from mpiml.errors import CollectiveError
from tests.mpi.conftest import assert_all

pytestmark = pytest.mark.timeout(120, method="thread")


@pytest.mark.mpi(min_size=1)
def test_window_registers_with_comm_and_refuses_use_after_free(comm):
    before = comm.open_windows
    win = rma.allocate(comm, 4, np.float64, "t")
    during = comm.open_windows
    win.free()
    try:
        win.accumulate(0, 0, np.ones(1))
        raised = False
    except RuntimeError as exc:
        raised = "used after free" in str(exc)
    assert_all(comm, during == before + 1 and comm.open_windows == before and raised)


@pytest.mark.mpi(min_size=2)
def test_rma_wait_is_released_by_a_peer_failure(comm):
    """Ranks spin in an RMA wait (not an MPI operation) for a flag that rank 0
    never sets, because it fails: the failure channel ends the wait."""
    win = rma.allocate(comm, 1, np.int64, "flag")
    with pytest.raises(CollectiveError, match=r"\[rank 0\] ValueError: gone \(while waiting\)"):
        with comm.agree("waiting"):
            if comm.rank == 0:
                time.sleep(0.2)
                raise ValueError("gone")

            def ready():
                v = win.read(comm.rank, 0, 1)
                win.flush(comm.rank)
                return bool(v[0])
            rma.wait_until(comm, ready, "flag-wait")
    win.free()
    assert_all(comm, comm.allreduce(np.ones(1))[0] == comm.size)


@pytest.mark.mpi(min_size=2)
def test_outside_a_block_a_later_failure_does_not_abandon_an_operation(comm):
    """A rank that has left block b and fails in block b+1 must not make a
    slower rank abandon its (completing) operations of block b."""
    with pytest.raises(CollectiveError, match=r"\[rank 0\] .*second"):
        with comm.agree("first"):
            if comm.rank != 0:
                time.sleep(0.3)            # rank 0 is far ahead
            comm.allreduce(np.ones(3))
        with comm.agree("second"):
            if comm.rank == 0:
                raise RuntimeError("second")
            comm.barrier()
