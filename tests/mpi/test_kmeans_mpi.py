"""K-means and checkpoints on real MPI ranks, against the serial reference."""

import numpy as np
import pytest

from mpiml.cluster.kmeans import KMeans
from mpiml.datasets.blobs import make_blobs
from mpiml.runtime.faults import Straggler
from tests.mpi.conftest import assert_all, close
from tests.naive import kmeans as naive


@pytest.fixture(scope="module")
def data(comm, tmp_path_factory):
    X, _, _ = make_blobs(301, 3, 4, seed=5, spread=5.0, noise=1.2)
    path = None
    if comm.rank == 0:
        path = tmp_path_factory.mktemp("km") / "X.csv"
        np.savetxt(path, X, delimiter=",", fmt="%.17g")
    path = comm.bcast_obj(str(path))
    return np.loadtxt(path, delimiter=","), path


@pytest.mark.mpi(min_size=1)
def test_kmeans_equals_serial_reference(comm, data):
    X, path = data
    algo = KMeans(data=path, k=4, tol=1e-8, seed=9)
    algo.setup(comm)
    algo.initialize(comm)
    init = algo.cluster_centers_.copy()
    hist, it = [], 0
    while it < 40 and not algo.converged_:
        it += 1
        hist.append(algo.step(comm, it, Straggler(None, comm.rank))["objective"])
    algo.finish(comm)
    ref_init = naive.kmeans_plusplus(X, 4, seed=9)
    C, ref_hist, ref_it, ref_labels, ref_inertia = naive.lloyd(X, ref_init, 40, tol_rel=1e-8)
    lo = algo.block_.offset
    assert_all(comm, close(init, ref_init) and close(algo.cluster_centers_, C) and close(hist, ref_hist)
               and it == ref_it and np.array_equal(algo.labels_, ref_labels[lo:lo + len(algo.labels_)])
               and abs(algo.inertia_ - ref_inertia) <= 1e-10 * ref_inertia,
               f"rank {comm.rank}: it {it} vs {ref_it}")


@pytest.mark.mpi(min_size=1)
def test_checkpoint_written_by_all_ranks_reads_back_on_any_count(comm, data, shared_tmp):
    from mpiml.io.checkpoint import State, write
    from mpiml.io.ckpt_read import Checkpoint, load
    from mpiml.partition import block_range
    n = 23
    lo, hi = block_range(n, comm.size, comm.rank)
    st = State(iteration=2, replicated={"C": np.eye(3)},
               distributed={"v": (np.arange(lo, hi, dtype=np.float64) ** 2, lo, n)},
               rank_state={"r": comm.rank})
    root = shared_tmp / "ck"
    write(comm, root, st, algorithm="t", schema=1, config={}, provenance={})
    ck = load(comm, root, "t", 1)
    # read back with another partition (as a resume on size+1 ranks would)
    lo2, hi2 = block_range(n, comm.size + 1, comm.rank)
    rows = ck.read_rows("v", lo2, hi2)
    ok = np.array_equal(rows, np.arange(lo2, hi2, dtype=np.float64) ** 2)
    ok &= ck.rank_state(comm.rank) == {"r": comm.rank} and ck.n_ranks == comm.size
    if comm.rank == 0:
        ok &= Checkpoint(root).summary()["verified"]
    assert_all(comm, ok)
