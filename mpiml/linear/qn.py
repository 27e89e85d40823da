"""L-BFGS memory on feature shards, with a replicated Gram matrix.

The two-loop recursion (Nocedal 1980; Nocedal & Wright, *Numerical
Optimization*, Alg. 7.4) computes ``p = -H v`` from the last ``k <= m``
pairs ``s_i = w_{i+1} - w_i``, ``y_i = g_{i+1} - g_i``.  Every vector it
touches is a linear combination of the ``2k + 1`` basis vectors
``b = [s_0..s_{k-1}, y_0..y_{k-1}, v]``, and every dot product it takes is
one between basis vectors.  So the recursion can run on the coefficients of
that combination, given the Gram matrix ``G = b^T b`` (the "vector-free"
form of Chen, Wang & Zhou, NIPS 2014).  Here ``G`` is replicated on every
rank (at most (2m+1)^2 floats) and the vectors stay sharded: one iteration
needs a single Allreduce of ``6k + 6`` dot products (the new ``s``, ``y``
and ``v`` against the basis) instead of ``2k`` sequential scalar
reductions.  The direction itself is assembled locally on each shard.

OWL-QN (Andrew & Gao, ICML 2007) uses the same memory with ``v`` the
pseudo-gradient of the L1-regularised objective; see :func:`pseudo_gradient`
and :func:`orthant_project`.
"""

from __future__ import annotations

import numpy as np

from .sharded import DotBatch

# A pair is stored only if s.y > EPS_CURV * y.y (positive curvature, with the
# scale-free guard of L-BFGS-B); otherwise it is skipped and the memory kept.
EPS_CURV = 2.220446049250313e-16


class History:
    """The last ``k <= m`` pairs as ``n_local x m`` slices ``S``, ``Y``
    (columns oldest to newest) and the replicated dot products."""

    def __init__(self, n_local: int, m: int):
        self.m, self.k = int(m), 0
        # column-major: each pair is one contiguous column
        self.S = np.zeros((n_local, self.m), order="F")
        self.Y = np.zeros((n_local, self.m), order="F")
        self.SS = np.zeros((self.m, self.m))   # SS[i, j] = s_i . s_j
        self.SY = np.zeros((self.m, self.m))   # SY[i, j] = s_i . y_j
        self.YY = np.zeros((self.m, self.m))
        self.Sv = np.zeros(self.m)             # s_i . v for the current v
        self.Yv = np.zeros(self.m)
        self.vv = 0.0
        self.skipped = 0

    # ------------------------------------------------------------- updates
    def start(self, comm, v: np.ndarray, kind: str = "lbfgs:gram") -> None:
        """Collective.  Forget the pairs; ``v . v`` for the first direction."""
        self.k = 0
        b = DotBatch(comm, kind)
        b.add(v, v)
        self.vv = float(b.reduce()[0])

    def update(self, comm, s: np.ndarray, y: np.ndarray, v: np.ndarray,
               kind: str = "lbfgs:gram") -> bool:
        """Collective (one Allreduce of ``6k + 6`` floats).  Append the pair
        ``(s, y)`` (dropping the oldest when full) unless its curvature is not
        positive, and take the dot products of the new ``v``.  Returns whether
        the pair was stored."""
        k = self.k
        V = np.vstack([s, y, v])                     # the three new vectors, one per row
        b = DotBatch(comm, kind)
        with_S = b.add_products(V, self.S[:, :k])     # [s.S, y.S, v.S]
        with_Y = b.add_products(V, self.Y[:, :k])     # [s.Y, y.Y, v.Y]
        i_ss, i_sy, i_vs = b.add(s, s), b.add(s, y), b.add(v, s)
        i_yy, i_vy, i_vv = b.add(y, y), b.add(v, y), b.add(v, v)
        r = b.reduce()
        rS, rY = r[with_S].reshape(3, k), r[with_Y].reshape(3, k)
        sS, yS, vS = rS
        sY, yY, vY = rY
        self.vv = float(r[i_vv])
        keep = r[i_sy] > EPS_CURV * r[i_yy]
        if not keep:
            self.skipped += 1
            self.Sv[:k], self.Yv[:k] = vS, vY
            return False
        new_sS, new_sY, new_yS, new_yY = sS, sY, yS, yY
        new_vS, new_vY = vS, vY
        if k == self.m:   # drop the oldest pair
            self._shift()
            new_sS, new_sY, new_yS, new_yY = new_sS[1:], new_sY[1:], new_yS[1:], new_yY[1:]
            new_vS, new_vY = new_vS[1:], new_vY[1:]
            k -= 1
        j = k
        self.S[:, j], self.Y[:, j] = s, y
        self.SS[j, :j] = self.SS[:j, j] = new_sS
        self.SY[j, :j] = new_sY          # s_new . y_i
        self.SY[:j, j] = new_yS          # s_i . y_new
        self.YY[j, :j] = self.YY[:j, j] = new_yY
        self.SS[j, j], self.SY[j, j], self.YY[j, j] = r[i_ss], r[i_sy], r[i_yy]
        self.Sv[:j], self.Yv[:j] = new_vS, new_vY
        self.Sv[j], self.Yv[j] = r[i_vs], r[i_vy]
        self.k = j + 1
        return True

    def _shift(self) -> None:
        m = self.m
        self.S[:, :m - 1] = self.S[:, 1:]     # overlapping: numpy buffers as needed
        self.Y[:, :m - 1] = self.Y[:, 1:]
        for A in (self.SS, self.SY, self.YY):
            A[:m - 1, :m - 1] = A[1:, 1:].copy()
        self.Sv[:m - 1] = self.Sv[1:].copy()
        self.Yv[:m - 1] = self.Yv[1:].copy()

    # ------------------------------------------------------------ direction
    def gram(self) -> np.ndarray:
        """The ``(2k+1) x (2k+1)`` Gram matrix of ``[s_0..s_{k-1}, y_0.., v]``."""
        k = self.k
        G = np.empty((2 * k + 1, 2 * k + 1))
        G[:k, :k], G[:k, k:2 * k] = self.SS[:k, :k], self.SY[:k, :k]
        G[k:2 * k, :k], G[k:2 * k, k:2 * k] = self.SY[:k, :k].T, self.YY[:k, :k]
        G[:k, 2 * k] = G[2 * k, :k] = self.Sv[:k]
        G[k:2 * k, 2 * k] = G[2 * k, k:2 * k] = self.Yv[:k]
        G[2 * k, 2 * k] = self.vv
        return G

    def coefficients(self) -> np.ndarray:
        """Local (replicated data).  Coefficients ``c`` with ``-H v = sum_j
        c_j b_j``: the two-loop recursion carried out on coefficients."""
        k = self.k
        G = self.gram()
        c = np.zeros(2 * k + 1)
        c[2 * k] = 1.0                                   # q = v
        alpha = np.zeros(k)
        for i in range(k - 1, -1, -1):
            alpha[i] = (G[i] @ c) / G[i, k + i]         # rho_i s_i . q
            c[k + i] -= alpha[i]                         # q -= alpha_i y_i
        if k:
            c *= G[k - 1, 2 * k - 1] / G[2 * k - 1, 2 * k - 1]   # H0 = (s.y / y.y) I
        for i in range(k):
            beta = (G[k + i] @ c) / G[i, k + i]         # rho_i y_i . r
            c[i] += alpha[i] - beta                      # r += (alpha_i - beta) s_i
        return -c

    def combine(self, c: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Local.  This rank's slice of ``sum_j c_j b_j``."""
        k = self.k
        return self.S[:, :k] @ c[:k] + self.Y[:, :k] @ c[k:2 * k] + c[2 * k] * v

    def directional(self, c: np.ndarray) -> float:
        """Local (replicated data).  ``v . (sum_j c_j b_j)`` from the Gram matrix."""
        return float(self.gram()[2 * self.k] @ c)


# ---------------------------------------------------------------- OWL-QN
def pseudo_gradient(w: np.ndarray, g: np.ndarray, alpha: float, penalised: np.ndarray) -> np.ndarray:
    """Local.  Andrew & Gao's pseudo-gradient of ``loss(w) + alpha ||w||_1``
    from the smooth gradient ``g``; ``penalised`` masks the coordinates under
    the L1 term (not the intercept)."""
    right, left = g + alpha, g - alpha
    v = np.where(w > 0, right, np.where(w < 0, left, np.where(right < 0, right,
                                                              np.where(left > 0, left, 0.0))))
    return np.where(penalised, v, g)


def constrain_direction(p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Local.  Zero the components of ``p`` whose sign disagrees with ``-v``."""
    return np.where(p * v < 0, p, 0.0)


def orthant(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Local.  The orthant of the step: sign(w), or sign(-v) where w = 0."""
    return np.where(w != 0, np.sign(w), np.sign(-v))


def orthant_project(x: np.ndarray, xi: np.ndarray, penalised: np.ndarray) -> np.ndarray:
    """Local.  Zero the penalised components of ``x`` outside the orthant ``xi``."""
    return np.where(penalised & (np.sign(x) != xi), 0.0, x)
