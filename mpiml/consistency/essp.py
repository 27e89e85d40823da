"""Eager SSP: the SSP bound, with every clock's updates pushed to the readers.

ESSP (Dai, Kumar, Wei, Ho, Gibson, Xing, AAAI 2015) keeps the staleness
bound of SSP but has the server push fresh rows to the workers that hold
them as soon as they are available, so the staleness actually observed is
lower and less variable than SSP's.  Here the push is done by the writer,
one-sidedly, into the readers' memory:

* Every rank has a **replica window** holding the whole table (only the rows
  it subscribed to, :meth:`ESSPTable.subscribe`, are kept current; all rows
  by default) and a **pushed counter** per worker.
* ``clock()`` ending clock ``t``: the worker ``Accumulate``s this clock's
  increments into the replica of every rank subscribed to the rows, then
  ``Flush_all``; then adds 1 to its pushed counter on every rank and
  flushes; then does the SSP clock (increments to the row owners, the clock
  counter, the wait while the slowest worker is more than ``s`` behind).
* ``get()`` of subscribed rows reads the pushed counters of its own window,
  then the rows of its own replica (``Get_accumulate(NO_OP)``: others
  accumulate into that memory), and adds this worker's not yet pushed
  increments.  Nothing waits for a fetch from an owner.

Bound.  A worker's pushed counter on a replica is raised only after its
pushes there are complete, and its clock counter only after that, so when
the minimum clock is ``>= m`` every replica holds every update from clocks
``<= m - 1``.  The SSP wait gives ``m >= c - s`` at a read at clock ``c``:
the SSP guarantee.  A replica is complete up to the pushed counters read
before the rows, so the staleness recorded per read is ``c`` minus the
smallest pushed counter of another worker; it is usually 0 or 1 where SSP
(which refreshes a row only once it is ``s`` clocks old) observes up to
``s``.  Per element each worker's contribution is a prefix of its per-clock
updates (each clock's pushes are flushed before the next ones start).

Rows not subscribed to fall back to the SSP read path (owner copies).  With
``s = 0`` nothing is pushed and every read takes the SSP path, which then
returns exactly the BSP result (a push could let a read see a faster
worker's updates of the current clock, which BSP never shows).
"""

from __future__ import annotations

import numpy as np

from ..comm import rma
from .base import StalenessViolation
from .ssp import SSPTable, _runs


class ESSPTable(SSPTable):
    """SSP with a writer-side push into per-rank replicas (see the module docstring)."""

    kind = "essp"
    eager = False       # reads of subscribed rows never refresh from the owners

    def __init__(self, comm, n_rows, width, staleness: int | None = 0, debug=False, name="table"):
        super().__init__(comm, n_rows, width, staleness, debug, name)
        self._rep = rma.allocate(comm, self.n_rows * self.width, np.float64, f"{name}:replica")
        self._pushed = rma.allocate(comm, comm.size, np.int64, f"{name}:pushed")
        self._subs = [np.ones(self.n_rows, dtype=bool) for _ in range(comm.size)]
        self._push = self.staleness != 0
        self.push_bytes_ = 0

    def subscribe(self, row_ids) -> None:
        """Collective.  This rank reads only ``row_ids`` from its replica;
        writers push only those rows to it (other rows: SSP reads)."""
        ids = self._rows(row_ids)
        everyone = self.comm.allgather_obj(np.unique(ids).tolist(), kind=f"{self.name}:subscribe")
        for r, rows in enumerate(everyone):
            m = np.zeros(self.n_rows, dtype=bool)
            m[np.asarray(rows, dtype=np.int64)] = True
            self._subs[r] = m

    # ------------------------------------------------------------ interface
    def get(self, row_ids) -> np.ndarray:
        ids = self._rows(row_ids)
        if not self._push or ids.size == 0 or not self._subs[self.comm.rank][ids].all():
            return super().get(ids)
        me, size, c = self.comm.rank, self.comm.size, self.clock_
        pushed = self._pushed.read(me, 0, size)
        self._pushed.flush(me)
        uniq = np.unique(ids)
        parts = [(a, b, self._rep.read(me, a * self.width, (b - a) * self.width)) for a, b in _runs(uniq)]
        self._rep.flush(me)
        rows = np.empty((uniq.size, self.width))
        pos = 0
        for a, b, buf in parts:
            rows[pos:pos + b - a] = buf.reshape(b - a, self.width)
            pos += b - a
        rows += self._cur[uniq]
        out = rows[np.searchsorted(uniq, ids)]
        others = np.delete(pushed, me)
        complete = int(others.min()) if others.size else c
        self._record(max(c - complete, 0))
        if self.debug:
            if int(pushed[me]) != c:
                raise StalenessViolation(
                    f"table {self.name!r}: the replica holds {int(pushed[me])} of this worker's {c} "
                    f"clocks of updates (read-my-writes broken)")
            if self._bounded() and complete < c - self.staleness:
                raise StalenessViolation(
                    f"table {self.name!r} (essp): a read at clock {c} found the replica complete "
                    f"only up to clock {complete - 1}; bound {self.staleness} needs {c - self.staleness - 1}")
        return out

    def clock(self) -> None:
        me, size = self.comm.rank, self.comm.size
        if not self._push:
            return super().clock()
        rows = np.flatnonzero(self._cur_rows)
        if rows.size:
            for r in range(size):
                mine = rows[self._subs[r][rows]]
                for a, b in _runs(mine):
                    self._rep.accumulate(r, a * self.width, self._cur[a:b])
                    self.push_bytes_ += (b - a) * self.width * 8
            self._rep.flush()
        one = np.ones(1, dtype=np.int64)
        for r in range(size):
            self._pushed.accumulate(r, me, one)
        self._pushed.flush()
        super().clock()

    def load(self, values, clock: int = 0) -> None:
        v = self._check_load(values)
        super().load(v, clock)
        me, size = self.comm.rank, self.comm.size
        self._rep.accumulate(me, 0, v.reshape(-1), op="replace")
        self._pushed.accumulate(me, 0, np.full(size, int(clock), dtype=np.int64), op="replace")
        self._rep.flush()
        self._pushed.flush()
        self.comm.barrier(kind=f"{self.name}:load")

    def close(self) -> None:
        """Collective."""
        if self.closed:
            return
        super().close()
        self._rep.free()
        self._pushed.free()
