"""The asynchronous junction-tree schedule gives theta bit for bit equal to
collect/distribute (which tests/unit/em/test_distributed.py compares with the
serial reference), on 1-4 simulated ranks with random delays, for the
spanning tree and a user chain."""

import random
import time

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em.distributed import DistributedIBM1
from mpiml.io.corpus import read_parallel
from tests.fakecomm import run_ranks

N_ITER = 3


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    sp = synthetic_parallel(37, n_words=22, seed=4, p_spurious=0.2)
    d = tmp_path_factory.mktemp("async")
    sp.write_two_files(d / "c.e", d / "c.f")
    return (d / "c.e", d / "c.f"), [list(s) for s in sp.src_sents], [list(t) for t in sp.tgt_sents]


def train(size, paths, schedule, topology, edges, jitter):
    def body(comm):
        rng = random.Random(comm.rank)
        m = DistributedIBM1(comm, topology, tree_edges=edges, schedule=schedule)
        m.setup(read_parallel(comm, *paths))
        real = m.cstep_.run

        def slow_run(local):          # ranks reach the C-step at different times
            if jitter:
                time.sleep(rng.random() * 0.02)
            return real(local)
        m.cstep_.run = slow_run
        recs = [m.iterate() for _ in range(N_ITER)]
        assert m.cstep_.schedule == schedule
        return m.params_.keys.copy(), m.theta_.copy(), [
            (r.bytes_total, r.cross_host_bytes, r.intra_host_bytes) for r in recs]
    return run_ranks(size, body)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("topology", ["junction-tree", "tree"])
def test_async_equals_collect_distribute_bit_for_bit(paths, size, topology):
    files, _, _ = paths
    edges = [(r, r + 1) for r in range(size - 1)] if topology == "tree" else None
    rounds = train(size, files, "collect-distribute", topology, edges, False)
    asyn = train(size, files, "async", topology, edges, True)
    for (k1, t1, b1), (k2, t2, b2) in zip(rounds, asyn):
        assert np.array_equal(k1, k2) and np.array_equal(t1, t2)
        assert np.all(np.isfinite(t2)) and t2.size
        # the same C-step bytes, all between ranks of the one fake host
        assert b1 == b2 and all(x == i and c == 0 for x, c, i in b2)
        assert (b2[0][0] > 0) == (size > 1)
