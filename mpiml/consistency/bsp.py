"""Bulk synchronous parallel tables: one Allreduce per clock.

Every rank holds the whole table.  Increments are buffered; ``clock()`` sums
every worker's buffer with one Allreduce and adds it to the replica, so a
read at clock ``c`` sees exactly the updates of clocks ``<= c - 1`` of every
worker, plus this worker's own updates of clock ``c`` (staleness 0, the
``s = 0`` case of Ho et al. NIPS 2013).  The Allreduce enters through the
communicator's failure-flag sync, so a rank that failed inside the same
agreed block cannot leave the others waiting.
"""

from __future__ import annotations

import numpy as np

from .base import Table


class BSPTable(Table):
    """Replicated table; collectives at each clock (``clock`` is Collective)."""

    kind = "bsp"

    def __init__(self, comm, n_rows, width, debug=False, name="table"):
        super().__init__(comm, n_rows, width, 0, debug, name)
        self._data = np.zeros((self.n_rows, self.width))
        self._delta = np.zeros((self.n_rows, self.width))
        self._touched = False

    def get(self, row_ids) -> np.ndarray:
        ids = self._rows(row_ids)
        self._record(0)
        out = self._data[ids]
        if self._touched:
            out += self._delta[ids]
        return out

    def inc(self, row_ids, deltas) -> None:
        ids = self._rows(row_ids)
        d = self._deltas(ids, deltas)
        if ids.size and ids[-1] - ids[0] + 1 == ids.size and np.all(np.diff(ids) == 1):
            ids = slice(int(ids[0]), int(ids[-1]) + 1)  # a run of rows: a slice, no copies
        if isinstance(ids, slice) or (ids.size and np.all(np.diff(ids) > 0)):  # distinct: no np.add.at
            self._delta[ids] += d
        else:
            np.add.at(self._delta, ids, d)
        self._touched = True

    def clock(self) -> None:
        """Collective."""
        total = self.comm.allreduce(self._delta, kind=f"{self.name}:clock")
        self._data += total
        self._delta[:] = 0.0
        self._touched = False
        self.clock_ += 1

    def sync(self) -> None:
        """Collective.  Nothing to do: after ``clock()`` every replica is complete."""
        if self._touched:
            raise RuntimeError(f"table {self.name!r}: sync() with increments not yet clocked")

    def snapshot(self) -> np.ndarray:
        self.sync()
        return self._data.copy()

    def load(self, values, clock: int = 0) -> None:
        self._data = self._check_load(values).copy()
        self._delta[:] = 0.0
        self._touched = False
        self.clock_ = int(clock)
