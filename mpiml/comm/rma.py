"""One-sided (RMA) windows for parameter tables, and waits that cannot hang.

What this module relies on from MPI, and why (the progress behaviour was
measured on one node with MPICH 5 from PyPI, a target rank busy in numpy
without MPI calls; the rest is the MPI-3 standard):

* Windows are allocated by MPI (``Win.Allocate``) and every rank opens a
  passive-target ``Lock_all`` epoch right after creation, while all ranks
  are inside MPI.  With that, ``Accumulate``, ``Get_accumulate`` and
  ``Flush`` complete in microseconds while the target rank computes without
  calling MPI.  Per-operation ``Lock``/``Unlock``, ``Win.Create`` windows
  and a later ``Lock_all`` wait for the target to enter MPI; we use none.
* Accumulate operations are atomic per element (MPI-3 §11.7.1), with no
  ordering across origins.  So every location that others accumulate into
  is read with ``Get_accumulate(NO_OP)`` (or ``Fetch_and_op``), never with
  ``Get``, and never with a plain load of local memory.  A vector read is
  not a snapshot: only per-element guarantees hold.
* ``Flush(target)`` returns when this origin's operations are complete at
  the target.  Ordering between two of our operations is obtained only by
  flushing the first before issuing the second (e.g. parameter increments,
  then the clock counter that announces them).
* Every buffer names its MPI datatype explicitly (``DOUBLE``, ``INT64_T``):
  mpi4py would otherwise map int64 to ``MPI_LONG``.
* Passive-target progress without the target's help is an implementation
  property, not a guarantee of the standard (MPI Forum issues 635/637); across
  nodes, atomics may be emulated in software and need the target to call
  MPI.  Ranks therefore call :func:`poll` (an ``Iprobe``) from their compute
  loops, and :func:`wait_until` keeps calling MPI while it backs off.
* ``Unlock_all`` and ``Free`` are collective-ish (they wait for the targets):
  windows are freed by every rank together, by :meth:`Window.free` or, on an
  agreed error, by the communicator's ``close()`` (``Comm.register_window``).

Waits on window contents are not MPI operations, so no request completes
when a peer fails.  :func:`wait_until` therefore asks the communicator's
failure channel on every round (``comm.check_failure()``, one ``MPI_Test``
of the posted notice receive, see :mod:`mpiml.comm.failure`), which raises
inside an agreed block once a failure notice for it has arrived.  Waits are
accounted as wait time and are visible to the watchdog like any other wait.

Windows register with their communicator (``comm.register_window``), whose
collective ``close()`` frees whatever is still open; any operation on a
freed window raises instead of touching freed MPI memory.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict

import numpy as np

from . import _mpi

# Backoff of waits: first sleep, and the longest sleep between two polls.
_FIRST_SLEEP = 2e-5
_MAX_SLEEP = 1e-3


# ids of the communicators inside wait_until (on this thread of this process)
_WAITING: set = set()


def _blocking(comm, kind: str, wait: bool = False):
    # Inside wait_until the operations that check the condition are part of
    # the wait: accounting them separately would end the watchdog's view of
    # the wait at every check (and count the time twice).
    if id(comm) in _WAITING:
        return contextlib.nullcontext()
    return comm.timed(kind, wait=wait)


def poll(comm) -> None:
    """Let MPI progress one-sided traffic that targets this rank (cheap)."""
    comm.poll()


class Window:
    """A window of ``n`` elements of ``dtype`` per rank.  Collective.

    Created with ``Win.Allocate`` and immediately locked (``Lock_all``), so
    the passive-target operations below progress without the target's help.
    Memory starts zeroed.  Use :func:`allocate` rather than this class, so
    test doubles can substitute their own windows.

    Operations are non-blocking until :meth:`flush`; buffers handed to them
    are kept alive here until then.  Displacements and counts are in
    elements.
    """

    def __init__(self, comm, n: int, dtype, name: str = "rma"):
        MPI = _mpi.MPI()
        self.comm, self.name = comm, name
        self.dtype = np.dtype(dtype)
        self.n = int(n)
        self._dt = _mpi.datatype(self.dtype)
        # Entry sync first: a rank that failed before creating the window
        # makes the others leave instead of hanging in Win.Allocate.
        comm.barrier(kind=f"{name}:create")
        item = self.dtype.itemsize
        self.win = MPI.Win.Allocate(max(self.n, 1) * item, disp_unit=item, comm=comm.mpi)
        # While every rank is inside MPI: measured with MPICH 5, a Lock_all
        # opened later waits until the target next enters MPI.
        self.win.Lock_all(MPI.MODE_NOCHECK)
        mem = np.frombuffer(self.win.tomemory(), dtype=self.dtype, count=max(self.n, 1))
        mem[:] = 0
        self.win.Sync()            # make the zeroes visible to remote atomics
        self._pending: dict = defaultdict(list)   # target -> buffers in flight
        self._dummy = np.zeros(0, dtype=self.dtype)
        self.freed = False
        comm.register_window(self)
        comm.barrier(kind=f"{name}:create")

    def _live(self):
        if self.freed:
            raise RuntimeError(f"RMA window {self.name!r} used after free()")
        return self.win

    # ------------------------------------------------------------- operations
    def accumulate(self, target: int, disp: int, values, op: str = "sum") -> None:
        """``window[target][disp:disp+len(values)] (op)= values``, atomic per element."""
        v = np.ascontiguousarray(values, dtype=self.dtype).reshape(-1)
        if v.size == 0:
            return
        mop = _mpi.MPI().REPLACE if op == "replace" else _mpi.op(op)
        self._pending[target].append(v)
        win = self._live()
        self.comm.stats.add(self.name, v.nbytes)
        win.Accumulate([v, self._dt], target, target=[disp, v.size, self._dt], op=mop)

    def read(self, target: int, disp: int, count: int) -> np.ndarray:
        """Start an atomic read (``Get_accumulate`` with ``NO_OP``) of
        ``count`` elements; the returned array is valid after :meth:`flush`."""
        win = self._live()
        out = np.empty(int(count), dtype=self.dtype)
        if count == 0:
            return out
        if self._dummy.size < count:
            self._dummy = np.zeros(int(count), dtype=self.dtype)   # ignored by NO_OP
        self._pending[target].append(out)
        self.comm.stats.add(self.name, out.nbytes)
        win.Get_accumulate([self._dummy[:count], self._dt], [out, self._dt], target,
                                target=[disp, int(count), self._dt], op=_mpi.MPI().NO_OP)
        return out

    def fetch_add(self, target: int, disp: int, value) -> int:
        """Atomic fetch-and-add of one element; returns the old value."""
        MPI = _mpi.MPI()
        v = np.array([value], dtype=self.dtype)
        old = np.empty(1, dtype=self.dtype)
        self._live().Fetch_and_op([v, self._dt], [old, self._dt], target, disp, op=MPI.SUM)
        self.flush(target)
        return old[0].item()

    def flush(self, target: int | None = None) -> None:
        """Complete this rank's operations (at ``target``, or at every rank)."""
        win = self._live()
        with _blocking(self.comm, self.name):
            if target is None:
                win.Flush_all()
            else:
                win.Flush(target)
        if target is None:
            self._pending.clear()
        else:
            self._pending.pop(target, None)

    # ------------------------------------------------------------------- life
    def free(self) -> None:
        """Collective.  End the epoch and free the window (idempotent)."""
        if self.freed:
            return
        self.comm.barrier(kind=f"{self.name}:free")
        self._free_now()

    def _free_now(self) -> None:
        self.freed = True
        self._pending.clear()
        win, self.win = self.win, None
        win.Unlock_all()
        win.Free()
        self.comm.unregister_window(self)


def allocate(comm, n: int, dtype, name: str = "rma"):
    """Collective.  A :class:`Window` of ``n`` elements per rank (zeroed).

    A communicator may bring its own implementation through an
    ``allocate_window(n, dtype, name)`` method (threaded test doubles do).
    """
    own = getattr(comm, "allocate_window", None)
    if own is not None:
        return own(n, dtype, name)
    return Window(comm, n, dtype, name)


class Counter:
    """A shared integer on rank 0 that any rank can fetch-and-add without rank
    0's help (a one-element window, see the module notes).  Collective."""

    def __init__(self, comm, name: str = "counter"):
        self.win = Window(comm, 1, np.int64, name)

    def fetch_add(self, value: int = 1) -> int:
        """Add ``value``; returns the value before (atomic)."""
        return int(self.win.fetch_add(0, 0, value))

    def free(self) -> None:
        """Collective."""
        self.win.free()


def open_windows(comm) -> int:
    """Number of windows allocated on ``comm`` and not yet freed (for tests)."""
    return int(comm.open_windows)


def wait_until(comm, ready, kind: str, max_sleep: float = _MAX_SLEEP) -> float:
    """Block until ``ready()`` is true; returns the seconds waited.

    Between checks it polls MPI (so one-sided traffic to this rank
    progresses even where that needs the target's help), asks the failure
    channel (``comm.check_failure()`` raises once a peer failed inside an
    agreed block open here) and sleeps with exponential backoff up to
    ``max_sleep`` instead of spinning, leaving the core to ranks that
    compute.  The time counts as wait time and the watchdog sees the wait.
    """
    if ready():
        return 0.0
    t0 = time.perf_counter()
    sleep = _FIRST_SLEEP
    with _blocking(comm, kind, wait=True):
        _WAITING.add(id(comm))
        try:
            while True:
                poll(comm)
                comm.check_failure()
                if ready():
                    break
                time.sleep(sleep)
                sleep = min(2 * sleep, max_sleep)
        finally:
            _WAITING.discard(id(comm))
    return time.perf_counter() - t0
