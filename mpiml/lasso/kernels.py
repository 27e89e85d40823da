"""Numba kernels of scheduled coordinate descent (arrays in, arrays out).

Coordinate update (as scikit-learn's ``enet_coordinate_descent``, with
``l1 = n alpha l1_ratio`` and ``l2 = n alpha (1 - l1_ratio)``)::

    z_j   = x_j . r + ||x_j||^2 beta_j
    new_j = sign(z_j) max(|z_j| - l1, 0) / (||x_j||^2 + l2)

Within a round every scheduled coordinate's ``z_j`` is computed from the
residual at the start of the round (the parallel, Shotgun/STRADS semantics);
only then is the residual changed by ``-(new_j - beta_j) x_j``.  A column of
zero norm keeps its coefficient.

Dense local columns are ``XT[k]`` (C-contiguous rows); sparse ones are CSC
(``indptr``, ``indices``, ``values``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorise the dot products and updates; NaN/Inf
# semantics are kept and results stay deterministic for a given build.
FAST = {"reassoc", "contract"}


@njit(cache=True, fastmath=FAST, inline="always")
def _soft(z, l1, denom):
    if z > l1:
        return (z - l1) / denom
    if z < -l1:
        return (z + l1) / denom
    return 0.0


@njit(cache=True, fastmath=FAST)
def _dot_dense(XT, k, r):
    s = 0.0
    for i in range(r.size):
        s += XT[k, i] * r[i]
    return s


@njit(cache=True, fastmath=FAST)
def _dot_csc(indptr, indices, values, k, r):
    s = 0.0
    for q in range(indptr[k], indptr[k + 1]):
        s += values[q] * r[indices[q]]
    return s


@njit(cache=True, fastmath=FAST)
def round_dense(XT, loc, glob, r, beta, norms, l1, l2, dr, newb):
    """One rank's share of a round (several ranks): for local column
    ``loc[t]`` (global ``glob[t]``) write the new coefficient to ``newb[t]``
    and add ``-(new - old) x_j`` to ``dr``.  ``r`` and ``beta`` are not
    changed (the caller applies the reduced round)."""
    for t in range(loc.size):
        k, j = loc[t], glob[t]
        nj = norms[k]
        if nj == 0.0:
            newb[t] = beta[j]
            continue
        z = _dot_dense(XT, k, r) + nj * beta[j]
        b = _soft(z, l1, nj + l2)
        newb[t] = b
        d = b - beta[j]
        if d != 0.0:
            for i in range(r.size):
                dr[i] -= d * XT[k, i]


@njit(cache=True, fastmath=FAST)
def round_csc(indptr, indices, values, loc, glob, r, beta, norms, l1, l2, dr, newb):
    """:func:`round_dense` for CSC columns."""
    for t in range(loc.size):
        k, j = loc[t], glob[t]
        nj = norms[k]
        if nj == 0.0:
            newb[t] = beta[j]
            continue
        z = _dot_csc(indptr, indices, values, k, r) + nj * beta[j]
        b = _soft(z, l1, nj + l2)
        newb[t] = b
        d = b - beta[j]
        if d != 0.0:
            for q in range(indptr[k], indptr[k + 1]):
                dr[indices[q]] -= d * values[q]


@njit(cache=True, fastmath=FAST)
def apply_round(r, dr, beta, sel, newb, prio, eta):
    """After the reduction: ``r += dr``, ``beta[sel] = newb``, priorities
    ``(new - old)^2 + eta``.  Returns the largest |change|."""
    for i in range(r.size):
        r[i] += dr[i]
    dmax = 0.0
    for t in range(sel.size):
        j = sel[t]
        d = newb[t] - beta[j]
        beta[j] = newb[t]
        prio[j] = d * d + eta
        if abs(d) > dmax:
            dmax = abs(d)
    return dmax


@njit(cache=True, fastmath=FAST)
def rounds_dense(XT, sched, r, beta, norms, l1, l2, prio, eta, newb):
    """Whole rounds on one rank holding every column (``XT[j]`` = column j).
    ``sched``: rounds x slots of coordinates, -1 = empty slot.  Updates
    ``r``, ``beta`` and ``prio`` in place; returns the largest |change|."""
    dmax = 0.0
    for s in range(sched.shape[0]):
        P = sched.shape[1]
        for t in range(P):
            j = sched[s, t]
            if j < 0:
                continue
            nj = norms[j]
            if nj == 0.0:
                newb[t] = beta[j]
            else:
                newb[t] = _soft(_dot_dense(XT, j, r) + nj * beta[j], l1, nj + l2)
        for t in range(P):
            j = sched[s, t]
            if j < 0:
                continue
            d = newb[t] - beta[j]
            if d != 0.0:
                for i in range(r.size):
                    r[i] -= d * XT[j, i]
            beta[j] = newb[t]
            prio[j] = d * d + eta
            if abs(d) > dmax:
                dmax = abs(d)
    return dmax


@njit(cache=True, fastmath=FAST)
def rounds_csc(indptr, indices, values, sched, r, beta, norms, l1, l2, prio, eta, newb):
    """:func:`rounds_dense` for CSC columns."""
    dmax = 0.0
    for s in range(sched.shape[0]):
        P = sched.shape[1]
        for t in range(P):
            j = sched[s, t]
            if j < 0:
                continue
            nj = norms[j]
            if nj == 0.0:
                newb[t] = beta[j]
            else:
                newb[t] = _soft(_dot_csc(indptr, indices, values, j, r) + nj * beta[j], l1, nj + l2)
        for t in range(P):
            j = sched[s, t]
            if j < 0:
                continue
            d = newb[t] - beta[j]
            if d != 0.0:
                for q in range(indptr[j], indptr[j + 1]):
                    r[indices[q]] -= d * values[q]
            beta[j] = newb[t]
            prio[j] = d * d + eta
            if abs(d) > dmax:
                dmax = abs(d)
    return dmax


@njit(cache=True, fastmath=FAST)
def xtr_csc(indptr, indices, values, r, out):
    """``out[k] = x_k . r`` for every local CSC column."""
    for k in range(out.size):
        out[k] = _dot_csc(indptr, indices, values, k, r)


def warm() -> None:
    """Compile (or load from the cache) every kernel on tiny inputs, so the
    cost is paid in setup rather than in the first timed iteration."""
    XT = np.ones((2, 3))
    r = np.ones(3)
    beta = np.zeros(2)
    norms = np.full(2, 3.0)
    prio = np.ones(2)
    newb = np.zeros(2)
    sched = np.array([[0, 1]], dtype=np.int64)
    sel = np.array([0, 1], dtype=np.int64)
    ip, ix, vv = np.array([0, 3, 6], dtype=np.int64), np.array([0, 1, 2, 0, 1, 2], dtype=np.int64), np.ones(6)
    dr = np.zeros(3)
    round_dense(XT, sel, sel, r, beta, norms, 0.1, 0.0, dr, newb)
    round_csc(ip, ix, vv, sel, sel, r, beta, norms, 0.1, 0.0, dr, newb)
    apply_round(r.copy(), dr, beta.copy(), sel, newb, prio, 1e-6)
    rounds_dense(XT, sched, r.copy(), beta.copy(), norms, 0.1, 0.0, prio, 1e-6, newb)
    rounds_csc(ip, ix, vv, sched, r.copy(), beta.copy(), norms, 0.1, 0.0, prio, 1e-6, newb)
    xtr_csc(ip, ix, vv, r, np.zeros(2))
