"""Comm, SerialComm and the threaded test double implement one contract
(mpiml.comm.contract.Communicator): same methods, same parameters; the
double's blocking semantics match the real ones (peers-only point-to-point,
collectives and requests that wait for every rank, failures that release waits)."""

import inspect
import threading
import time

import numpy as np
import pytest

from mpiml.comm.communicator import Comm
from mpiml.comm.contract import METHODS, Communicator
from mpiml.comm.serial import SerialComm
from mpiml.errors import CollectiveError
from tests.fakecomm import FakeComm, run_ranks


def _params(fn):
    # the default of ``kind`` is only an accounting label
    return [(p.name, p.kind, None if p.name == "kind" else p.default)
            for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("cls", [Comm, SerialComm, FakeComm], ids=lambda c: c.__name__)
def test_every_method_of_the_contract_with_the_same_parameters(cls):
    missing = [m for m in METHODS if not callable(getattr(cls, m, None))]
    assert not missing, f"{cls.__name__} lacks {missing}"
    differ = [m for m in METHODS if _params(getattr(cls, m)) != _params(getattr(Communicator, m))]
    assert not differ, f"{cls.__name__}: parameters differ from the contract in {differ}"


def test_fake_point_to_point_involves_only_its_peers():
    # rank 2 never calls exchange: ranks 0 and 1 must still complete theirs
    def fn(comm):
        if comm.rank < 2:
            other = 1 - comm.rank
            got = comm.exchange({other: np.arange(3) + comm.rank}, {other: (3, np.int64)})
            return got[other].tolist()
        return None
    assert run_ranks(3, fn, timeout=10) == [[1, 2, 3], [0, 1, 2], None]


def test_fake_ibarrier_completes_only_when_every_rank_called_it():
    seen = {}

    def fn(comm):
        if comm.rank == 1:
            time.sleep(0.3)
        req = comm.ibarrier()
        seen[comm.rank] = req.test()
        req.wait()
        return True
    run_ranks(2, fn, timeout=10)
    assert seen[0] is False


def test_fake_failure_releases_a_peer_waiting_for_a_message():
    def fn(comm):
        with comm.agree("exchanging"):
            if comm.rank == 1:
                time.sleep(0.1)
                raise ValueError("gone")
            comm.exchange({}, {1: (4, np.float64)})
    t0 = time.monotonic()
    with pytest.raises(CollectiveError, match=r"\[rank 1\] gone \(while exchanging\)"):
        run_ranks(2, fn, timeout=20)
    assert time.monotonic() - t0 < 10
    assert threading.active_count() < 50


# The double's deadlock detector: a wait times out only when every rank that has
# not returned is waiting.  A rank that computes (a first call that JIT-compiles
# numba kernels took 43 s on a cold cache at load 8) is progress, not a deadlock.

@pytest.mark.timeout(60)
def test_fake_wait_does_not_time_out_while_a_peer_computes():
    def fn(comm):
        if comm.rank == 1:
            time.sleep(1.5)          # computing, 3x the timeout (a fixed-deadline wait fails here)
        comm.barrier()
        return comm.rank
    assert run_ranks(2, fn, timeout=0.5) == [0, 1]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", ["mismatched", "returned", "rma-wait"])
def test_fake_deadlock_is_still_detected(case):
    from mpiml.comm import rma

    def fn(comm):
        if case == "rma-wait":               # every rank polls a condition nobody makes true
            rma.wait_until(comm, lambda: False, "clock-wait")
        elif comm.rank == 0:
            comm.barrier()                   # rank 1 waits for a message instead / has returned
        elif case == "mismatched":
            comm.exchange({}, {0: (1, np.float64)})
    with pytest.raises(TimeoutError, match="deadlock"):
        run_ranks(2, fn, timeout=0.5)
