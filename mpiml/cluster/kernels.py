"""Numba kernels for K-means (arrays in, arrays out; no MPI, no files)."""

from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorise the distance sums (3x here); NaN/Inf
# semantics are kept (no 'nnan'/'ninf'), and results stay deterministic.
FAST = {"reassoc", "contract"}


@njit(cache=True, fastmath=FAST)
def min_sq_dist(X, c, out):
    """out[i] = min(out[i], ||X[i] - c||^2); returns the sum of the result."""
    n, d = X.shape
    total = 0.0
    for i in range(n):
        s = 0.0
        for j in range(d):
            t = X[i, j] - c[j]
            s += t * t
        if s < out[i]:
            out[i] = s
        total += out[i]
    return total


@njit(cache=True, fastmath=FAST)
def trial_potentials(X, closest, cands):
    """For each candidate centre, sum over rows of min(closest, ||x - cand||^2)."""
    n, d = X.shape
    m = cands.shape[0]
    pots = np.zeros(m)
    for t in range(m):
        acc = 0.0
        for i in range(n):
            s = 0.0
            for j in range(d):
                u = X[i, j] - cands[t, j]
                s += u * u
            acc += s if s < closest[i] else closest[i]
        pots[t] = acc
    return pots


@njit(cache=True, fastmath=FAST)
def assign(X, C, labels, dist):
    """Nearest centre of each row (ties -> lowest index), its squared distance,
    and per-centre coordinate sums and counts.

    Returns ``packed``: k*d sums, then k counts, then the inertia (sum of
    squared distances) -- the exact buffer the Lloyd step reduces in one
    Allreduce.
    """
    n, d = X.shape
    k = C.shape[0]
    packed = np.zeros(k * d + k + 1)
    for i in range(n):
        best = np.inf
        bj = 0
        for c in range(k):
            s = 0.0
            for j in range(d):
                t = X[i, j] - C[c, j]
                s += t * t
            if s < best:
                best = s
                bj = c
        labels[i] = bj
        dist[i] = best
        base = bj * d
        for j in range(d):
            packed[base + j] += X[i, j]
        packed[k * d + bj] += 1.0
        packed[k * d + k] += best
    return packed
