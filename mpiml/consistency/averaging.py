"""Model averaging: each worker trains its own replica; every ``every``
clocks the replicas are replaced by their mean (one Allreduce).

The simplest data-parallel scheme (parameter mixing: McDonald, Hall, Mann
NAACL 2010; periodic averaging in local SGD: Zinkevich et al. NIPS 2010).
Between averaging points a worker sees none of the others' updates, so a
read at clock ``c`` after the last average at clock ``a`` has staleness
``c - a <= every - 1``.

Increments keep the meaning they have in every other table: contributions
to a global sum.  A worker applies its own increment ``size`` times to its
replica (it moves as if every worker had made the same step), so that at an
averaging point the mean of the replicas equals the last average plus the
sum of every worker's increments, as it would in a shared table.  With one
rank this is plain SGD.
"""

from __future__ import annotations

import numpy as np

from .base import Table


class AveragingTable(Table):
    """Local replicas averaged every ``every`` clocks (``clock`` and ``sync``
    are Collective on averaging clocks)."""

    kind = "average"

    def __init__(self, comm, n_rows, width, every: int = 1, debug=False, name="table"):
        super().__init__(comm, n_rows, width, every - 1, debug, name)
        self.every = int(every)
        self._data = np.zeros((self.n_rows, self.width))
        self._last_avg = 0
        self._dirty = False

    def get(self, row_ids) -> np.ndarray:
        ids = self._rows(row_ids)
        self._record(self.clock_ - self._last_avg)
        return self._data[ids]

    def inc(self, row_ids, deltas) -> None:
        ids = self._rows(row_ids)
        np.add.at(self._data, ids, self.comm.size * self._deltas(ids, deltas))
        self._dirty = True

    def clock(self) -> None:
        self.clock_ += 1
        if self.clock_ % self.every == 0:
            self._average()

    def _average(self) -> None:
        total = self.comm.allreduce(self._data, kind=f"{self.name}:average")
        self._data = total / self.comm.size
        self._last_avg = self.clock_
        self._dirty = False

    def sync(self) -> None:
        """Collective.  Average now (unless nothing changed since the last average)."""
        dirty = self.comm.allreduce_scalar(int(self._dirty), "max", kind=f"{self.name}:sync")
        if dirty:
            self._average()
        self._last_avg = self.clock_

    def snapshot(self) -> np.ndarray:
        self.sync()
        return self._data.copy()

    def load(self, values, clock: int = 0) -> None:
        self._data = self._check_load(values).copy()
        self.clock_ = self._last_avg = int(clock)
        self._dirty = False
