"""Slow, obviously-correct serial K-means: the reference for every fast path.

Same procedure as mpiml.cluster.kmeans (greedy k-means++ with the same random
draws, Lloyd with relocation of empty clusters), written with plain numpy and
loops and no code shared with the package.
"""

import numpy as np


def sqdist_to(X, c):
    return ((X - c) ** 2).sum(axis=1)


def kmeans_plusplus(X, k, seed, n_trials=0):
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    n_trials = n_trials or 2 + int(np.log(k))
    centers = [X[rng.integers(n)].copy()]
    closest = sqdist_to(X, centers[0])
    for _ in range(1, k):
        total = closest.sum()
        u = rng.random(n_trials) * total
        cum = np.cumsum(closest)
        idx = [min(int(np.searchsorted(cum, v, side="right")), n - 1) for v in u]
        best, best_pot, best_d = None, np.inf, None
        for j in idx:
            d = np.minimum(closest, sqdist_to(X, X[j]))
            if d.sum() < best_pot:
                best, best_pot, best_d = j, d.sum(), d
        centers.append(X[best].copy())
        closest = best_d
    return np.array(centers)


def assign(X, C):
    d = np.array([[((x - c) ** 2).sum() for c in C] for x in X])
    labels = d.argmin(axis=1)
    return labels, d[np.arange(len(X)), labels]


def lloyd(X, C, max_iter, tol_rel=0.0):
    """Returns (centres, inertia history, n_iter, labels, final inertia)."""
    var = X.var(axis=0).mean()
    tol = tol_rel * var
    history = []
    it = 0
    for it in range(1, max_iter + 1):
        labels, dist = assign(X, C)
        k = C.shape[0]
        sums = np.zeros_like(C)
        counts = np.zeros(k)
        for x, lab in zip(X, labels):
            sums[lab] += x
            counts[lab] += 1
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            far = sorted(range(len(X)), key=lambda i: (-dist[i], i))[:empty.size]
            for e, i in zip(empty, far):
                sums[labels[i]] -= X[i]
                counts[labels[i]] -= 1
                sums[e] = X[i]
                counts[e] = 1
        new = np.array([sums[c] / counts[c] if counts[c] > 0 else C[c] for c in range(k)])
        shift = ((new - C) ** 2).sum()
        history.append(dist.sum())
        C = new
        if shift <= tol:
            break
    labels, dist = assign(X, C)
    return C, history, it, labels, dist.sum()
