"""Seeded synthetic sparse regression problems for the Lasso.

``make_regression``: Gaussian features, a sparse true coefficient vector,
Gaussian noise.  ``make_correlated``: the same, but the columns come in
highly correlated pairs (``x_b = c x_a + sqrt(1 - c^2) e``) placed at random
positions, plus a weak common factor, so that updating both columns of a
pair in one round overshoots: the case STRADS's dependency check is for.
"""

from __future__ import annotations

import numpy as np


def make_regression(n: int, d: int, n_informative: int = 0, noise: float = 0.5, seed: int = 0):
    """``X`` (n x d, N(0, 1)), ``y`` and the true coefficients (the first
    ``n_informative`` of a random permutation are N(0, 1); default d // 10)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    k = n_informative or max(1, d // 10)
    coef = np.zeros(d)
    coef[rng.permutation(d)[:k]] = rng.standard_normal(k)
    y = X @ coef + noise * rng.standard_normal(n)
    return X, y, coef


def make_correlated(n: int, d: int, corr: float = 0.99, common: float = 0.3,
                    n_informative: int = 0, noise: float = 0.5, seed: int = 0):
    """Columns in pairs with correlation ~``corr`` (partners at random
    positions), every column also loading ``common`` on one shared factor.
    Returns ``X, y, coef, pairs`` (``pairs``: (d // 2) x 2 column indices)."""
    rng = np.random.default_rng(seed)
    m = d // 2
    Z = rng.standard_normal((n, m))
    E = rng.standard_normal((n, m))
    A = Z
    B = corr * Z + np.sqrt(1.0 - corr * corr) * E
    cols = np.empty((n, d))
    perm = rng.permutation(d)
    pairs = perm[:2 * m].reshape(m, 2)
    cols[:, pairs[:, 0]] = A
    cols[:, pairs[:, 1]] = B
    if d % 2:
        cols[:, perm[-1]] = rng.standard_normal(n)
    f = rng.standard_normal((n, 1))
    X = np.sqrt(1.0 - common * common) * cols + common * f
    k = n_informative or max(1, d // 10)
    coef = np.zeros(d)
    coef[rng.permutation(d)[:k]] = rng.standard_normal(k)
    y = X @ coef + noise * rng.standard_normal(n)
    return X, y, coef, pairs
