"""The counting planner's bytes equal what real MPI ranks send (20k-pair corpus).

Run with 1-4 ranks:  mpiexec -n 3 python -m mpi4py -m pytest --with-mpi tests/mpi/test_plan_scale_mpi.py
"""

import pytest

from mpiml.comm.serial import SerialComm
from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em.ibm1 import KeySpace, simulated_stat_keys
from mpiml.em.model import IBM1Model
from mpiml.em.plan import TOPOLOGIES
from mpiml.em.plan_cost import plan_cost
from mpiml.em.plan_scale import plan_costs
from mpiml.io.corpus import read_parallel
from mpiml.runtime.faults import Straggler
from tests.mpi.conftest import assert_all

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def corpus20k(comm, tmp_path_factory):
    path = None
    if comm.rank == 0:
        d = tmp_path_factory.mktemp("plan20k")
        synthetic_parallel(20000, n_words=3000, min_len=3, max_len=10, seed=4).write_two_files(
            d / "c.e", d / "c.f")
        path = str(d)
    d = comm.bcast_obj(path)
    return f"{d}/c.e", f"{d}/c.f"


def chain(size):
    return [(r, r + 1) for r in range(size - 1)]


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_plan_bytes_equal_measured_bytes(comm, corpus20k, topology):
    edges = chain(comm.size) if topology == "tree" else None
    algo = IBM1Model(source=corpus20k[0], target=corpus20k[1], topology=topology, tree_edges=edges)
    algo.setup(comm)
    algo.initialize(comm)
    rec = algo.step(comm, 1, Straggler(None, comm.rank))
    want = None
    if comm.rank == 0:
        c = read_parallel(SerialComm(), *corpus20k)
        keys = simulated_stat_keys(c, comm.size)
        want = plan_cost(keys, topology, space=KeySpace(c.n_src, c.n_tgt), tree_edges=edges)
        # the one-pass planner of `mpiml plan` (every topology at once) agrees
        both = plan_costs(keys, TOPOLOGIES, space=KeySpace(c.n_src, c.n_tgt), tree_edges=chain(comm.size))
        want["one_pass_agrees"] = both[topology] == {k: v for k, v in want.items()}
    want = comm.bcast_obj(want)
    assert_all(comm, want.pop("one_pass_agrees"), f"plan_costs differs from plan_cost: {want}")
    info = algo.model_.plan_info_
    got = {"bytes_total": info.bytes_total, "bytes_max_rank": info.bytes_max_rank,
           "rounds": info.n_rounds}
    assert_all(comm, got == {k: want[k] for k in got}, f"{got} vs {want}")
    assert_all(comm, info.n_shared_keys == want["shared_keys"], f"{info.n_shared_keys} vs {want}")
    if topology != "allreduce":       # allreduce hands MPI the whole table (modelled bytes differ)
        assert_all(comm, rec["cstep_bytes"] == want["bytes_total"]
                   and rec["cstep_bytes_max"] == want["bytes_max_rank"], f"{rec} vs {want}")
