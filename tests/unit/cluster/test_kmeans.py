"""K-means: kernels and the distributed algorithm (simulated ranks) against the
serial reference in tests/naive/kmeans.py."""

import numpy as np
import pytest

from mpiml.cluster import kernels
from mpiml.cluster.kmeans import KMeans, predict
from mpiml.datasets.blobs import make_blobs
from mpiml.errors import CollectiveError
from mpiml.runtime.faults import Straggler
from tests.fakecomm import run_ranks
from tests.naive import kmeans as naive


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    X, _, _ = make_blobs(403, 3, 5, seed=11, spread=6.0, noise=1.5)
    p = tmp_path_factory.mktemp("km") / "X.npy"
    np.save(p, X)
    return X, p


def test_assign_kernel_matches_reference(blobs):
    X, _ = blobs
    C = X[:7].copy()
    labels = np.empty(len(X), dtype=np.int64)
    dist = np.empty(len(X))
    packed = kernels.assign(X, C, labels, dist)
    ref_labels, ref_dist = naive.assign(X, C)
    assert np.array_equal(labels, ref_labels)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-12)
    k, d = C.shape
    sums = np.array([X[labels == c].sum(0) for c in range(k)])
    np.testing.assert_allclose(packed[:k * d].reshape(k, d), sums, rtol=1e-12, atol=1e-12)
    assert np.array_equal(packed[k * d:k * d + k], np.bincount(labels, minlength=k))
    assert packed[-1] == pytest.approx(ref_dist.sum(), rel=1e-12)


def run_kmeans(n_ranks, path, k=5, max_iter=30, tol=0.0, seed=3):
    def work(comm):
        algo = KMeans(data=path, k=k, tol=tol, seed=seed)
        algo.setup(comm)
        algo.initialize(comm)
        init = algo.cluster_centers_.copy()
        hist = []
        it = 0
        while it < max_iter and not algo.converged_:
            it += 1
            hist.append(algo.step(comm, it, Straggler(None, comm.rank))["objective"])
        algo.finish(comm)
        return init, algo.cluster_centers_, hist, algo.inertia_, it
    return run_ranks(n_ranks, work)


@pytest.mark.parametrize("n_ranks", [1, 2, 3, 4])
def test_distributed_kmeans_equals_serial_reference(blobs, n_ranks):
    X, path = blobs
    out = run_kmeans(n_ranks, path, tol=1e-6)
    ref_init = naive.kmeans_plusplus(X, 5, seed=3)
    ref_C, ref_hist, ref_it, _, ref_inertia = naive.lloyd(X, ref_init, 30, tol_rel=1e-6)
    for init, C, hist, inertia, it in out:          # every rank holds the same model
        np.testing.assert_allclose(init, ref_init, rtol=1e-12)
        np.testing.assert_allclose(C, ref_C, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(hist, ref_hist, rtol=1e-10)
        assert it == ref_it
        assert inertia == pytest.approx(ref_inertia, rel=1e-10)
    assert all(np.array_equal(out[0][1], o[1]) for o in out)


def test_inertia_never_increases(blobs):
    _, path = blobs
    hist = run_kmeans(3, path, max_iter=15)[0][2]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(hist, hist[1:]))


def test_empty_cluster_is_relocated_like_the_reference():
    # Two far groups plus duplicated points: with a centre placed far away the
    # cluster empties on the first step and must be relocated.
    X = np.concatenate([np.zeros((10, 2)), np.ones((10, 2)) * 10, [[5.0, 5.0]]])

    def work(comm):
        from mpiml.io.dense import DenseBlock
        from mpiml.partition import block_range
        lo, hi = block_range(len(X), comm.size, comm.rank)
        algo = KMeans(data="mem", k=3)
        algo.block_ = DenseBlock(X[lo:hi].copy(), lo, len(X), 2, "mem")
        algo.X_ = algo.block_.X
        algo.labels_ = np.zeros(hi - lo, dtype=np.int64)
        algo.dist_ = np.zeros(hi - lo)
        algo.tol_abs_ = 0.0
        algo.cluster_centers_ = np.array([[0.0, 0.0], [10.0, 10.0], [100.0, 100.0]])
        m = algo.step(comm, 1, Straggler(None, comm.rank))
        return m["n_empty"], algo.cluster_centers_
    ref_C = naive.lloyd(X, np.array([[0.0, 0.0], [10.0, 10.0], [100.0, 100.0]]), 1)[0]
    for n in (1, 2, 3):
        for n_empty, C in run_ranks(n, work):
            assert n_empty == 1
            np.testing.assert_allclose(C, ref_C)


def test_k_larger_than_points_is_the_same_error_on_every_rank(tmp_path):
    p = tmp_path / "small.npy"
    np.save(p, np.arange(12.0).reshape(6, 2))

    def work(comm):
        with comm.agree("setup"):
            KMeans(data=p, k=7).setup(comm)
    with pytest.raises(CollectiveError, match="--k 7 is larger than the number of points"):
        run_ranks(3, work)


def test_predict_assigns_nearest_centre():
    C = np.array([[0.0, 0.0], [10.0, 0.0]])
    labels, dist = predict(C, np.array([[1.0, 0.0], [9.0, 1.0]]))
    assert list(labels) == [0, 1]
    np.testing.assert_allclose(dist, [1.0, 2.0])
