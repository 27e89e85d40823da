"""The parameter-table interface every consistency model implements.

A table holds ``n_rows`` dense float64 rows of ``width`` values, sharded over
the ranks (or replicated, depending on the model).  Every algorithm uses the
same four operations, after Petuum Bösen's client API (Ho et al. NIPS 2013):

``get(row_ids)``
    The rows, as this worker may see them.  Read-my-writes: the worker's
    own increments are always included, immediately.
``inc(row_ids, deltas)``
    Additive update (commutative and associative), buffered until the next
    ``clock()``.
``clock()``
    End of this worker's iteration: its buffered increments become visible
    to the others, its clock advances by one.
``close()``
    Collective: frees every window.

Clocks count completed ``clock()`` calls.  Increments made while a worker's
clock is ``t`` are "updates from clock t".  A read at clock ``c`` with
staleness ``s`` is guaranteed every update from clocks ``<= c - s - 1`` of
every worker (and may see newer ones).  Instrumentation: each ``get``
records its staleness, the number of most recent clocks of other workers'
updates the rows it returned may miss (``c`` minus the clock the rows are
complete up to; the maximum over the rows read), in a histogram that
:meth:`Table.pop_staleness` hands out.  With ``debug=True`` every read is
checked against the bound and :class:`StalenessViolation` raised if it is
ever exceeded.

Besides the four operations, tables offer ``sync()`` (collective: make every
worker's view complete, used at iteration ends for evaluation and
checkpoints), ``snapshot()``/``load()`` (collective: the whole table, for
checkpoints) and ``poll()`` (let MPI progress while computing).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, MpimlError

# Staleness histogram bins 0 .. STALE_BINS-2; the last bin counts anything larger.
STALE_BINS = 64


class StalenessViolation(MpimlError):
    """A read returned rows older than the staleness bound allows (a bug)."""


class Table:
    """Base class: argument checking, the staleness histogram, the clock.

    Parameters
    ----------
    comm : communicator (:class:`mpiml.comm.Comm` or a stand-in)
    n_rows, width : shape of the table
    staleness : int or None
        The bound ``s`` (``None``: unbounded, asynchronous); validated by
        :func:`mpiml.consistency.make_table`, which builds every table.
    debug : bool
        Check the bound on every read.
    name : label used in communication statistics
    """

    kind = "table"

    def __init__(self, comm, n_rows: int, width: int, staleness: int | None = 0,
                 debug: bool = False, name: str = "table"):
        if n_rows < 1 or width < 1:
            raise ConfigError(f"a table needs n_rows >= 1 and width >= 1, got {n_rows} x {width}")
        self.comm = comm
        self.n_rows, self.width = int(n_rows), int(width)
        self.staleness = None if staleness is None else int(staleness)
        self.debug = bool(debug)
        self.name = name
        self.clock_ = 0
        self.n_reads_ = 0
        self.max_staleness_ = 0
        self._hist = np.zeros(STALE_BINS, dtype=np.int64)
        self.closed = False

    # ------------------------------------------------------------ interface
    def get(self, row_ids) -> np.ndarray:
        raise NotImplementedError

    def get_all(self) -> np.ndarray:
        """Every row (same rules as :meth:`get`)."""
        return self.get(np.arange(self.n_rows))

    def inc(self, row_ids, deltas) -> None:
        raise NotImplementedError

    def clock(self) -> None:
        raise NotImplementedError

    def sync(self) -> None:
        """Collective.  Flush everything; afterwards every worker's reads
        contain every update made so far (staleness 0)."""
        raise NotImplementedError

    def snapshot(self) -> np.ndarray:
        """Collective.  The complete table (every update so far), on every rank.

        Not recorded as a read in the staleness statistics."""
        raise NotImplementedError

    def load(self, values, clock: int = 0) -> None:
        """Collective.  Replace the contents by ``values`` (``n_rows x width``,
        the same on every rank) and set every worker's clock to ``clock``."""
        raise NotImplementedError

    def poll(self) -> None:
        """Let MPI progress one-sided traffic aimed at this rank (cheap);
        call it from compute loops."""

    def close(self) -> None:
        """Collective.  Free the table's resources (windows).  Idempotent."""
        self.closed = True

    # -------------------------------------------------------- instrumentation
    def pop_staleness(self) -> np.ndarray:
        """Histogram of the staleness of the reads since the last call
        (``STALE_BINS`` counts; the last bin is 'that many or more')."""
        h = self._hist
        self._hist = np.zeros(STALE_BINS, dtype=np.int64)
        return h

    def _record(self, staleness: int) -> None:
        s = int(staleness)
        self.n_reads_ += 1
        self.max_staleness_ = max(self.max_staleness_, s)
        self._hist[min(s, STALE_BINS - 1)] += 1
        if self.debug and self.staleness is not None and s > self.staleness:
            raise StalenessViolation(
                f"table {self.name!r} ({self.kind}): a read at clock {self.clock_} returned rows "
                f"{s} clocks stale, bound is {self.staleness}")

    # ---------------------------------------------------------------- helpers
    def _rows(self, row_ids) -> np.ndarray:
        ids = np.asarray(row_ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_rows):
            bad = ids[(ids < 0) | (ids >= self.n_rows)][0]
            raise IndexError(f"table {self.name!r}: row {bad} out of range [0, {self.n_rows})")
        return ids

    def _deltas(self, ids, deltas) -> np.ndarray:
        d = np.asarray(deltas, dtype=np.float64)
        if d.shape != (ids.size, self.width):
            raise ValueError(f"table {self.name!r}: deltas of shape {d.shape}, expected "
                             f"({ids.size}, {self.width})")
        return d

    def _check_load(self, values) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (self.n_rows, self.width):
            raise ValueError(f"table {self.name!r}: load() needs shape ({self.n_rows}, {self.width}), "
                             f"got {v.shape}")
        return v

    def describe(self) -> str:
        s = "inf" if self.staleness is None else str(self.staleness)
        return f"{self.kind} (staleness {s})"
