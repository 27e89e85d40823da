"""Numba kernels for linear classifiers (arrays in, arrays out).

Labels are -1/+1.  The weight vector ``w`` has ``d + 1`` entries (or more:
trailing padding is ignored); ``w[d]`` is the intercept.  Loss codes:
``LOGISTIC`` (log(1 + exp(-y z))) and ``HINGE`` (max(0, 1 - y z)); penalty
codes ``NONE``, ``L2`` (alpha/2 ||w||^2) and ``L1`` (alpha ||w||_1), never
applied to the intercept.  Sparse rows are CSR (``indptr``, ``indices``
0-based, ``values``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

LOGISTIC, HINGE = 0, 1
NONE, L2, L1 = 0, 1, 2


@njit(cache=True)
def _loss_and_slope(z, y, loss):
    """Loss at margin ``z`` and its derivative with respect to ``z``."""
    m = y * z
    if loss == LOGISTIC:
        if m > 0:
            e = np.exp(-m)
            return np.log1p(e), -y * e / (1.0 + e)
        e = np.exp(m)
        return -m + np.log1p(e), -y / (1.0 + e)
    if m < 1.0:
        return 1.0 - m, -y
    return 0.0, 0.0


@njit(cache=True)
def grad_dense(X, y, rows, w, loss, g):
    """Add the summed loss gradient over ``rows`` of dense ``X`` to ``g``
    (same layout as ``w``); returns the summed loss."""
    d = X.shape[1]
    total = 0.0
    for t in range(rows.size):
        i = rows[t]
        z = w[d]
        for j in range(d):
            z += X[i, j] * w[j]
        lv, s = _loss_and_slope(z, y[i], loss)
        total += lv
        if s != 0.0:
            for j in range(d):
                g[j] += s * X[i, j]
            g[d] += s
    return total


@njit(cache=True)
def grad_csr(indptr, indices, values, d, y, rows, w, loss, g):
    """As :func:`grad_dense` for CSR rows with ``d`` features."""
    total = 0.0
    for t in range(rows.size):
        i = rows[t]
        z = w[d]
        for p in range(indptr[i], indptr[i + 1]):
            z += values[p] * w[indices[p]]
        lv, s = _loss_and_slope(z, y[i], loss)
        total += lv
        if s != 0.0:
            for p in range(indptr[i], indptr[i + 1]):
                g[indices[p]] += s * values[p]
            g[d] += s
    return total


@njit(cache=True)
def margins_dense(X, w):
    n, d = X.shape
    z = np.empty(n)
    for i in range(n):
        s = w[d]
        for j in range(d):
            s += X[i, j] * w[j]
        z[i] = s
    return z


@njit(cache=True)
def margins_csr(indptr, indices, values, d, w):
    n = indptr.size - 1
    z = np.empty(n)
    for i in range(n):
        s = w[d]
        for p in range(indptr[i], indptr[i + 1]):
            s += values[p] * w[indices[p]]
        z[i] = s
    return z


@njit(cache=True)
def scores(z, y, loss):
    """(summed loss, correct predictions, summed log-loss of sigmoid(z)) for
    margins ``z`` and labels ``y``."""
    total = 0.0
    correct = 0
    logloss = 0.0
    for i in range(z.size):
        lv, _ = _loss_and_slope(z[i], y[i], loss)
        total += lv
        if (z[i] >= 0.0) == (y[i] > 0.0):
            correct += 1
        ll, _ = _loss_and_slope(z[i], y[i], LOGISTIC)
        logloss += ll
    return total, correct, logloss


@njit(cache=True)
def add_penalty(w, d, alpha, penalty, g, scale):
    """Add ``scale`` x the penalty's (sub)gradient at ``w[:d]`` to ``g[:d]``;
    returns the penalty value."""
    value = 0.0
    if penalty == L2:
        for j in range(d):
            g[j] += scale * alpha * w[j]
            value += 0.5 * alpha * w[j] * w[j]
    elif penalty == L1:
        for j in range(d):
            if w[j] > 0.0:
                g[j] += scale * alpha
            elif w[j] < 0.0:
                g[j] -= scale * alpha
            value += alpha * abs(w[j])
    return value
