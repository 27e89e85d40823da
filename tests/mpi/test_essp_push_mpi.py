"""ESSP pushes: a reader sees another worker's finished clock without fetching
from the owner, where SSP's cached rows (staleness s) still miss it; the
bound and read-my-writes hold; subscriptions limit what is pushed.

    mpiexec -n 2 python -m mpi4py -m pytest --with-mpi -p no:cacheprovider tests/mpi/test_essp_push_mpi.py
"""

import numpy as np
import pytest

from mpiml.consistency import make_table
from tests.mpi.conftest import assert_all

pytestmark = pytest.mark.timeout(120, method="thread")


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("kind", ["ssp", "essp"])
def test_push_makes_a_finished_clock_visible(comm, kind):
    t = make_table(comm, kind, 4, 2, staleness=3, debug=True, name=f"push-{kind}")
    first = t.get(np.arange(4))            # SSP caches the rows here
    comm.barrier()                          # (else a fast worker's push may already be visible)
    t.inc([comm.rank % 4], [[1.0, float(comm.rank)]])
    t.clock()
    comm.barrier()                          # every worker has finished clock 0
    got = t.get(np.arange(4))
    full = np.zeros((4, 2))
    for r in range(comm.size):
        full[r % 4] += [1.0, float(r)]
    own = np.zeros((4, 2))
    own[comm.rank % 4] = [1.0, float(comm.rank)]
    if kind == "essp":
        ok = np.array_equal(got, full) and t.pop_staleness()[1] == 0
    else:   # the cached rows are 1 clock old, within the bound: others' updates not yet seen
        ok = np.array_equal(got, own) and t.pop_staleness()[1] == 1
    t.sync()
    ok &= np.array_equal(t.snapshot(), full) and np.array_equal(first, np.zeros((4, 2)))
    t.close()
    assert_all(comm, ok, f"{kind}: read after a finished clock {got.tolist()}")


@pytest.mark.mpi(min_size=2)
def test_subscription_limits_the_push(comm):
    t = make_table(comm, "essp", 6, 1, staleness=2, debug=True, name="push-sub")
    mine = [comm.rank % 6]
    t.subscribe(mine)
    for c in range(3):
        t.get(mine)
        t.inc(np.arange(6), np.ones((6, 1)))
        t.clock()
    t.sync()
    pushed = t.push_bytes_
    got = t.get(mine)
    snap = t.snapshot()
    t.close()
    subscribed = [r % 6 for r in range(comm.size)]
    # per clock: one 8-byte row to each rank subscribed to it, never all 6 rows
    want = 3 * 8 * len(subscribed)
    assert_all(comm, pushed == want and np.all(got == 3 * comm.size) and np.all(snap == 3 * comm.size),
               f"pushed {pushed} bytes, expected {want}")
