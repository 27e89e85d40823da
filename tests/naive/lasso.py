"""Slow, obviously-correct serial references for the Lasso / elastic net.

Written with plain numpy and no code shared with mpiml.lasso:

- :func:`cd_cyclic`: textbook cyclic coordinate descent, one coordinate at a
  time, the residual updated after each;
- :func:`replay`: the parallel-round semantics (every coordinate of a round
  computed from the residual at the start of the round, then all applied),
  driven by a schedule from :mod:`mpiml.sched` -- the scheduler is the thing
  being replayed, so it is used as is;
- :func:`conflict_pairs`, :func:`objective`, :func:`gap`.
"""

import numpy as np


def soft(z, t):
    return np.sign(z) * np.maximum(np.abs(z) - t, 0.0)


def penalties(n, alpha, l1_ratio):
    return n * alpha * l1_ratio, n * alpha * (1.0 - l1_ratio)


def objective(X, y, beta, alpha, l1_ratio=1.0):
    r = y - X @ beta
    return 0.5 * r @ r / len(y) + alpha * (l1_ratio * np.abs(beta).sum()
                                           + 0.5 * (1 - l1_ratio) * beta @ beta)


def gap(X, y, beta, alpha, l1_ratio=1.0):
    """scikit-learn's duality gap (its units: n x the objective's)."""
    n = len(y)
    l1, l2 = penalties(n, alpha, l1_ratio)
    r = y - X @ beta
    m = np.abs(X.T @ r - l2 * beta).max()
    R2, w2 = r @ r, beta @ beta
    primal = 0.5 * (R2 + l2 * w2) + l1 * np.abs(beta).sum()
    s = l1 / m if m > l1 else 1.0
    return primal - (-0.5 * s * s * (R2 + l2 * w2) + s * (r @ y))


def cd_cyclic(X, y, alpha, l1_ratio=1.0, sweeps=10):
    """Returns (beta, residual, objective after each sweep)."""
    n, d = X.shape
    l1, l2 = penalties(n, alpha, l1_ratio)
    beta = np.zeros(d)
    r = y.astype(np.float64).copy()
    hist = []
    for _ in range(sweeps):
        for j in range(d):
            nj = X[:, j] @ X[:, j]
            if nj == 0:
                continue
            new = soft(X[:, j] @ r + nj * beta[j], l1) / (nj + l2)
            r = r - (new - beta[j]) * X[:, j]
            beta[j] = new
        hist.append(objective(X, y, beta, alpha, l1_ratio))
    return beta, r, hist


def conflict_pairs(X, rho):
    """All (j, k), j != k, with |cos(x_j, x_k)| >= rho."""
    norms = np.sqrt((X * X).sum(axis=0))
    C = np.abs(X.T @ X) / np.outer(norms, norms)
    np.fill_diagonal(C, 0.0)
    return np.argwhere(C >= rho)


def replay(X, y, alpha, scheduler, n_rounds, l1_ratio=1.0, eta=1e-6):
    """Serial replay of ``scheduler``'s rounds with parallel-round semantics.
    SAP priorities start at (change an update would make now)^2 + eta.
    Returns (beta, residual, objective after each round)."""
    n, d = X.shape
    l1, l2 = penalties(n, alpha, l1_ratio)
    norms = (X * X).sum(axis=0)
    beta = np.zeros(d)
    r = y.astype(np.float64).copy()
    z = X.T @ r + norms * beta
    prio = (soft(z, l1) / (norms + l2) - beta) ** 2 + eta
    hist = []
    for t in range(n_rounds):
        S = scheduler.plan(t, prio).selected
        zS = X[:, S].T @ r + norms[S] * beta[S]
        new = soft(zS, l1) / (norms[S] + l2)
        delta = new - beta[S]
        r = r - X[:, S] @ delta
        beta[S] = new
        prio[S] = delta * delta + eta
        hist.append(objective(X, y, beta, alpha, l1_ratio))
    return beta, r, hist
