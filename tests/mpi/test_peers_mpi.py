"""Point-to-point work involves only its peers: a junction-tree C-step round
runs no collective (counted by Comm.stats), on real ranks.

    mpiexec -n 3 python -m mpi4py -m pytest --with-mpi -p no:cacheprovider tests/mpi/test_peers_mpi.py
"""

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em.ibm1 import estep
from mpiml.em.model import IBM1Model
from tests.mpi.conftest import assert_all

pytestmark = pytest.mark.timeout(120, method="thread")


@pytest.fixture(scope="module")
def paths(comm, tmp_path_factory):
    sp = synthetic_parallel(60, n_words=40, seed=5, p_spurious=0.2)
    d = None
    if comm.rank == 0:
        d = tmp_path_factory.mktemp("peers")
        sp.write_two_files(d / "c.e", d / "c.f")
        d = str(d)
    d = comm.bcast_obj(d)
    return f"{d}/c.e", f"{d}/c.f"


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("topology", ["junction-tree", "allpairs"])
def test_cstep_rounds_run_no_collective(comm, paths, topology):
    algo = IBM1Model(source=paths[0], target=paths[1], topology=topology)
    algo.setup(comm)
    algo.initialize(comm)
    m = algo.model_
    eta_st, eta_s, _ = estep(m.params_, m.corpus_, m.theta_)
    st = comm.stats
    c0, p0 = st.n_collectives, sum(st.p2p.values())
    with comm.agree("one C-step"):          # inside a block: the non-blocking, watched path
        out = m.cstep_.run(np.concatenate([eta_st, eta_s]))
        collectives = st.n_collectives - c0
    p2p = sum(st.p2p.values()) - p0
    # every rank shares words with some other rank here, so each exchanges something
    assert_all(comm, collectives == 0 and p2p > 0 and np.all(np.isfinite(out)),
               f"{topology}: {collectives} collectives, {p2p} point-to-point exchanges")


def _theta(comm, paths, schedule, topology="junction-tree"):
    from mpiml.em.distributed import DistributedIBM1
    from mpiml.io.corpus import read_parallel
    m = DistributedIBM1(comm, topology, schedule=schedule,
                        tree_edges=[(r, r + 1) for r in range(comm.size - 1)] if topology == "tree" else None)
    m.setup(read_parallel(comm, *paths))
    for it in range(3):
        with comm.agree(f"iteration {it}"):
            m.iterate()
    return m.params_.keys, m.theta_


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("topology", ["junction-tree", "tree"])
def test_async_tree_schedule_equals_collect_distribute(comm, paths, topology):
    k1, t1 = _theta(comm, paths, "collect-distribute", topology)
    k2, t2 = _theta(comm, paths, "async", topology)
    assert_all(comm, np.array_equal(k1, k2) and np.array_equal(t1, t2) and t2.size > 0,
               f"{topology}: async theta differs from collect/distribute")
