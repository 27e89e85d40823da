"""Seeded synthetic binary classification data for linear models.

Labels come from a random hyperplane with some label noise, so the classes
are separable up to the flipped fraction ("separable-ish").  Dense or
sparse (CSR, a fixed number of non-zeros per row), and a LIBSVM writer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp


def make_classification(n: int, d: int, seed: int = 0, nnz_per_row: int | None = None,
                        flip: float = 0.05, scale: float = 1.0):
    """``n`` examples with ``d`` features and labels in {-1, +1}.

    Parameters
    ----------
    nnz_per_row : None for dense ``X``; otherwise ``X`` is a CSR matrix with
        that many non-zeros per row (distinct random columns, sorted).
    flip : fraction of labels flipped after thresholding the true margin.
    scale : features are ``N(0, scale^2)``.

    Returns
    -------
    X : ndarray (n, d) or scipy.sparse.csr_matrix
    y : ndarray (n,) of -1.0 / +1.0
    w : ndarray (d + 1,), the true hyperplane (last entry: intercept)
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d + 1)
    w[-1] *= 0.5
    if nnz_per_row is None:
        X = rng.normal(0.0, scale, size=(n, d))
        z = X @ w[:-1] + w[-1]
    else:
        k = min(int(nnz_per_row), d)
        cols = np.argsort(rng.random((n, d)), axis=1)[:, :k] if d <= 4096 else \
            np.stack([rng.choice(d, k, replace=False) for _ in range(n)])
        cols = np.sort(cols, axis=1)
        vals = rng.normal(0.0, scale, size=(n, k))
        indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
        X = sp.csr_matrix((vals.reshape(-1), cols.reshape(-1), indptr), shape=(n, d))
        z = X @ w[:-1] + w[-1]
    y = np.where(z >= 0, 1.0, -1.0)
    flips = rng.random(n) < flip
    y[flips] *= -1.0
    return X, y, w


def write_libsvm(path, X, y, zero_one: bool = False, comment: str | None = None) -> Path:
    """Write ``X`` (dense or CSR) and labels in LIBSVM format (1-based indices;
    labels 0/1 if ``zero_one`` else -1/+1)."""
    path = Path(path)
    Xc = sp.csr_matrix(X)
    labels = np.where(np.asarray(y) > 0, 1, 0 if zero_one else -1)
    with open(path, "w", encoding="utf-8") as f:
        if comment:
            f.write(f"# {comment}\n")
        for i in range(Xc.shape[0]):
            a, b = Xc.indptr[i], Xc.indptr[i + 1]
            feats = " ".join(f"{j + 1}:{v:.17g}" for j, v in zip(Xc.indices[a:b], Xc.data[a:b]))
            lab = f"{labels[i]:+d}" if not zero_one else str(labels[i])
            f.write(f"{lab} {feats}\n" if feats else f"{lab}\n")
    return path
