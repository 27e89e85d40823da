"""Moving values between the rows' touched features and the feature owners.

Rows are partitioned over ranks (as the readers split them) and features are
sharded by :class:`~mpiml.linear.sharded.FeatureLayout`.  Rank r's rows touch a
set ``T_r`` of features (sorted global indices); its working buffers hold one
value per entry of ``T_r``.  Two operations connect them with the shards:

``push_add(buf)``
    every rank's partial values (a partial gradient) summed into the owners'
    slices;
``fetch(slice)``
    the owners' values copied into every rank's buffer over ``T_r``.

Two plans, chosen once at set-up (collectively, by the bytes they move):

``dense``
    ``T_r`` is every feature: ``push_add`` is one ``MPI_Reduce_scatter`` and
    ``fetch`` one ``MPI_Allgatherv``.  Halo size ``H = D (p - 1)``.
``sparse``
    only the touched features travel, through ``MPI_Alltoallv`` (an index
    exchange at set-up tells each owner who needs which of its features).
    Halo size ``H = sum_r sum_{q != r} |T_r ∩ O_q|`` (O_q: q's features).

Either way one ``push_add`` and one ``fetch`` each hand ``8 H`` payload bytes
to MPI over all ranks (what :class:`mpiml.comm.CommStats` counts: the blocks
destined for other ranks).  ``auto`` takes the sparse plan when its ``H`` is
smaller.
"""

from __future__ import annotations

import numpy as np

from .sharded import FeatureLayout

PLANS = ("auto", "dense", "sparse")


class FeatureExchange:
    """Collective constructor.  The exchange plan between rank ``comm.rank``'s
    touched features ``touched`` (sorted unique global indices) and the owners
    of ``layout``.

    After construction ``self.touched`` is the index set the buffers are over
    (all features under the dense plan), ``self.plan`` the plan chosen and
    ``self.halo`` the global halo size ``H`` (see the module docstring).
    """

    def __init__(self, comm, layout: FeatureLayout, touched: np.ndarray, plan: str = "auto",
                 kind: str = "lbfgs"):
        if plan not in PLANS:
            raise ValueError(f"exchange plan must be one of {PLANS}, got {plan!r}")
        self.comm, self.layout, self.kind = comm, layout, kind
        touched = np.asarray(touched, dtype=np.int64)
        p, D = comm.size, layout.n
        owners = layout.owners(touched)
        # Entries this rank needs from each owner; touched is sorted, owners are
        # ascending contiguous blocks, so the groups appear in owner order.
        self._cuts = np.searchsorted(owners, np.arange(p + 1), side="left")
        mine_remote = int(touched.size - (self._cuts[comm.rank + 1] - self._cuts[comm.rank]))
        sparse_h = int(comm.allreduce(np.array([mine_remote], dtype=np.int64), kind=kind + ":plan")[0])
        dense_h = D * (p - 1)
        if plan == "auto":
            plan = "sparse" if sparse_h < dense_h else "dense"
        self.plan = plan
        if plan == "dense":
            self.touched = np.arange(D, dtype=np.int64)
            self.halo = dense_h
            self._counts = layout.counts
        else:
            self.touched = touched
            self.halo = sparse_h
            parts = [touched[self._cuts[q]:self._cuts[q + 1]] for q in range(p)]
            asked = comm.alltoallv(parts, kind=kind + ":plan")
            # asked[r]: global indices of my features that rank r touches (sorted)
            self._serve = [np.asarray(a, dtype=np.int64) - layout.lo for a in asked]

    @property
    def n_buffer(self) -> int:
        """Length of this rank's working buffers (``|T_r|``)."""
        return int(self.touched.size)

    def push_add(self, buf: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Collective.  Sum every rank's ``buf`` (values over its touched
        features) into the owners: returns this rank's slice (``out`` if given).

        Contributions are added in rank order, so the result is the same on
        every run with the same rank count.
        """
        lay = self.layout
        if self.plan == "dense":
            return self.comm.reduce_scatter(buf, self._counts, kind=self.kind + ":grad", out=out)
        parts = [buf[self._cuts[q]:self._cuts[q + 1]] for q in range(self.comm.size)]
        got = self.comm.alltoallv(parts, kind=self.kind + ":grad")
        if out is None:
            out = np.zeros(lay.n_local)
        else:
            out[...] = 0.0
        for r, idx in enumerate(self._serve):
            out[idx] += got[r]      # idx has no repeats: fancy += is exact
        return out

    def fetch(self, local: np.ndarray) -> np.ndarray:
        """Collective.  The values of ``local`` (this rank's slice) at every
        rank's touched features: returns this rank's buffer over ``touched``."""
        if self.plan == "dense":
            return np.concatenate(self.comm.allgather_array(local, kind=self.kind + ":fetch"))
        parts = [local[idx] for idx in self._serve]
        got = self.comm.alltoallv(parts, kind=self.kind + ":fetch")
        return np.concatenate(got) if got else np.zeros(0)

    def bytes_per_exchange(self) -> int:
        """Payload bytes one ``push_add`` (or one ``fetch``) hands to MPI,
        summed over all ranks: ``8 H``."""
        return 8 * self.halo
