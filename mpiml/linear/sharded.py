"""Vectors sharded by contiguous feature blocks: each rank owns one slice.

The Yahoo design for billion-feature L-BFGS ("Scaling Machine Learning to
Billions of Parameters", Spark Summit 2016) never materialises a whole
weight vector, gradient or history pair on one process: the driver's
two-loop recursion is carried out by vector operations on the servers that
hold the slices and only scalars travel.  Here the servers are the ranks
themselves: coordinate ``j`` of a length-``n`` vector lives on rank
``block_owner(j, n, size)`` (:mod:`mpiml.partition`), so a :class:`ShardedVector`
is just this rank's slice plus the layout.

Operations that combine slices element-wise (``axpy``, ``scal``, ``copy``)
are local; reductions (``dot``, ``norm``) are collective and cost one
Allreduce of one float.  :class:`DotBatch` gathers several dot products
(including a vector against every column of a sharded matrix) into one
small-vector Allreduce, which is how the L-BFGS history keeps its Gram
matrix up to date with one reduction per iteration.
"""

from __future__ import annotations

import numpy as np

from ..partition import block_offsets, block_range


class FeatureLayout:
    """Which rank owns which coordinates of a length-``n`` vector.

    Pure (no communication): ``lo``/``hi`` are this rank's half-open range,
    ``counts`` and ``offsets`` every rank's.
    """

    def __init__(self, n: int, size: int, rank: int):
        self.n, self.size, self.rank = int(n), int(size), int(rank)
        self.offsets = block_offsets(self.n, self.size)
        self.counts = np.diff(self.offsets)
        self.lo, self.hi = block_range(self.n, self.size, self.rank)

    @property
    def n_local(self) -> int:
        return self.hi - self.lo

    def owners(self, index) -> np.ndarray:
        """Owner rank of each global coordinate in ``index`` (sorted or not)."""
        idx = np.asarray(index, dtype=np.int64)
        return np.searchsorted(self.offsets, idx, side="right") - 1

    def __repr__(self) -> str:
        return f"FeatureLayout(n={self.n}, rank {self.rank}: [{self.lo}, {self.hi}))"


class ShardedVector:
    """This rank's slice ``local`` of a vector laid out by ``layout``.

    ``local`` may be a view (a column of a history matrix); local operations
    write through it.
    """

    __slots__ = ("comm", "layout", "local")

    def __init__(self, comm, layout: FeatureLayout, local=None):
        self.comm, self.layout = comm, layout
        if local is None:
            local = np.zeros(layout.n_local)
        if local.shape != (layout.n_local,):
            raise ValueError(f"slice of shape {local.shape}, layout owns {layout.n_local} coordinates")
        self.local = local

    # --------------------------------------------------------------- local
    def copy(self) -> "ShardedVector":
        """Local.  An independent copy."""
        return ShardedVector(self.comm, self.layout, self.local.copy())

    def assign(self, other: "ShardedVector") -> "ShardedVector":
        """Local.  ``self <- other`` (in place)."""
        self.local[...] = other.local
        return self

    def axpy(self, a: float, x: "ShardedVector") -> "ShardedVector":
        """Local.  ``self <- self + a x`` (in place)."""
        self.local += a * x.local
        return self

    def scal(self, a: float) -> "ShardedVector":
        """Local.  ``self <- a self`` (in place)."""
        self.local *= a
        return self

    def local_dot(self, other: "ShardedVector") -> float:
        """Local.  This rank's part of ``self . other``."""
        return float(self.local @ other.local)

    # ----------------------------------------------------------- collective
    def dot(self, other: "ShardedVector", kind: str = "sharded:dot") -> float:
        """Collective.  ``self . other`` (one Allreduce of one float)."""
        return float(self.comm.allreduce(np.array([self.local @ other.local]), kind=kind)[0])

    def norm(self, kind: str = "sharded:dot") -> float:
        """Collective.  Euclidean norm (one Allreduce of one float)."""
        return float(np.sqrt(self.dot(self, kind)))

    def norm_inf(self, kind: str = "sharded:max") -> float:
        """Collective.  Largest absolute entry (one MAX Allreduce)."""
        m = float(np.abs(self.local).max()) if self.local.size else 0.0
        return float(self.comm.allreduce(np.array([m]), op="max", kind=kind)[0])


class DotBatch:
    """Several dot products of sharded vectors, reduced in one Allreduce.

    ``add(a, b)`` and ``add_columns(a, M)`` queue products and return the
    positions of their results in :meth:`reduce`'s array; ``M`` is a sharded
    matrix (``n_local x k`` slices, columns are vectors of the same layout).
    """

    def __init__(self, comm, kind: str = "sharded:dots"):
        self.comm, self.kind = comm, kind
        self._parts: list[np.ndarray] = []
        self._n = 0

    def add(self, a, b) -> int:
        """Queue ``a . b`` (ShardedVector or local slices); returns its index."""
        la = a.local if isinstance(a, ShardedVector) else a
        lb = b.local if isinstance(b, ShardedVector) else b
        self._parts.append(np.array([la @ lb]))
        self._n += 1
        return self._n - 1

    def add_columns(self, a, M: np.ndarray) -> slice:
        """Queue ``a . M[:, j]`` for every column ``j``; returns their slice."""
        la = a.local if isinstance(a, ShardedVector) else a
        vals = la @ M if M.shape[1] else np.zeros(0)
        self._parts.append(np.asarray(vals, dtype=np.float64).reshape(-1))
        start = self._n
        self._n += M.shape[1]
        return slice(start, self._n)

    def add_products(self, A: np.ndarray, M: np.ndarray) -> slice:
        """Queue ``A[i] . M[:, j]`` for every row ``i`` of the ``r x n_local``
        local block ``A`` (r sharded vectors, one per row) and column ``j`` of
        ``M``, row-major; one BLAS pass over ``M``.  Returns their slice."""
        vals = A @ M if M.shape[1] and A.shape[0] else np.zeros(0)
        self._parts.append(np.asarray(vals, dtype=np.float64).reshape(-1))
        start = self._n
        self._n += A.shape[0] * M.shape[1]
        return slice(start, self._n)

    def __len__(self) -> int:
        return self._n

    def reduce(self) -> np.ndarray:
        """Collective.  All queued products (one Allreduce of ``len(self)`` floats)."""
        buf = np.concatenate(self._parts) if self._parts else np.zeros(0)
        self._parts, self._n = [], 0
        return self.comm.allreduce(buf, kind=self.kind)
