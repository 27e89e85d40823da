"""Numba kernels against the plain-numpy reference and finite differences."""

import numpy as np
import pytest
import scipy.sparse as sp

from mpiml.linear import kernels
from tests.naive.linear import loss_and_slope, minibatch_gradient, objective

LOSS = {"logistic": kernels.LOGISTIC, "hinge": kernels.HINGE}
PEN = {"none": kernels.NONE, "l2": kernels.L2, "l1": kernels.L1}


@pytest.fixture
def problem():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 6))
    X[rng.random(X.shape) < 0.5] = 0.0
    y = np.where(rng.random(40) < 0.5, -1.0, 1.0)
    w = rng.normal(size=7) * 0.5
    return X, y, w


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
@pytest.mark.parametrize("penalty", ["none", "l2", "l1"])
def test_dense_and_csr_gradients_match_reference(problem, loss, penalty):
    X, y, w = problem
    rows = np.array([3, 1, 4, 1, 5, 9, 2, 6, 35], dtype=np.int64)
    ref = minibatch_gradient(X, y, rows, w, loss, penalty, 0.3)
    for sparse in (False, True):
        g = np.zeros(7)
        if sparse:
            C = sp.csr_matrix(X)
            s = kernels.grad_csr(C.indptr.astype(np.int64), C.indices.astype(np.int64), C.data, 6, y, rows, w,
                                 LOSS[loss], g)
        else:
            s = kernels.grad_dense(X, y, rows, w, LOSS[loss], g)
        g /= rows.size
        kernels.add_penalty(w, 6, 0.3, PEN[penalty], g, 1.0)
        np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-14)
        lv, _ = loss_and_slope(X[rows] @ w[:6] + w[6], y[rows], loss)
        assert s == pytest.approx(lv.sum(), rel=1e-12)


def test_logistic_gradient_is_the_derivative(problem):
    X, y, w = problem
    rows = np.arange(40, dtype=np.int64)
    g = minibatch_gradient(X, y, rows, w, "logistic", "l2", 0.1)
    eps = 1e-6
    num = [(objective(X, y, w + eps * e, "logistic", "l2", 0.1) - objective(X, y, w - eps * e, "logistic", "l2", 0.1))
           / (2 * eps) for e in np.eye(7)]
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_margins_and_scores(problem):
    X, y, w = problem
    z = kernels.margins_dense(X, w)
    C = sp.csr_matrix(X)
    zc = kernels.margins_csr(C.indptr.astype(np.int64), C.indices.astype(np.int64), C.data, 6, w)
    np.testing.assert_allclose(z, X @ w[:6] + w[6], rtol=1e-12)
    np.testing.assert_allclose(zc, z, rtol=1e-12)
    total, correct, ll = kernels.scores(z, y, kernels.HINGE)
    assert total == pytest.approx(np.maximum(0, 1 - y * z).sum())
    assert correct == int(((z >= 0) == (y > 0)).sum())
    assert ll == pytest.approx(np.logaddexp(0, -y * z).sum())


def test_logistic_is_stable_for_huge_margins():
    z = np.array([800.0, -800.0])
    y = np.array([1.0, 1.0])
    total, _, _ = kernels.scores(z, y, kernels.LOGISTIC)
    assert np.isfinite(total) and total == pytest.approx(800.0)
