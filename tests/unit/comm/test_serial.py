"""The serial stand-in behaves like a one-rank Comm."""

import numpy as np
import pytest

from mpiml.comm import SerialComm


def test_serial_comm_is_a_one_rank_communicator():
    c = SerialComm()
    assert (c.rank, c.size) == (0, 1)
    a = np.arange(3.0)
    r = c.allreduce(a)
    assert np.array_equal(r, a) and r is not a
    assert c.allgather_obj(5) == [5] and c.bcast_obj("x") == "x" and c.exscan_sum(7) == 0
    assert [x.tolist() for x in c.alltoallv([np.array([1, 2])])] == [[1, 2]]
    with c.agree("anything"):
        pass
    with pytest.raises(ValueError):
        with c.agree("errors pass through"):
            raise ValueError("x")
