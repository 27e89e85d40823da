"""Lasso / elastic net on one process (SerialComm) against the serial
references in tests/naive/lasso.py and against scikit-learn's optimum."""

import numpy as np
import pytest

from mpiml.comm import SerialComm
from mpiml.datasets.regression import make_correlated, make_regression
from mpiml.lasso.solver import Lasso
from mpiml.runtime.faults import Straggler
from mpiml.sched import ConflictGraph, Scheduler
from tests.naive import lasso as naive


def fit(X, y, tmp_path, iters=1000, **kw):
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    a = Lasso(data=str(tmp_path / "X.npy"), labels=str(tmp_path / "y.npy"), **kw)
    c = SerialComm()
    a.setup(c)
    a.initialize(c)
    hist = []
    for it in range(1, iters + 1):
        m = a.step(c, it, Straggler(None, 0))
        hist.append(m)
        if a.converged_:
            break
    a.finish(c)
    return a, hist


@pytest.fixture(scope="module")
def small():
    X, y, _ = make_regression(120, 15, n_informative=5, seed=3)
    return X, y


@pytest.mark.parametrize("l1_ratio", [1.0, 0.6])
def test_cyclic_one_coordinate_per_round_is_plain_coordinate_descent(small, tmp_path, l1_ratio):
    X, y = small
    a, hist = fit(X, y, tmp_path, iters=6, alpha=0.05, l1_ratio=l1_ratio, schedule="cyclic",
                  parallel=1, tol=0.0)
    beta, r, objs = naive.cd_cyclic(X, y, 0.05, l1_ratio, sweeps=6)
    # Same coordinates in the same order; the kernels' dot products are
    # vectorised (reassociated), so agreement is to rounding, not bitwise.
    np.testing.assert_allclose(a.beta_, beta, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.r_, r, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose([h["objective"] for h in hist], objs, rtol=1e-13)
    assert np.array_equal(a.beta_ == 0, beta == 0)


@pytest.mark.parametrize("kind", ["sap", "random", "cyclic"])
def test_parallel_rounds_equal_the_serial_replay(small, tmp_path, kind):
    X, y = small
    a, hist = fit(X, y, tmp_path, iters=5, alpha=0.02, schedule=kind, parallel=6, rounds=3,
                  tol=0.0, seed=4, rho=0.2)
    g = ConflictGraph.from_pairs(15, naive.conflict_pairs(X, 0.2))
    if kind == "sap":
        assert g.n_edges == a.n_conflicts_ > 0
    s = Scheduler(kind, 15, 6, seed=4, conflicts=g)
    beta, r, objs = naive.replay(X, y, 0.02, s, 15)
    np.testing.assert_allclose(a.beta_, beta, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose([h["objective"] for h in hist], objs[2::3], rtol=1e-12)


def _sk_objective(X, y, coef, alpha, l1_ratio):
    return naive.objective(X, y, coef, alpha, l1_ratio)


@pytest.mark.parametrize("l1_ratio,alpha", [(1.0, 0.5), (0.5, 0.3)])
def test_optimum_matches_scikit_learn_on_diabetes(tmp_path, l1_ratio, alpha):
    sk = pytest.importorskip("sklearn")
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import ElasticNet
    from sklearn.preprocessing import StandardScaler
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ref = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-12,
                     max_iter=100000).fit(X, y)
    f_ref = _sk_objective(X, y, ref.coef_, alpha, l1_ratio)
    for kind in ("sap", "random", "cyclic"):
        a, _ = fit(X, y, tmp_path, alpha=alpha, l1_ratio=l1_ratio, schedule=kind, parallel=4,
                   tol=1e-12, iters=20000)
        assert a.converged_, kind
        f = naive.objective(X, y, a.beta_, alpha, l1_ratio)
        assert abs(f - f_ref) <= 1e-6 * f_ref, (kind, f, f_ref)
        assert np.array_equal(np.flatnonzero(a.beta_), np.flatnonzero(ref.coef_)), kind
        assert naive.gap(X, y, a.beta_, alpha, l1_ratio) <= 1e-12 * (y @ y)
    assert sk


def test_optimum_matches_scikit_learn_on_synthetic_10k_by_1k(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import Lasso as SKLasso
    X, y, _ = make_regression(10_000, 1_000, n_informative=50, seed=5)
    alpha = 0.05
    ref = SKLasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=10000).fit(X, y)
    f_ref = naive.objective(X, y, ref.coef_, alpha)
    a, _ = fit(X, y, tmp_path, alpha=alpha, schedule="sap", parallel=32, tol=1e-12, iters=2000)
    assert a.converged_
    f = naive.objective(X, y, a.beta_, alpha)
    assert abs(f - f_ref) <= 1e-6 * f_ref
    assert np.array_equal(np.flatnonzero(a.beta_), np.flatnonzero(ref.coef_))


def test_standardize_and_intercept_match_scikit_learn(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Lasso as SKLasso
    from sklearn.preprocessing import StandardScaler
    X, y = load_diabetes(return_X_y=True)
    X = X * 7.0 + 3.0                                    # raw units far from standard
    Xs = StandardScaler().fit_transform(X)
    ref = SKLasso(alpha=0.4, tol=1e-12, max_iter=100000).fit(Xs, y)   # fit_intercept=True
    a, _ = fit(X, y, tmp_path, alpha=0.4, schedule="cyclic", parallel=1, tol=1e-12, iters=20000,
               standardize=True, intercept=True)
    np.testing.assert_allclose(a.beta_, ref.coef_, rtol=1e-7, atol=1e-9)
    # in raw units: the same predictions as scikit-learn's pipeline
    from mpiml.lasso.solver import predict
    np.testing.assert_allclose(predict(a.coef_, a.intercept_, X), ref.predict(Xs), rtol=1e-9)


@pytest.mark.filterwarnings("ignore:'n_alphas' was deprecated")
def test_path_matches_scikit_learn_lasso_path(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import lasso_path
    X, y, _ = make_regression(300, 20, n_informative=6, seed=8)
    alphas, coefs, _ = lasso_path(X, y, n_alphas=6, eps=1e-2, tol=1e-12, max_iter=100000)
    a, _ = fit(X, y, tmp_path, n_alphas=6, eps=1e-2, schedule="sap", parallel=4, tol=1e-12,
               iters=20000)
    assert a.converged_ and len(a.path_) == 6
    np.testing.assert_allclose(a.alphas_, alphas, rtol=1e-12)
    for k in range(6):
        f_ref = naive.objective(X, y, coefs[:, k], alphas[k])
        f = naive.objective(X, y, a.path_coef_[k], alphas[k])
        assert abs(f - f_ref) <= 1e-8 * f_ref
        assert np.array_equal(a.path_coef_[k] != 0, coefs[:, k] != 0)


def test_correlated_pairs_random_is_not_monotone_sap_is_and_converges(tmp_path):
    # Pairs of columns with correlation 0.99 at random positions.  Updating
    # both of a pair in one round overshoots (each corrects the same error);
    # SAP's dependency check (rho 0.1) never schedules a pair together.
    X, y, _, pairs = make_correlated(1000, 200, corr=0.99, common=0.0, seed=1)
    kw = dict(alpha=0.01, parallel=100, rounds=1, tol=1e-6, iters=6000)
    rnd, hr = fit(X, y, tmp_path, schedule="random", **kw)
    sap, hs = fit(X, y, tmp_path, schedule="sap", **kw)
    f0 = 0.5 * y @ y / len(y)
    fr = np.array([f0] + [h["objective"] for h in hr])
    fs = np.array([f0] + [h["objective"] for h in hs])
    assert (np.diff(fr) > 0).any(), "random with P = 100 should increase the objective in some round"
    assert (np.diff(fs) <= 1e-12 * fs[:-1]).all(), "sap should decrease the objective every round"
    assert sap.converged_
    assert sum(h["rejected"] for h in hs) > 0
    g = sap.sched_.conflicts
    for a, b in pairs:
        assert b in g.neighbours(a)


def test_more_features_than_rows_and_zero_columns(tmp_path):
    X, y, _ = make_regression(30, 80, n_informative=4, seed=2)
    X[:, 7] = 0.0
    a, _ = fit(X, y, tmp_path, alpha=0.05, schedule="sap", parallel=8, tol=1e-10, iters=5000)
    assert a.converged_ and a.beta_[7] == 0.0
    assert naive.gap(X, y, a.beta_, 0.05) <= 1e-10 * (y @ y)
