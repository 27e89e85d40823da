"""Stale synchronous parallel tables over MPI RMA windows.

Stale Synchronous Parallel (Ho, Cipar, Cui, Kim, Lee, Gibbons, Gibson, Ganger,
Xing, NIPS 2013): a worker at clock ``c`` reading with staleness ``s`` must
see every update from clocks ``<= c - s - 1`` of every worker, may see newer
ones, always sees its own, and the fastest worker blocks while the slowest
is more than ``s`` clocks behind.  Read rule as in Petuum Bösen: a cached row
may be used iff it is complete up to clock ``c - s - 1``; otherwise it is
fetched again.

Layout.  Rows are block-sharded over the ranks (:func:`block_range`).  The
owner's data window holds two copies of its rows, ``copy[0]`` and
``copy[1]``; a control window holds, on every rank, every worker's clock
(and, in debug mode, a second "flushed" counter per worker).  All windows
come from :mod:`mpiml.comm.rma` (allocated by MPI, ``Lock_all`` at once).

``clock()`` ending clock ``t`` does, in this order:

1. ``Accumulate`` (SUM) of ``delta[t-1] + delta[t]`` (this worker's
   increments of the previous and of this clock) into ``copy[(t+1) % 2]``
   of each owner, then ``Flush_all``;
2. ``Accumulate`` +1 into this worker's clock counter on every rank, then
   ``Flush_all`` (so a clock value is visible only after the updates it
   announces are complete at their owners);
3. block (backing off, polling MPI, watching the failure channel) until the
   minimum clock is ``>= t + 1 - s``.

Why two copies: each update enters ``copy[(t+1) % 2]`` at once and the other
copy one clock later.  By induction ``copy[m % 2]`` contains, for every worker,
every update from clocks ``<= m - 1`` as soon as every clock counter is
``>= m``; a reader that sees minimum clock ``m`` fetches ``copy[m % 2]`` and
adds its own updates that copy lacks (``delta[c-1]`` when ``m % 2 != c % 2``,
and its unflushed ``delta[c]``).  And nothing from clock ``c`` reaches
``copy[c % 2]`` before every worker has finished clock ``c``, so with ``s = 0``
a read returns exactly the updates of clocks ``<= c - 1`` plus its own: the
BSP result, not merely the BSP bound.

Reads of window memory use ``Get_accumulate(NO_OP)`` (atomic per element);
staleness recorded per read is ``c - m`` for the oldest row returned.  Debug
mode checks every read against counters read from the row's owner before
the rows themselves (an independent lower bound on what the rows contain),
and also that the worker's own updates are all there (read-my-writes).

:class:`SSPTable` is also the base of ESSP (:mod:`.essp`: eager refresh as
soon as the minimum clock advances) and async (:mod:`.asynchronous`: no bound).
"""

from __future__ import annotations

import numpy as np

from ..comm import rma
from ..partition import block_offsets
from .base import StalenessViolation, Table

NOT_CACHED = -(1 << 40)


def _runs(rows: np.ndarray):
    """Contiguous runs ``(start, stop)`` of a sorted array of distinct ints."""
    if rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [rows.size]])
    return [(int(rows[a]), int(rows[b - 1]) + 1) for a, b in zip(starts, stops)]


class SSPTable(Table):
    """Bounded-staleness table over RMA windows (see the module docstring).

    ``clock()`` is not a collective, but every worker must call it the same
    number of times before any collective (``sync``, ``snapshot``, ``load``,
    ``close``).
    """

    kind = "ssp"
    eager = False       # refresh cached rows whenever the minimum clock advances (ESSP)

    def __init__(self, comm, n_rows, width, staleness: int | None = 0, debug=False, name="table"):
        super().__init__(comm, n_rows, width, staleness, debug, name)
        size, rank = comm.size, comm.rank
        self._off = block_offsets(self.n_rows, size)
        self._lo, self._hi = int(self._off[rank]), int(self._off[rank + 1])
        n_local = self._hi - self._lo
        self._data = rma.allocate(comm, 2 * n_local * self.width, np.float64, f"{name}:rows")
        self._ctl = rma.allocate(comm, 2 * size, np.int64, f"{name}:clocks")
        self._cache = np.zeros((self.n_rows, self.width))
        self._version = np.full(self.n_rows, NOT_CACHED, dtype=np.int64)
        self._guarantee = np.full(self.n_rows, NOT_CACHED, dtype=np.int64)
        self._cur = np.zeros((self.n_rows, self.width))
        self._prev = np.zeros((self.n_rows, self.width))
        self._cur_rows = np.zeros(self.n_rows, dtype=bool)
        self._prev_rows = np.zeros(self.n_rows, dtype=bool)
        self.wait_seconds_ = 0.0

    # -------------------------------------------------------------- helpers
    def _owner_spans(self, rows: np.ndarray):
        """(owner, start, stop) runs of sorted distinct ``rows``, split at
        shard boundaries."""
        out = []
        for a, b in _runs(rows):
            while a < b:
                o = int(np.searchsorted(self._off, a, side="right")) - 1
                stop = min(b, int(self._off[o + 1]))
                out.append((o, a, stop))
                a = stop
        return out

    def _disp(self, owner: int, copy: int, row: int) -> int:
        n_local = int(self._off[owner + 1] - self._off[owner])
        return (copy * n_local + row - int(self._off[owner])) * self.width

    def _clocks(self) -> np.ndarray:
        me = self.comm.rank
        v = self._ctl.read(me, 0, self.comm.size)
        self._ctl.flush(me)
        return v

    def min_clock(self) -> int:
        """The slowest worker's clock (every update of clocks below it is at its owner)."""
        return int(self._clocks().min())

    def _bounded(self) -> bool:
        return self.staleness is not None

    # ------------------------------------------------------------ interface
    def get(self, row_ids) -> np.ndarray:
        ids = self._rows(row_ids)
        c = self.clock_
        if self.eager:
            need = self._version[ids] < self.min_clock()
        else:
            need = self._version[ids] < c - self.staleness
        if need.any():
            self._refresh(np.unique(ids[need]))
        if ids.size:
            self._record(c - int(self._version[ids].min()))
            if self.debug and self._bounded():
                g = int(self._guarantee[ids].min())
                if g < c - self.staleness:
                    raise StalenessViolation(
                        f"table {self.name!r} ({self.kind}): a read at clock {c} returned rows "
                        f"complete only up to clock {g - 1} of some worker (owner counters); "
                        f"bound {self.staleness} needs clock {c - self.staleness - 1}")
        return self._cache[ids]

    def inc(self, row_ids, deltas) -> None:
        ids = self._rows(row_ids)
        d = self._deltas(ids, deltas)
        if ids.size and ids[-1] - ids[0] + 1 == ids.size and np.all(np.diff(ids) == 1):
            ids = slice(int(ids[0]), int(ids[-1]) + 1)  # a run of rows: a slice, no copies
        if isinstance(ids, slice) or (ids.size and np.all(np.diff(ids) > 0)):  # distinct: no np.add.at
            self._cur[ids] += d
            self._cache[ids] += d                   # read-my-writes for cached rows
        else:
            np.add.at(self._cur, ids, d)
            np.add.at(self._cache, ids, d)
        self._cur_rows[ids] = True

    def clock(self) -> None:
        c = self.clock_
        me, size = self.comm.rank, self.comm.size
        rows = np.flatnonzero(self._cur_rows | self._prev_rows)
        if rows.size:
            send = self._prev[rows] + self._cur[rows]
            pos = 0
            for o, a, b in self._owner_spans(rows):
                n = b - a
                self._data.accumulate(o, self._disp(o, (c + 1) % 2, a), send[pos:pos + n])
                pos += n
            self._data.flush()
        one = np.ones(1, dtype=np.int64)
        if self.debug:  # phase 1: "flushed" counters, complete everywhere before the clocks move
            for r in range(size):
                self._ctl.accumulate(r, size + me, one)
            self._ctl.flush()
        for r in range(size):
            self._ctl.accumulate(r, me, one)
        self._ctl.flush()
        self._prev, self._cur = self._cur, self._prev
        self._prev_rows, self._cur_rows = self._cur_rows, self._prev_rows
        self._cur[self._cur_rows] = 0.0
        self._cur_rows[:] = False
        self.clock_ = c + 1
        if self._bounded():
            self._wait_for(self.clock_ - self.staleness)
        if self.eager:
            cached = np.flatnonzero(self._version != NOT_CACHED)
            if cached.size:
                m = self.min_clock()
                old = cached[self._version[cached] < m]
                if old.size:
                    self._refresh(old)

    def _wait_for(self, target: int) -> None:
        if target <= 0:
            return
        self.wait_seconds_ += rma.wait_until(self.comm, lambda: self.min_clock() >= target,
                                             f"{self.name}:{self.kind}-wait")

    def _refresh(self, rows: np.ndarray) -> None:
        """Fetch ``rows`` (sorted, distinct) from their owners' ``copy[m % 2]``."""
        c, me, size = self.clock_, self.comm.rank, self.comm.size
        m = self.min_clock()
        X = m % 2
        spans = self._owner_spans(rows)
        counters = {}
        if self.debug:
            for o in sorted({o for o, _, _ in spans}):
                counters[o] = self._ctl.read(o, size, size)
            self._ctl.flush()
        parts = [self._data.read(o, self._disp(o, X, a), (b - a) * self.width) for o, a, b in spans]
        self._data.flush()
        for (o, a, b), buf in zip(spans, parts):
            self._cache[a:b] = buf.reshape(b - a, self.width)
        if X != c % 2:
            self._cache[rows] += self._prev[rows]
        self._cache[rows] += self._cur[rows]
        self._version[rows] = m
        if self.debug:
            self._check_owner_counters(spans, counters, X, c, me)

    def _check_owner_counters(self, spans, counters, X, c, me) -> None:
        for o, a, b in spans:
            f = counters[o]
            # copy X holds worker w's updates of clocks < n_w (see the module docstring)
            n = np.where(f % 2 == X, f, f - 1)
            if int(f[me]) != c:
                raise StalenessViolation(
                    f"table {self.name!r}: owner {o} has {int(f[me])} of this worker's {c} "
                    f"clocks of updates (read-my-writes broken)")
            others = np.delete(n, me)
            self._guarantee[a:b] = int(others.min()) if others.size else c

    def sync(self) -> None:
        """Collective.  Every worker must be at the same clock.  Afterwards both
        copies hold every update and the next reads fetch them (staleness 0)."""
        if self._cur_rows.any():
            raise RuntimeError(f"table {self.name!r}: sync() with increments not yet clocked")
        c = self.clock_
        rows = np.flatnonzero(self._prev_rows)
        if rows.size:
            # the copy that still lacks this worker's previous clock
            send = self._prev[rows]
            pos = 0
            for o, a, b in self._owner_spans(rows):
                self._data.accumulate(o, self._disp(o, (c + 1) % 2, a), send[pos:pos + b - a])
                pos += b - a
            self._data.flush()
        self._prev[rows] = 0.0
        self._prev_rows[:] = False
        self.comm.barrier(kind=f"{self.name}:sync")
        clocks = self._clocks()
        if (clocks != c).any():
            raise RuntimeError(f"table {self.name!r}: sync() at clock {c}, but the workers' "
                               f"clocks are {clocks.tolist()}")
        self._version[:] = NOT_CACHED

    def snapshot(self) -> np.ndarray:
        self.sync()
        rows = np.arange(self.n_rows)
        self._refresh(rows)
        return self._cache.copy()

    def load(self, values, clock: int = 0) -> None:
        v = self._check_load(values)
        me, size = self.comm.rank, self.comm.size
        self.comm.barrier(kind=f"{self.name}:load")
        shard = v[self._lo:self._hi].reshape(-1)
        for copy in (0, 1):
            self._data.accumulate(me, self._disp(me, copy, self._lo), shard, op="replace")
        self._ctl.accumulate(me, 0, np.full(2 * size, int(clock), dtype=np.int64), op="replace")
        self._data.flush()
        self._ctl.flush()
        self.comm.barrier(kind=f"{self.name}:load")
        self._cache[:] = v
        self._version[:] = int(clock)
        self._guarantee[:] = int(clock)
        for a in (self._cur, self._prev):
            a[:] = 0.0
        self._cur_rows[:] = False
        self._prev_rows[:] = False
        self.clock_ = int(clock)

    def poll(self) -> None:
        rma.poll(self.comm)

    def close(self) -> None:
        """Collective."""
        if self.closed:
            return
        self.closed = True
        self._data.free()
        self._ctl.free()
