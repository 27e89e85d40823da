"""LinearSGD on simulated ranks (threads) against the serial references."""

import numpy as np
import pytest

from mpiml.datasets.linear import make_classification, write_libsvm
from mpiml.errors import ConfigError
from mpiml.linear.sgd import LinearSGD, Sampler, table_shape
from mpiml.partition import block_range
from mpiml.runtime.faults import Straggler
from tests.fakecomm import run_ranks
from tests.naive.linear import batch_rows, objective, sgd_average, sgd_bsp
from tests.unit.consistency.fakerma import RMAWorld, with_rma


def train(n, path, iters, **kw):
    world = RMAWorld()

    def fn(comm):
        algo = LinearSGD(data=path, **kw)
        algo.setup(comm)
        algo.initialize(comm)
        hist = [algo.step(comm, it, Straggler(None, comm.rank)) for it in range(1, iters + 1)]
        algo.finish(comm)
        return algo, hist

    out = run_ranks(n, with_rma(fn, world), timeout=120)
    assert world.open == 0
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lin")
    X, y, _ = make_classification(90, 7, seed=3)
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", y)
    Xs, ys, _ = make_classification(90, 40, seed=4, nnz_per_row=5)
    write_libsvm(d / "s.svm", Xs, ys, zero_one=True)
    return {"dense": (d / "X.npy", X, y), "sparse": (d / "s.svm", Xs.toarray(), ys)}


def blocks(X, y, n):
    """Rank blocks: ``n`` ranks' block_range, or explicit (lo, hi) ranges
    (text files are split by bytes, not rows)."""
    rs = [block_range(len(y), n, r) for r in range(n)] if isinstance(n, int) else n
    return [X[a:b] for a, b in rs], [y[a:b] for a, b in rs]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("case", [("dense", "logistic", "l2"), ("sparse", "hinge", "l1"),
                                  ("sparse", "logistic", "none")])
def test_bsp_equals_serial_sgd(files, n, case):
    kind, loss, penalty = case
    path, X, y = files[kind]
    kw = dict(loss=loss, penalty=penalty, alpha=0.01, lr=0.3, batch=5, clocks=4, seed=7,
              labels=path.with_name("y.npy") if kind == "dense" else None)
    out = train(n, path, 3, consistency="bsp", **kw)
    bX, by = blocks(X, y, [(a.train_.offset, a.train_.offset + a.train_.n_local) for a, _ in out])
    ref = sgd_bsp(bX, by, loss, penalty, 0.01, 0.3, 5, 7, 12)
    for algo, hist in out:
        w = np.append(algo.coef_, algo.intercept_)
        np.testing.assert_allclose(w, ref, rtol=1e-12, atol=1e-13)
        assert hist[-1]["objective"] == pytest.approx(objective(X, y, ref, loss, penalty, 0.01), rel=1e-10)
        assert hist[-1]["stale_max"] == 0 and algo.table_.clock_ == 12


@pytest.mark.parametrize("consistency", ["ssp", "essp"])
def test_staleness_zero_equals_bsp(files, consistency):
    path, X, y = files["sparse"]
    kw = dict(loss="logistic", penalty="l2", lr=0.3, batch=4, clocks=5, seed=1, staleness=0,
              debug_staleness=True)
    bsp = train(3, path, 2, consistency="bsp", **kw)
    ssp = train(3, path, 2, consistency=consistency, **kw)
    for (a, _), (b, _) in zip(bsp, ssp):
        np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-12, atol=1e-14)


def test_ssp_with_staleness_converges_like_bsp(files):
    path, X, y = files["dense"]
    kw = dict(labels=path.with_name("y.npy"), lr=0.3, batch=5, clocks=6, seed=2)
    bsp = train(3, path, 4, consistency="bsp", **kw)
    for cons in ("ssp", "async"):
        out = train(3, path, 4, consistency=cons, staleness=2, debug_staleness=True, **kw)
        assert out[0][1][-1]["objective"] < out[0][1][0]["objective"] * 1.05
        assert abs(out[0][1][-1]["objective"] - bsp[0][1][-1]["objective"]) < 0.1
        assert all(h["stale_max"] <= 2 for h in out[0][1]) or cons == "async"


def test_model_averaging_equals_serial_local_sgd(files):
    path, X, y = files["dense"]
    n, every = 3, 3
    out = train(n, path, 2, consistency="average", every=every, labels=path.with_name("y.npy"),
                loss="logistic", penalty="l2", alpha=0.01, lr=0.2, batch=5, clocks=4, seed=5)
    bX, by = blocks(X, y, n)
    # the iteration ends (clocks 4 and 8) are extra averaging points
    ref = _average_with_extra_syncs(bX, by, every, [4, 8])
    for algo, _ in out:
        np.testing.assert_allclose(np.append(algo.coef_, algo.intercept_), ref, rtol=1e-11, atol=1e-13)


def _average_with_extra_syncs(bX, by, every, syncs):
    from tests.naive.linear import minibatch_gradient
    size = len(bX)
    ws = [np.zeros(bX[0].shape[1] + 1) for _ in range(size)]
    for t in range(max(syncs)):
        for r in range(size):
            rows = batch_rows(len(by[r]), 5, 5, r, t)
            ws[r] = ws[r] - 0.2 * minibatch_gradient(bX[r], by[r], rows, ws[r], "logistic", "l2", 0.01)
        if (t + 1) % every == 0 or (t + 1) in syncs:
            mean = sum(ws) / size
            ws = [mean.copy() for _ in range(size)]
    return ws[0]


def test_sgd_average_reference_runs():
    X, y, _ = make_classification(30, 3, seed=0)
    w = sgd_average([X[:15], X[15:]], [y[:15], y[15:]], "hinge", "none", 0.0, 0.1, 4, 0, 6, 2)
    assert w.shape == (4,) and np.all(np.isfinite(w))


def test_sampler_is_a_pure_function_and_covers_each_epoch():
    s = Sampler(10, 4, seed=3, rank=1)
    seq = np.concatenate([s.rows(t) for t in range(5)])
    assert sorted(seq[:10]) == list(range(10)) and sorted(seq[10:20]) == list(range(10))
    assert np.array_equal(Sampler(10, 4, 3, 1).rows(3), s.rows(3))
    assert np.array_equal(s.rows(2), batch_rows(10, 4, 3, 1, 2))


def test_table_shape_and_options():
    assert table_shape(7, 32) == (1, 8) and table_shape(100, 32) == (4, 32)
    with pytest.raises(ConfigError, match="--loss"):
        LinearSGD(data="x", loss="squared")
    with pytest.raises(ConfigError, match="--batch"):
        LinearSGD(data="x", batch=0)
    with pytest.raises(ConfigError, match="--consistency"):
        LinearSGD(data="x", consistency="eventual")
