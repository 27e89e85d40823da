"""The communicator wrapper on real MPI ranks."""

import numpy as np
import pytest

from mpiml.errors import CollectiveError, InputError
from tests.mpi.conftest import assert_all


@pytest.mark.mpi(min_size=1)
def test_collectives(comm):
    r, n = comm.rank, comm.size
    s = comm.allreduce(np.array([r, 1.0]))
    ok = list(s) == [n * (n - 1) / 2, n]
    ok &= comm.allreduce(np.array([r], dtype=np.int64), op="max")[0] == n - 1
    ok &= comm.exscan_sum(r + 1) == sum(range(1, r + 1))
    parts = comm.allgather_array(np.full((r + 1, 2), r, dtype=np.int64))
    ok &= all(p.shape == (q + 1, 2) and (p == q).all() for q, p in enumerate(parts))
    got = comm.alltoallv([np.full(d + 1, 10 * r + d, dtype=np.float64) for d in range(n)])
    ok &= all(g.size == r + 1 and (g == 10 * src + r).all() for src, g in enumerate(got))
    nxt, prv = (r + 1) % n, (r - 1) % n
    ex = comm.exchange({nxt: np.arange(3, dtype=np.int64) + r}, {prv: (3, np.int64)})
    ok &= list(ex[prv]) == [prv, prv + 1, prv + 2]
    a = np.full(4, float(r))
    comm.sendrecv_replace(a, nxt, prv)
    ok &= (a == prv).all()
    b = comm.bcast_array(np.arange(5.0) if r == 0 else None)
    ok &= list(b) == [0, 1, 2, 3, 4]
    assert_all(comm, ok, "collective results")


@pytest.mark.mpi(min_size=1)
def test_byte_accounting(comm):
    before = comm.stats.bytes_sent["acct"]
    comm.allreduce(np.zeros(1000), kind="acct")
    assert_all(comm, comm.stats.bytes_sent["acct"] - before == 8000)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("origin", [0, 1])
def test_error_on_one_rank_becomes_the_same_error_everywhere(comm, origin):
    origin = origin % comm.size
    with pytest.raises(CollectiveError) as info:
        with comm.agree("reading"):
            if comm.rank == origin:
                raise InputError("bad value", "data.csv", 7)
    e = info.value
    assert_all(comm, e.origin_rank == origin and e.kind == "InputError" and e.exit_code == 2
               and "data.csv:7: bad value (while reading)" in str(e), str(e))


@pytest.mark.mpi(min_size=2)
def test_error_before_a_collective_does_not_hang(comm):
    # Rank 0 raises before the Allreduce every other rank enters: the entry
    # sync must release them (a plain Allreduce here would hang forever).
    for step in range(3):
        with pytest.raises(CollectiveError, match=r"\[rank 0\] ValueError: broken"):
            with comm.agree("step"):
                if comm.rank == 0:
                    raise ValueError("broken")
                comm.allreduce(np.ones(4))
                comm.exchange({}, {})
        # and the communicator is still usable afterwards
        assert_all(comm, comm.allreduce(np.ones(1))[0] == comm.size)


@pytest.mark.mpi(min_size=2)
def test_nested_agreement_reports_once(comm):
    with pytest.raises(CollectiveError) as info:
        with comm.agree("outer"):
            with comm.agree("inner"):
                if comm.rank == comm.size - 1:
                    raise InputError("x")
    assert_all(comm, str(info.value).count("(while") == 1, str(info.value))


@pytest.mark.mpi(min_size=2)
def test_settings_must_match(comm):
    from mpiml.errors import ConfigError
    comm.check_same({"k": 3}, "config")
    with pytest.raises(ConfigError, match="differs between ranks"):
        comm.check_same({"k": comm.rank}, "config")


@pytest.mark.mpi(min_size=2)
def test_out_of_band_wait_is_released_by_a_failure_hook(comm, shared_tmp):
    """A rank spinning on something that is not an MPI operation learns of
    the failure through an on_failure hook and raises PeerAborted."""
    import time
    from mpiml.comm import PeerAborted
    flag = shared_tmp / "alarm"          # stands in for an RMA flag word
    comm.barrier()
    comm.on_failure(lambda: flag.write_text("x"))
    with pytest.raises(CollectiveError, match=r"\[rank 0\] InputError|\[rank 0\] .*late"):
        with comm.agree("spin"):
            if comm.rank == 0:
                raise InputError("late")
            t0 = time.monotonic()
            while not flag.exists():
                assert time.monotonic() - t0 < 60
                time.sleep(0.01)
            raise PeerAborted()
    comm._failure_hooks.clear()
