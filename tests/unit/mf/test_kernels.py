"""Numba MF kernels against the plain-Python references in tests/naive/mf.py."""

import numpy as np
import pytest

from mpiml.mf import kernels
from tests.naive import mf as naive


def _block(seed=0, m=15, n=12, nnz=60, k=5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    flat = rng.choice(m * n, nnz, replace=False)
    u, i = (flat // n).astype(np.int32), (flat % n).astype(np.int32)
    r = rng.normal(3, 1, nnz).astype(dtype)
    W = rng.random((m, k)).astype(dtype) * 0.5
    H = rng.random((n, k)).astype(dtype) * 0.5
    return W, H, u, i, r


def _scratch(n):
    return np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.float64)


@pytest.mark.parametrize("n,seed", [(0, 1), (1, 2), (2, 3), (17, 4), (1000, 2**63 + 5)])
def test_shuffled_order_matches_python_and_is_a_permutation(n, seed):
    out = np.empty(n, np.int64)
    kernels.shuffled_order(n, np.uint64(seed), out)
    assert out.tolist() == naive.py_shuffled_order(n, seed)
    assert sorted(out.tolist()) == list(range(n))


def test_sgd_block_matches_python():
    W, H, u, i, r = _block()
    W2, H2 = W.copy(), H.copy()
    seed = np.uint64(12345)
    sse = kernels.sgd_block(W, H, u, i, r, *_scratch(len(u)), 0.05, 0.1, seed)
    sse2 = naive.py_sgd_block(W2, H2, u, i, r, 0.05, 0.1, int(seed))
    np.testing.assert_allclose(W, W2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(H, H2, rtol=1e-12, atol=1e-12)
    assert sse == pytest.approx(sse2, rel=1e-12)


def test_sgd_block_float32_close_to_float64():
    W, H, u, i, r = _block(dtype=np.float32)
    W2, H2 = W.astype(np.float64), H.astype(np.float64)
    scr = (np.empty(len(u), np.int32), np.empty(len(u), np.int32), np.empty(len(u), np.float32))
    kernels.sgd_block(W, H, u, i, r, *scr, 0.05, 0.1, np.uint64(7))
    naive.py_sgd_block(W2, H2, u, i, r.astype(np.float64), 0.05, 0.1, 7)
    np.testing.assert_allclose(W, W2, rtol=1e-4, atol=1e-5)


def test_sgd_block_leaves_untouched_rows_alone():
    W, H, u, i, r = _block()
    W0 = W.copy()
    keep = np.setdiff1d(np.arange(len(W)), u)
    kernels.sgd_block(W, H, u, i, r, *_scratch(len(u)), 0.05, 0.1, np.uint64(1))
    assert np.array_equal(W[keep], W0[keep])


def test_sgd_sampled_matches_python_and_chunks_compose():
    W, H, u, i, r = _block(1)
    W2, H2, W3, H3 = W.copy(), H.copy(), W.copy(), H.copy()
    seed = np.uint64(99)
    kernels.sgd_sampled(W, H, u, i, r, 0.03, 0.05, seed, 0, 150)
    naive.py_sgd_sampled(W2, H2, u, i, r, 0.03, 0.05, int(seed), 0, 150)
    np.testing.assert_allclose(W, W2, rtol=1e-12, atol=1e-12)
    for start, c in [(0, 40), (40, 1), (41, 109)]:
        kernels.sgd_sampled(W3, H3, u, i, r, 0.03, 0.05, seed, start, c)
    assert np.array_equal(W, W3) and np.array_equal(H, H3)


def test_block_loss_matches_python():
    W, H, u, i, r = _block(2)
    sse, reg = kernels.block_loss(W, H, u, i, r)
    sse2, reg2 = naive.py_block_loss(W, H, u, i, r)
    assert sse == pytest.approx(sse2, rel=1e-12) and reg == pytest.approx(reg2, rel=1e-12)
    assert kernels.block_loss(W, H, u[:0], i[:0], r[:0]) == (0.0, 0.0)


@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_block_loss_normed_matches_python(dtype, rel):
    W, H, u, i, r = _block(3, dtype=dtype)
    nw, nh = np.empty(len(W)), np.empty(len(H))
    kernels.row_norms(W, nw)
    kernels.row_norms(H, nh)
    W64, H64 = W.astype(np.float64), H.astype(np.float64)
    assert nw == pytest.approx(np.sum(W64 * W64, axis=1), rel=1e-12)
    sse, reg = kernels.block_loss_normed(W, H, nw, nh, u, i, r)
    sse2, reg2 = naive.py_block_loss(W64, H64, u, i, r.astype(np.float64))
    assert sse == pytest.approx(sse2, rel=rel) and reg == pytest.approx(reg2, rel=1e-12)
    # a row's norm does not depend on which rows surround it
    sub = np.empty(5)
    kernels.row_norms(W[3:8].copy(), sub)
    assert np.array_equal(sub, nw[3:8])
    assert kernels.block_loss_normed(W, H, nw, nh, u[:0], i[:0], r[:0]) == (0.0, 0.0)


def test_predict_pairs_and_sum_squares():
    W, H, u, i, r = _block(3)
    out = np.empty(len(u))
    kernels.predict_pairs(W, H, u, i, out)
    np.testing.assert_allclose(out, np.einsum("ij,ij->i", W[u], H[i]))
    assert kernels.sum_squares(r) == pytest.approx(float(np.dot(r, r)))


@pytest.mark.parametrize("k", [1, 3, 8])
def test_als_rows_match_dense_solve(k):
    rng = np.random.default_rng(k)
    n_rows, n_cols = 9, 14
    F = rng.normal(size=(n_cols, k))
    ents = [sorted((int(c), float(rng.normal())) for c in rng.choice(n_cols, rng.integers(0, 8), replace=False))
            for _ in range(n_rows)]
    indptr = np.concatenate([[0], np.cumsum([len(e) for e in ents])]).astype(np.int64)
    cols = np.array([c for e in ents for c, _ in e], dtype=np.int64)
    vals = np.array([v for e in ents for _, v in e])
    out = np.full((n_rows, k), np.nan)
    kernels.als_solve_rows(indptr, cols, vals, F, 0.3, out)
    np.testing.assert_allclose(out, naive.py_als_rows(ents, F, 0.3, k), rtol=1e-9, atol=1e-12)
    assert all(not out[a].any() for a, e in enumerate(ents) if not e)


def _row_state(m, n, dtype, seed=5):
    rng = np.random.default_rng(seed)
    return (np.ones((m, 2), dtype), np.ones((n, 2), dtype), rng.normal(0, 0.1, m).astype(dtype),
            rng.normal(0, 0.1, n).astype(dtype))


@pytest.mark.parametrize("slow_only", [False, True])
@pytest.mark.parametrize("adaptive,bias", [(True, False), (False, True), (True, True)])
def test_sgd_block_rows_matches_python(adaptive, bias, slow_only):
    W, H, u, i, r = _block(4)
    GW, GH, BW, BH = _row_state(len(W), len(H), np.float64)
    ref = [a.copy() for a in (W, H, GW, GH, BW, BH)]
    seed = np.uint64(2024)
    W0 = W.copy()
    sse = kernels.sgd_block_rows(W, H, GW, GH, BW, BH, u, i, r, *_scratch(len(u)), 0.1, 0.05, 3.0, seed,
                                 adaptive, bias, 2, slow_only)
    sse2 = naive.py_sgd_block_rows(*ref, u, i, r, 0.1, 0.05, 3.0, int(seed), adaptive, bias, 2, slow_only)
    for got, want in zip((W, H, GW, GH, BW, BH), ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert sse == pytest.approx(sse2, rel=1e-12)
    seen, unseen = np.unique(u), np.setdiff1d(np.arange(len(W)), u)
    if adaptive:    # every visited row accumulated its squared gradients
        assert (GW[seen, 0] > 1).all() and (GH[np.unique(i), 0] > 1).all() and (GW[unseen] == 1).all()
        # the fast coordinates (2..4) rest in the first epoch, and only then
        assert ((GW[seen, 1] == 1).all() and np.array_equal(W[:, 2:], W0[:, 2:])) == slow_only
    else:
        assert (GW == 1).all()


def test_sgd_block_rows_first_step_is_eta0():
    """G starts at 1, so a single rating's update is a plain SGD step of size eta0."""
    W, H, u, i, r = _block(6)
    W2, H2 = W.copy(), H.copy()
    GW, GH, BW, BH = _row_state(len(W), len(H), np.float64)
    e = np.empty(0)
    kernels.sgd_block_rows(W, H, GW, GH, e, e, u[:1], i[:1], r[:1], *_scratch(1), 0.1, 0.05, 0.0,
                           np.uint64(1), True, False, 2, False)
    naive.py_sgd_block(W2, H2, u[:1], i[:1], r[:1], 0.1, 0.05, 1)
    np.testing.assert_allclose(W, W2, rtol=1e-12)
    np.testing.assert_allclose(H, H2, rtol=1e-12)
    assert GW[u[0], 0] > 1 and GH[i[0], 0] > 1 and GW[u[0], 1] > 1


def test_sgd_block_rows_float32_computes_in_float32_close_to_float64():
    W, H, u, i, r = _block(7, dtype=np.float32)
    st = _row_state(len(W), len(H), np.float32)
    W2, H2, st2 = W.astype(np.float64), H.astype(np.float64), [a.astype(np.float64) for a in st]
    scr = (np.empty(len(u), np.int32), np.empty(len(u), np.int32), np.empty(len(u), np.float32))
    for t in range(5):
        kernels.sgd_block_rows(W, H, *st, u, i, r, *scr, 0.1, 0.05, 3.0, np.uint64(t), True, True, 2, t == 0)
        kernels.sgd_block_rows(W2, H2, *st2, u, i, r.astype(np.float64), *_scratch(len(u)), 0.1, 0.05, 3.0,
                               np.uint64(t), True, True, 2, t == 0)
    assert W.dtype == st[0].dtype == np.float32
    np.testing.assert_allclose(W, W2, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(st[0], st2[0], rtol=1e-3)
    assert not np.array_equal(W, W2.astype(np.float32))     # really float32 arithmetic


@pytest.mark.parametrize("adaptive,bias", [(True, False), (True, True), (False, True)])
def test_sgd_sampled_rows_matches_python_and_chunks_compose(adaptive, bias):
    W, H, u, i, r = _block(8)
    st = _row_state(len(W), len(H), np.float64)
    ref = [a.copy() for a in (W, H, *st)]
    again = [a.copy() for a in (W, H, *st)]
    seed = np.uint64(77)
    kernels.sgd_sampled_rows(W, H, *st, u, i, r, 0.1, 0.05, 2.5, seed, 0, 120, adaptive, bias, 3, False)
    naive.py_sgd_sampled_rows(*ref, u, i, r, 0.1, 0.05, 2.5, int(seed), 0, 120, adaptive, bias, 3, False)
    for got, want in zip((W, H, *st), ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for start, c in [(0, 50), (50, 70)]:
        kernels.sgd_sampled_rows(*again, u, i, r, 0.1, 0.05, 2.5, seed, start, c, adaptive, bias, 3, False)
    assert all(np.array_equal(a, b) for a, b in zip(again, (W, H, *st)))


@pytest.mark.parametrize("dtype,rel", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_block_loss_bias_normed_matches_python(dtype, rel):
    W, H, u, i, r = _block(9, dtype=dtype)
    _, _, BW, BH = _row_state(len(W), len(H), dtype)
    nw, nh = np.empty(len(W)), np.empty(len(H))
    kernels.row_norms(W, nw)
    kernels.row_norms(H, nh)
    sse, reg = kernels.block_loss_bias_normed(W, H, BW, BH, 3.0, nw, nh, u, i, r)
    f64 = [np.asarray(a, np.float64) for a in (W, H, BW, BH)]
    sse2, reg2 = naive.py_block_loss_bias(*f64, 3.0, u, i, r.astype(np.float64))
    assert sse == pytest.approx(sse2, rel=rel) and reg == pytest.approx(reg2, rel=1e-12)
    assert kernels.block_loss_bias_normed(W, H, BW, BH, 3.0, nw, nh, u[:0], i[:0], r[:0]) == (0.0, 0.0)
    assert kernels.sum_values(r) == pytest.approx(float(np.sum(r.astype(np.float64))), rel=1e-12)


def test_rows_kernels_one_specialisation_per_variant_and_all_slow_rows_stay_finite():
    """Each (adaptive, bias, slow_only) has its own compiled kernel (slow_only
    only exists for adaptive); with ks == k (k = 1) the empty fast part leaves
    its accumulator at 1 instead of dividing by zero."""
    variants = {(a, b, s) for a in (False, True) for b in (False, True) for s in (False, True)}
    kerns = {v: kernels.rows_kernels(*v) for v in variants}
    assert len({id(k[0]) for k in kerns.values()}) == 6
    assert kerns[(False, True, True)] is kerns[(False, True, False)]
    W, H, u, i, r = _block(10, k=1)
    GW, GH, BW, BH = _row_state(len(W), len(H), np.float64)
    ref = [a.copy() for a in (W, H, GW, GH, BW, BH)]
    kernels.sgd_block_rows(W, H, GW, GH, BW, BH, u, i, r, *_scratch(len(u)), 0.1, 0.05, 3.0, np.uint64(3),
                           True, True, 1, False)
    naive.py_sgd_block_rows(*ref, u, i, r, 0.1, 0.05, 3.0, 3, True, True, 1, False)
    assert (GW[:, 1] == 1).all() and (GH[:, 1] == 1).all() and (GW[np.unique(u), 0] > 1).all()
    for got, want in zip((W, H, GW, GH, BW, BH), ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
