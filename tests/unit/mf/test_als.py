"""Blocked ALS on simulated ranks equals serial ALS."""

import numpy as np
import pytest

from mpiml.datasets.ratings import synthetic_ratings
from mpiml.mf.als import ALS
from mpiml.mf.common import Triplets
from tests.fakecomm import run_ranks
from tests.naive.mf import rmse, serial_als

M, N = 31, 23
DATA = synthetic_ratings(M, N, rank=3, density=0.35, noise=0.1, offset=2.0, seed=4)
TRAIN = (DATA.users, DATA.items, DATA.values)


def _share(t, rank, size):
    return Triplets(*(np.asarray(a)[rank::size] for a in t))


def _run(P, n_epochs=3, **kw):
    def fn(comm):
        m = ALS(**kw).setup(comm, _share(TRAIN, comm.rank, comm.size), M, N)
        for _ in range(n_epochs):
            m.run_epoch()
        return m.local_factors(), m.history_
    res = run_ranks(P, fn)
    W, H = np.full((M, kw["k"]), np.nan), np.full((N, kw["k"]), np.nan)
    for lf, _ in res:
        (wlo, w), = lf["W"]
        (hlo, h), = lf["H"]
        W[wlo:wlo + len(w)] = w
        H[hlo:hlo + len(h)] = h
    return W, H, res[0][1]


def test_als_equals_serial_on_1_to_4_ranks():
    kw = dict(k=4, lam=0.05, seed=2, init_scale=0.5)
    runs = [_run(P, **kw) for P in (1, 2, 3, 4)]
    for W, H, _ in runs[1:]:
        assert np.array_equal(W, runs[0][0]) and np.array_equal(H, runs[0][1])
    Ws, Hs, objs = serial_als(TRAIN, M, N, n_epochs=3, **kw)
    W, H, hist = runs[2]
    np.testing.assert_allclose(W, Ws, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(H, Hs, rtol=1e-8, atol=1e-10)
    assert [h["objective"] for h in hist] == pytest.approx(objs, rel=1e-9)
    assert hist[-1]["train_rmse"] == pytest.approx(rmse(Ws, Hs, *TRAIN), rel=1e-9)


def test_default_init_scale_is_rank_count_independent():
    a = _run(1, n_epochs=1, k=3, lam=0.05, seed=1)
    b = _run(3, n_epochs=1, k=3, lam=0.05, seed=1)
    assert np.array_equal(a[0], b[0])


def test_resume():
    kw = dict(k=3, lam=0.05, seed=2)
    W3, H3, _ = _run(2, n_epochs=3, **kw)
    W2, H2, _ = _run(3, n_epochs=2, **kw)

    def fn(comm):
        m = ALS(**kw).setup(comm, _share(TRAIN, comm.rank, comm.size), M, N)
        m.load_state({"epoch": 2}, lambda which, lo, hi: (W2 if which == "W" else H2)[lo:hi])
        m.run_epoch()
        return m.local_factors()
    res = run_ranks(2, fn)
    for lf in res:
        (wlo, w), = lf["W"]
        assert np.array_equal(w, W3[wlo:wlo + len(w)])


def test_reaches_noise_level_on_synthetic_data():
    data = synthetic_ratings(300, 200, rank=3, density=0.5, noise=0.2, offset=3.0, seed=1)
    va = np.random.default_rng(0).random(data.users.size) < 0.1
    tr = (data.users[~va], data.items[~va], data.values[~va])
    vl = (data.users[va], data.items[va], data.values[va])

    def fn(comm):
        m = ALS(k=4, lam=0.01, seed=3).setup(comm, _share(tr, comm.rank, comm.size), 300, 200,
                                              _share(vl, comm.rank, comm.size))
        for _ in range(10):
            rec = m.run_epoch()
        return rec
    rec = run_ranks(3, fn)[0]
    assert rec["valid_rmse"] < 1.1 * data.noise
