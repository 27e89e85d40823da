"""The dependency check: a conflict graph and greedy selection from it."""

from __future__ import annotations

import numpy as np


class ConflictGraph:
    """Symmetric graph over ``n`` parameters: an edge means "do not update
    these two in the same round" (for Lasso, ``|corr(x_j, x_k)| >= rho``).

    Stored as CSR (``indptr``, ``indices``), identical on every rank.
    """

    def __init__(self, n: int, indptr: np.ndarray, indices: np.ndarray):
        self.n = int(n)
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices, dtype=np.int64)
        if self.indptr.size != self.n + 1:
            raise ValueError(f"indptr has {self.indptr.size} entries, expected {self.n + 1}")
        self._stamp = np.zeros(self.n, dtype=np.int64)
        self._tag = 0

    @classmethod
    def from_pairs(cls, n: int, pairs) -> "ConflictGraph":
        """From an iterable/array of (j, k) pairs (either orientation;
        duplicates and self-pairs are dropped)."""
        p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        p = p[p[:, 0] != p[:, 1]]
        both = np.unique(np.concatenate([p, p[:, ::-1]]), axis=0) if p.size else p
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.add.at(indptr, both[:, 0] + 1, 1)
        np.cumsum(indptr, out=indptr)
        return cls(n, indptr, both[:, 1].copy() if both.size else np.empty(0, np.int64))

    @classmethod
    def empty(cls, n: int) -> "ConflictGraph":
        return cls(n, np.zeros(n + 1, dtype=np.int64), np.empty(0, dtype=np.int64))

    @property
    def n_edges(self) -> int:
        return int(self.indices.size // 2)

    def neighbours(self, j: int) -> np.ndarray:
        return self.indices[self.indptr[j]:self.indptr[j + 1]]

    def select(self, candidates, limit: int) -> tuple[np.ndarray, int]:
        """Keep candidates in the given order unless they conflict with one
        already kept; at most ``limit``.  Returns ``(kept, n_rejected)``
        (rejected: examined before the limit was reached and dropped for a
        conflict)."""
        from . import kernels   # numba, imported on first use: building the CLI stays light
        c = np.ascontiguousarray(candidates, dtype=np.int64)
        out = np.empty(min(int(limit), c.size), dtype=np.int64)
        self._tag += 1
        kept, rejected, _ = kernels.greedy_select(c, self.indptr, self.indices, self._stamp,
                                                  self._tag, int(limit), out)
        return out[:kept], int(rejected)
