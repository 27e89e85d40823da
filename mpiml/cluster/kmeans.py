"""Data-parallel K-means under BSP.

Objective: minimise the inertia sum_i min_c ||x_i - mu_c||^2 (Lloyd 1982).
Initialisation: greedy k-means++ (Arthur & Vassilvitskii 2007, with
``2 + ln k`` candidate trials per centre as in scikit-learn), done exactly in
distributed form: every rank draws the same random numbers, the candidate
points are located by a global prefix sum of the per-rank potentials, and
each candidate's potential is reduced over ranks.  Each Lloyd iteration costs
one Allreduce of the packed (sums, counts, inertia) buffer.

Empty clusters are re-seeded with the points farthest from their assigned
centre (deterministically over ranks: ties by global row index), moving
those points' contribution, as scikit-learn does.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..io.checkpoint import State
from ..io.dense import read_dense
from ..runtime.algorithm import Algorithm
from . import kernels
from .settings import KMeansSettings


class KMeans(Algorithm):
    """Distributed K-means.

    Parameters
    ----------
    settings : KMeansSettings, or its fields as keywords (``data``, ``k``,
        ``tol``, ``seed``, ``n_trials``, ``dataset``); see
        :class:`mpiml.cluster.settings.KMeansSettings`.
    """

    name = "kmeans"
    schema = 1
    Settings = KMeansSettings
    columns = (("shift", "shift", "{:.3e}"), ("n_empty", "empty", "{:d}"))

    # ------------------------------------------------------------------ setup
    def setup(self, comm) -> int:
        self.block_ = read_dense(comm, self.data, self.dataset)
        X = self.block_.X
        self.X_ = X
        n = self.block_.n_total
        if self.k > n:
            raise ConfigError(f"--k {self.k} is larger than the number of points ({n}) in {self.data}")
        # Tolerance in absolute units: tol * mean feature variance (one reduction).
        d = self.block_.n_features
        mom = np.concatenate([X.sum(0), (X * X).sum(0)])
        mom = comm.allreduce(mom, kind="kmeans:setup")
        mean = mom[:d] / n
        var = np.maximum(mom[d:] / n - mean * mean, 0.0)
        self.tol_abs_ = self.tol * float(var.mean())
        self.labels_ = np.zeros(X.shape[0], dtype=np.int64)
        self.dist_ = np.zeros(X.shape[0])
        return X.shape[0]

    # --------------------------------------------------------- initialisation
    def initialize(self, comm) -> None:
        self.cluster_centers_ = kmeans_plusplus(comm, self.X_, self.block_.offset, self.block_.n_total,
                                                self.k, self.seed, self.n_trials)
        self.converged_ = False
        self.inertia_ = np.inf

    # ------------------------------------------------------------- iteration
    def step(self, comm, iteration: int, straggler) -> dict:
        import time
        t0 = time.perf_counter()
        C = self.cluster_centers_
        k, d = C.shape
        packed = kernels.assign(self.X_, C, self.labels_, self.dist_)
        straggler.delay(time.perf_counter() - t0)
        packed = comm.allreduce(packed, kind="kmeans:lloyd")
        sums = packed[:k * d].reshape(k, d)
        counts = packed[k * d:k * d + k].copy()
        inertia = float(packed[-1])
        n_empty = int((counts == 0).sum())
        if n_empty:
            relocate_empty(comm, self.X_, self.block_.offset, self.labels_, self.dist_, sums, counts)
        # A cluster emptied by relocation keeps its previous centre.
        new = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], C)
        shift = float(((new - C) ** 2).sum())
        self.cluster_centers_ = new
        self.inertia_ = inertia
        self.converged_ = shift <= self.tol_abs_
        return {"objective": inertia, "shift": shift, "n_empty": n_empty}

    def finish(self, comm) -> dict:
        # Labels and inertia for the final centres (one more assignment).
        packed = kernels.assign(self.X_, self.cluster_centers_, self.labels_, self.dist_)
        self.inertia_ = float(comm.allreduce(packed[-1:], kind="kmeans:final")[0])
        return {"inertia": self.inertia_, "k": self.k}

    # ------------------------------------------------------------ checkpoint
    def state(self, comm, iteration: int) -> State:
        return State(iteration=iteration,
                     replicated={"cluster_centers": self.cluster_centers_},
                     distributed={"labels": (self.labels_, self.block_.offset, self.block_.n_total)},
                     meta={"inertia": self.inertia_, "tol_abs": self.tol_abs_})

    def restore(self, comm, ckpt) -> None:
        C = ckpt.replicated("cluster_centers")
        if C.shape != (self.k, self.block_.n_features):
            raise ConfigError(f"checkpoint centres have shape {C.shape}, data needs "
                              f"({self.k}, {self.block_.n_features})")
        self.cluster_centers_ = C
        self.inertia_ = float(ckpt.meta.get("inertia", np.inf))

    def warm_start(self, comm, ckpt) -> None:
        self.restore(comm, ckpt)
        self.converged_ = False


def kmeans_plusplus(comm, X, offset: int, n: int, k: int, seed: int, n_trials: int = 0):
    """Collective.  Greedy k-means++ centres, identical on every rank and to the
    serial algorithm with the same seed (up to floating-point summation order).
    """
    rng = np.random.default_rng(seed)
    n_trials = n_trials or 2 + int(np.log(k))
    d = X.shape[1]
    centers = np.empty((k, d))
    centers[0] = _fetch_rows(comm, X, offset, np.array([rng.integers(n)]))[0]
    closest = np.full(X.shape[0], np.inf)
    local_pot = kernels.min_sq_dist(X, centers[0], closest)
    for c in range(1, k):
        pots = np.asarray(comm.allgather_obj(local_pot, "kmeans:init"))
        total = pots.sum()
        u = rng.random(n_trials) * total
        idx = _locate(comm, closest, offset, pots, u, n)
        cands = _fetch_rows(comm, X, offset, idx)
        trial = comm.allreduce(kernels.trial_potentials(X, closest, cands), kind="kmeans:init")
        best = int(np.argmin(trial))
        centers[c] = cands[best]
        local_pot = kernels.min_sq_dist(X, centers[c], closest)
    return centers


def _locate(comm, closest, offset, pots, u, n):
    """Global row index at cumulative potential ``u`` (one per draw)."""
    prefix = np.concatenate([[0.0], np.cumsum(pots)])
    cum = None
    idx = np.full(u.size, -1, dtype=np.int64)
    for t, ut in enumerate(u):
        owner = int(np.searchsorted(prefix[1:], ut, side="right"))
        owner = min(owner, comm.size - 1)
        while owner > 0 and pots[owner] == 0:   # rounding past the end: last rank with mass
            owner -= 1
        if owner == comm.rank:
            if cum is None:
                cum = np.cumsum(closest)
            j = int(np.searchsorted(cum, ut - prefix[owner], side="right"))
            j = min(j, closest.size - 1)
            while j > 0 and closest[j] == 0:
                j -= 1
            idx[t] = offset + j
    return comm.allreduce(idx, op="max", kind="kmeans:init")


def _fetch_rows(comm, X, offset, idx):
    """Collective.  Rows with global indices ``idx`` (owned by any rank)."""
    out = np.zeros((idx.size, X.shape[1]))
    local = (idx >= offset) & (idx < offset + X.shape[0])
    out[local] = X[idx[local] - offset]
    return comm.allreduce(out, kind="kmeans:init")


def relocate_empty(comm, X, offset, labels, dist, sums, counts):
    """Collective.  Move the globally farthest points into the empty clusters
    (in place on ``sums``/``counts``), like scikit-learn's relocation."""
    empty = np.flatnonzero(counts == 0)
    m = empty.size
    top = np.argsort(-dist, kind="stable")[:m]
    cand = [(float(dist[j]), offset + int(j), X[j].tolist(), int(labels[j])) for j in top]
    pool = [c for part in comm.allgather_obj(cand, "kmeans:relocate") for c in part]
    pool.sort(key=lambda c: (-c[0], c[1]))
    for e, (_, _, x, old) in zip(empty, pool[:m]):
        x = np.asarray(x)
        sums[old] -= x
        counts[old] -= 1
        sums[e] = x
        counts[e] = 1


def predict(centers: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre and squared distance of each row of ``X`` (serial)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    labels = np.empty(X.shape[0], dtype=np.int64)
    dist = np.empty(X.shape[0])
    kernels.assign(X, np.ascontiguousarray(centers, dtype=np.float64), labels, dist)
    return labels, dist
