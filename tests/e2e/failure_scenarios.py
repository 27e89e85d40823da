"""Failure scenarios for the failure channel, run under real mpiexec by
tests/e2e/test_failure_channel.py:

    mpiexec -n 3 python -m mpi4py tests/e2e/failure_scenarios.py SCENARIO

Every rank prints one line ``RANK r: <error>`` (or ``RANK r: ok``) and exits
with the error's code, as the CLI does.
"""

import sys
import time

import numpy as np

from mpiml.comm import Comm, finalize
from mpiml.errors import CollectiveError, InputError


def two_at_once(comm):
    """Ranks 0 and 2 raise in the same block while rank 1 is in an Allreduce."""
    with comm.agree("two at once"):
        if comm.rank in (0, comm.size - 1):
            raise InputError(f"bad value on rank {comm.rank}", "x.csv", 3)
        comm.allreduce(np.ones(8))


def inside_iallreduce(comm):
    """The others are inside a non-blocking Allreduce (and a started
    ``iallreduce`` request) when rank 1 raises."""
    with comm.agree("reducing"):
        for _ in range(3):
            comm.allreduce(np.ones(4))
        if comm.rank == 1:
            time.sleep(0.5)          # the others are waiting in the next reduction by now
            raise ValueError("broken while the others reduce")
        req, out = comm.iallreduce(np.ones(1000))
        comm.allreduce(np.ones(4))
        req.wait()


def exchange_partner(comm):
    """Rank 1 raises while its exchange partner waits for its message; the
    third rank is blocked in the closing barrier of the block."""
    with comm.agree("exchanging"):
        if comm.rank == 1:
            time.sleep(0.3)
            raise RuntimeError("no message for you")
        if comm.rank == 0:
            comm.exchange({}, {1: (1 << 20, np.float64)})     # 8 MiB that never comes


def before_finalize(comm):
    """Several iterations go well; rank 2 raises in the last agreed block before shutdown."""
    for it in range(5):
        with comm.agree(f"iteration {it}"):
            comm.allreduce(np.ones(2))
    with comm.agree("finishing"):
        if comm.rank == comm.size - 1:
            raise RuntimeError("failed after the last iteration")


def nested(comm):
    """Rank 0 raises in an outer block; the others are inside an inner one."""
    with comm.agree("outer"):
        if comm.rank == 0:
            time.sleep(0.2)
            raise KeyError("outer")
        with comm.agree("inner"):
            comm.barrier()


def inside_async_tree(comm):
    """Rank 1 raises in the middle of the asynchronous junction-tree C-step
    (after its first receive, before its sends), the others wait for it."""
    import tempfile
    from pathlib import Path

    from mpiml.datasets.corpus import synthetic_parallel
    from mpiml.em.distributed import DistributedIBM1
    from mpiml.io.corpus import read_parallel
    d = None
    if comm.rank == 0:
        d = tempfile.mkdtemp()
        sp = synthetic_parallel(40, n_words=25, seed=3, p_spurious=0.2)
        sp.write_two_files(Path(d, "c.e"), Path(d, "c.f"))
    d = comm.bcast_obj(d)
    m = DistributedIBM1(comm, "tree", tree_edges=[(r, r + 1) for r in range(comm.size - 1)],
                        schedule="async")
    m.setup(read_parallel(comm, f"{d}/c.e", f"{d}/c.f"))
    with comm.agree("iteration 1"):
        m.iterate()
    if comm.rank == 1:
        real = m.cstep_._apply

        def broken(*args):
            raise RuntimeError("failed inside the async tree schedule")
        m.cstep_._apply = broken
        assert real is not None
    with comm.agree("iteration 2"):
        m.iterate()


SCENARIOS = {f.__name__: f for f in (two_at_once, inside_iallreduce, exchange_partner,
                                     before_finalize, nested, inside_async_tree)}


def main(name: str) -> int:
    comm = Comm(watchdog_timeout=60)
    code = 0
    try:
        SCENARIOS[name](comm)
        print(f"RANK {comm.rank}: ok", flush=True)
    except CollectiveError as exc:
        code = exc.exit_code
        print(f"RANK {comm.rank}: {exc}", flush=True)
    comm.close()
    if code:
        finalize()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
