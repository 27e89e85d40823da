"""Communicator wrapper: accounting, waits that watch the failure channel,
error agreement and watchdog hooks.

How a failure reaches every rank, and why no interleaving hangs, is in
:mod:`mpiml.comm.failure`.  The operations themselves (collectives started
as their MPI-3 non-blocking forms, point-to-point exchanges) are in
:mod:`mpiml.comm.operations`; this module has what they share: :meth:`Comm._wait`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import traceback
from collections import defaultdict

from ..errors import CollectiveError, MpimlError
from . import _mpi
from .failure import FailureChannel, Notice
from .operations import Operations
from .watchdog import Watchdog


# Waits poll (Testany, or Testall and then Test, over the operation and the
# failure channel's receive) and yield the core every 256 polls that found nothing.  Measured
# here with 2 ranks on loaded cores: MPI_Waitany (which never yields) made an
# 8 MiB Iallreduce take 1.7x as long as MPI_Wait (which does) because the
# polling rank took the CPU from its peer; this loop matched MPI_Wait.
_YIELD_MASK = 255


class _PeerFailed(Exception):
    """Internal: a notice for an open agreed block arrived (see :mod:`.failure`)."""


class PeerAborted(Exception):
    """Raise inside an agreed block when you learn out of band that another
    rank failed.  :meth:`Comm.agree` then joins recovery and raises the other
    rank's error here too.  (Waits inside ``Comm`` and
    :func:`mpiml.comm.rma.wait_until` learn it from the failure channel and
    need no such help.)"""


class CommStats:
    """Per-rank counters: payload bytes and messages per kind (``bytes_sent``,
    ``messages``), operations per kind (``calls``, collectives and
    point-to-point alike, for tests that check who talks to whom), seconds in
    communication and in waiting for other ranks."""

    def __init__(self):
        self.bytes_sent: dict[str, int] = defaultdict(int)
        self.messages: dict[str, int] = defaultdict(int)
        self.collectives: dict[str, int] = defaultdict(int)
        self.p2p: dict[str, int] = defaultdict(int)
        self.comm_seconds = 0.0
        self.wait_seconds = 0.0

    def add(self, kind: str, nbytes: int, messages: int = 1) -> None:
        self.bytes_sent[kind] += int(nbytes)
        self.messages[kind] += int(messages)

    @property
    def total_bytes(self) -> int:
        return int(sum(self.bytes_sent.values()))

    @property
    def n_collectives(self) -> int:
        """Collective operations started so far (agreement barriers included)."""
        return int(sum(self.collectives.values()))

    def snapshot(self) -> dict:
        return {"bytes": self.total_bytes, "comm": self.comm_seconds,
                "wait": self.wait_seconds, "by_kind": dict(self.bytes_sent)}


def mpi_info() -> dict:
    """MPI library and mpi4py versions (initialises MPI)."""
    import mpi4py
    m = _mpi.MPI()
    lib = m.Get_library_version().strip().splitlines()[0]
    return {"mpi_library": " ".join(lib.split()), "mpi_standard": "%d.%d" % m.Get_version(),
            "mpi4py": mpi4py.__version__, "thread_level": int(m.Query_thread())}


class Request:
    """Started non-blocking operations: ``test()`` polls, ``wait()`` blocks.

    ``reqs`` is one MPI request or a list of them, completed together.  Both
    calls watch the failure channel like every wait in :class:`Comm`: inside
    an agreed block whose failure notice arrives they raise (and the block's
    ``agree`` turns that into the same CollectiveError everywhere).  ``keep``
    holds what the operation reads or writes until it completed.
    """

    # A collective: its wait counts as waiting for other ranks.
    _p2p = False

    def __init__(self, reqs, comm: "Comm", kind: str, keep=None):
        self._reqs = list(reqs) if isinstance(reqs, (list, tuple)) else [reqs]
        self._comm, self._kind, self._keep = comm, kind, keep
        self.done = not self._reqs
        if not self.done:
            comm._inflight[id(self)] = self

    def test(self) -> bool:
        if self.done:
            return True
        if self._comm._MPI.Request.Testall(self._reqs):
            self._finish()
            return True
        self._comm.check_failure()
        return False

    def wait(self) -> None:
        if self.done:
            return
        c = self._comm
        if not self._p2p:
            c._wait(self._reqs, self._kind, wait=True)
        elif c._open:
            c._wait(self._reqs, self._kind, cancel=True)
        else:   # outside every block no notice can concern it (see Comm._wait)
            c._MPI.Request.Waitall(self._reqs)
        self._finish()

    def _finish(self) -> None:
        self.done = True
        self._keep = None
        self._comm._inflight.pop(id(self), None)


class MultiRequest(Request):
    """Several point-to-point requests completed together: abandoned ones are
    cancelled, and a wait counts as communication time."""

    _p2p = True


class Comm(Operations):
    """Wrapper around a *duplicate* of an MPI communicator.

    Collective (the constructor duplicates the communicator).

    Parameters
    ----------
    mpi_comm : mpi4py communicator, optional
        Defaults to ``MPI.COMM_WORLD``.  Library traffic never collides with
        the caller's because it runs on a ``Dup``.
    watchdog_timeout : float or None
        Seconds a single wait may last before the job is aborted with a report
        of which ranks are lagging and where.  ``None`` disables it.

    Notes
    -----
    No operation synchronises more ranks than it involves: point-to-point
    exchanges talk to their peers only, collectives are the MPI collective
    and nothing more.  A failure on one rank reaches the others through the
    failure channel (:mod:`mpiml.comm.failure`), which every wait watches.
    The only added global step is the barrier that closes each agreed block.
    """

    def __init__(self, mpi_comm=None, *, watchdog_timeout: float | None = None,
                 measure_wait: bool = True):
        MPI = _mpi.MPI()
        self._MPI = MPI
        base = MPI.COMM_WORLD if mpi_comm is None else mpi_comm
        self.mpi = base.Dup()
        self.rank = self.mpi.Get_rank()
        self.size = self.mpi.Get_size()
        self.stats = CommStats()
        self.measure_wait = measure_wait
        self._closed = False
        self._failure_hooks: list = []
        self._windows: list = []
        # Started operations not yet completed (Request/MultiRequest), and, after a
        # failure, every operation left unfinished: their requests hold the buffers
        # MPI may still write into (mpi4py keeps them on the request), so they must
        # outlive the failure (freeing them made a late write corrupt the heap).
        self._inflight: dict = {}
        self._abandoned: list = []
        self._channel = FailureChannel(self.mpi)
        self._status = MPI.Status()
        self._statuses: list = []
        self._blocks = 0          # agreed blocks opened so far (same count on every rank)
        self._open: list = []     # numbers of the agreed blocks open now, innermost last
        self._watchdog = None
        if watchdog_timeout:
            self._watchdog = Watchdog(self, float(watchdog_timeout))

    # ----------------------------------------------------------------- life
    def close(self) -> None:
        """Collective.  Free the registered RMA windows (newest first), the
        watchdog's window, the failure channel and the duplicate."""
        if self._closed:
            return
        for win in list(reversed(self._windows)):
            win.free()
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.close()
        self._channel.close()
        self.mpi.Free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def abort(self, code: int = 1) -> None:
        """Abort the whole job (every rank of COMM_WORLD)."""
        self._MPI.COMM_WORLD.Abort(code)

    def register_window(self, win) -> None:
        """Remember an RMA window so that :meth:`close` frees it.

        After an agreed error no algorithm code runs again, but every rank
        still closes its communicator, in the same order: that is where
        leftover windows are freed (every rank created the same ones).
        ``win`` needs a collective ``free()`` that calls
        :meth:`unregister_window`.  Windows left open at MPI_Finalize make UCX
        print warnings at exit."""
        if self._closed:
            raise RuntimeError("register_window on a closed Comm")
        self._windows.append(win)

    def unregister_window(self, win) -> None:
        if win in self._windows:
            self._windows.remove(win)

    def counter(self, name: str = "counter"):
        """Collective.  A shared integer (on rank 0) with an atomic
        ``fetch_add(value)`` that completes without rank 0's help, and a
        collective ``free()`` (:class:`mpiml.comm.rma.Counter`)."""
        from .rma import Counter
        return Counter(self, name)

    @property
    def open_windows(self) -> int:
        """Number of registered windows not yet freed."""
        return len(self._windows)

    # ------------------------------------------------------------ bookkeeping
    @contextlib.contextmanager
    def phase(self, name: str, iteration: int = -1):
        """Label what this rank is doing (shown by the watchdog when it fires)."""
        if self._watchdog is None:
            yield
            return
        prev = self._watchdog.set_phase(name, iteration)
        try:
            yield
        finally:
            self._watchdog.set_phase(*prev)

    @contextlib.contextmanager
    def timed(self, kind: str, wait: bool = False):
        """Account a stretch of time as communication (or waiting) and show it
        to the watchdog (used by RMA operations)."""
        t0 = time.perf_counter()
        wd = self._watchdog
        if wd is not None:
            wd.enter_wait(kind)
        try:
            yield
        finally:
            if wd is not None:
                wd.leave_wait()
            if wait:
                self.stats.wait_seconds += time.perf_counter() - t0
            else:
                self.stats.comm_seconds += time.perf_counter() - t0

    def on_failure(self, fn) -> None:
        """Call ``fn()`` on this rank when :meth:`agree` catches an exception
        raised here, before the failure notice is sent."""
        self._failure_hooks.append(fn)

    def remove_failure_hook(self, fn) -> None:
        if fn in self._failure_hooks:
            self._failure_hooks.remove(fn)

    def poll(self) -> None:
        """Give MPI a chance to progress (one-sided traffic targeting us)."""
        self.mpi.Iprobe()

    # ----------------------------------------------------------------- waits
    def _notice_concerns_us(self, notice: Notice) -> bool:
        # The failing block is open here: abandon.  A block not opened yet
        # (or no block open): the failing rank got past what we wait for.
        return notice.block in self._open

    def check_failure(self) -> None:
        """Raise if a failure notice for an agreed block open on this rank has
        arrived (cheap: one ``MPI_Test``).  For waits that are not MPI
        operations (spinning on window contents) and polling loops."""
        ch = self._channel
        if self._open and ch.request is not None:
            notice = ch.test()
            if notice is not None and self._notice_concerns_us(notice):
                raise _PeerFailed(notice.message)

    def _wait(self, reqs: list, kind: str, wait: bool = False, cancel: bool = False) -> None:
        """Complete ``reqs`` or raise ``_PeerFailed`` when a notice for an open
        agreed block arrives first.  ``cancel``: the requests are point-to-point
        and may be cancelled when abandoned.  ``wait``: account the time as
        waiting for other ranks (else as communication).

        The polls are the cheapest MPI offers for the two shapes: one request
        is tested together with the notice receive by ``Testany``; several by
        ``Testall`` and then the notice receive by its own ``Test`` (measured
        here at 2 ranks, 8 B exchange: ~5.0 us per exchange, like a plain
        ``Waitall``, against ~7.1 us for ``Testsome`` over all of them, whose
        per-call status list mpi4py rebuilds).  Either way a notice is seen
        within one poll of its arrival.
        """
        MPI = self._MPI
        t0 = time.perf_counter()
        wd = self._watchdog
        if wd is not None:
            wd.enter_wait(kind)
        try:
            ch = self._channel
            note = ch.request
            if not self._open or note is None or (ch.notice is not None
                                                  and not self._notice_concerns_us(ch.notice)):
                MPI.Request.Waitall(reqs)
                return
            if ch.notice is not None:
                self._abandon(reqs, cancel)
            st = self._status
            k = 0
            if len(reqs) == 1:
                lst = [reqs[0], note]
                testany = MPI.Request.Testany
                i, flag = testany(lst, st)
                while not flag:
                    k += 1
                    if not k & _YIELD_MASK:
                        os.sched_yield()
                    i, flag = testany(lst, st)
                if i == 0:
                    return
            else:
                testall = MPI.Request.Testall
                test_note = note.Test
                while not testall(reqs):
                    if test_note(st):
                        break
                    k += 1
                    if not k & _YIELD_MASK:
                        os.sched_yield()
                else:
                    return
            # the notice receive completed first (the operation may be done too:
            # then the notice waits in ch.notice for the next wait that it concerns)
            ch.arrived(st)
            if self._notice_concerns_us(ch.notice):
                self._abandon(reqs, cancel)
            MPI.Request.Waitall(reqs)
        finally:
            if wd is not None:
                wd.leave_wait()
            dt = time.perf_counter() - t0
            if wait and self.measure_wait:
                self.stats.wait_seconds += dt
            else:
                self.stats.comm_seconds += dt

    def _abandon(self, reqs, cancel: bool):
        """Leave the operation unfinished (its communicator is replaced in
        recovery); its requests, and with them its buffers, are kept alive."""
        self._abandoned.append(list(reqs))
        if cancel:
            for r in reqs:
                try:
                    r.Cancel()
                except Exception:  # noqa: BLE001 - best effort; the request is abandoned anyway
                    pass
        raise _PeerFailed(self._channel.notice.message)

    # ---------------------------------------------------------- error agreement
    @contextlib.contextmanager
    def agree(self, what: str = ""):
        """Collective.  Run the block on every rank; if it raised anywhere, raise
        the same :class:`CollectiveError` on every rank.

        The error names the lowest failing rank and keeps the original's exit
        code, so every rank exits alike.  While nothing fails it costs one
        barrier at the end of the block.  A rank that raises sends a failure
        notice, which releases the others from whatever they wait on inside
        the block (:mod:`mpiml.comm.failure`).  Blocks may nest: an inner
        block's CollectiveError is already agreed everywhere and passes
        through outer blocks unchanged.
        """
        self._blocks += 1
        block = self._blocks
        self._open.append(block)
        err = None
        try:
            try:
                yield
            except CollectiveError:
                raise
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
                err = exc
            if self.size == 1:
                if err is None:
                    return
            elif err is None:
                try:
                    self.stats.collectives["agree"] += 1
                    self._wait([self.mpi.Ibarrier()], "agree", wait=True)
                    return
                except _PeerFailed as exc:
                    err = exc
            self._recover(err, block, what)
        finally:
            self._open.remove(block)

    def _recover(self, err, block: int, what: str):
        own = err is not None and not isinstance(err, (_PeerFailed, PeerAborted))
        mine = None
        if own:
            for hook in list(self._failure_hooks):
                try:
                    hook()
                except Exception:  # noqa: BLE001 - the original error matters more
                    pass
            detail = str(err)
            kind = type(err).__name__
            if not isinstance(err, MpimlError):
                detail = f"{kind}: {detail}" if detail else kind
            code = int(getattr(err, "exit_code", 1))
            tb = "".join(traceback.format_exception(err)) if not isinstance(err, MpimlError) else ""
            mine = (kind, detail, code, tb, what)
            if self.size > 1:
                self._channel.notify(Notice(self.rank, block, code, detail))
        if self.size == 1:
            verdicts, counters = [mine], [self._blocks]
        else:
            with self.timed("agree", wait=True):
                ch = self._channel
                both = ch.spare.allgather((mine, self._blocks))
                verdicts, counters = [b[0] for b in both], [b[1] for b in both]
                failed = [r for r, v in enumerate(verdicts) if v is not None]
                old, self.mpi = self.mpi, ch.spare.Dup()
                old.Free()   # pending operations of the failed block stay abandoned
                self._abandoned.append(list(self._inflight.values()))
                self._inflight.clear()
                ch.settle(failed)
                ch.spare.Barrier()
        self._blocks = max(counters)
        failed = [r for r, v in enumerate(verdicts) if v is not None]
        if not failed:  # only PeerAborted raised: an out-of-band alarm without a cause
            failed = [self.rank]
            verdicts = list(verdicts)
            verdicts[self.rank] = ("PeerAborted", "a peer reported a failure that no rank raised",
                                   1, "", what)
        origin = failed[0]
        kind, detail, code, tb, where = verdicts[origin]
        if where:
            detail = f"{detail} (while {where})"
        if len(failed) > 1:
            detail += f" [also failed on ranks {', '.join(map(str, failed[1:]))}]"
        exc = CollectiveError(detail, origin_rank=origin, kind=kind, exit_code=code)
        exc.traceback_text = tb
        raise exc from (err if own else None)

    # --------------------------------------------------------------- topology
    def hosts(self) -> list[str]:
        """Collective.  Host name of every rank, in rank order."""
        return self.allgather_obj(socket.gethostname(), "hosts")

    def check_same(self, value, what: str) -> None:
        """Collective.  Raise ConfigError on every rank unless ``value`` (any
        picklable) is equal on all ranks."""
        from ..errors import ConfigError
        values = self.allgather_obj(value, "check_same")
        bad = [r for r, v in enumerate(values) if v != values[0]]
        if bad:
            raise ConfigError(f"{what} differs between ranks: rank 0 has {values[0]!r}, "
                              f"rank {bad[0]} has {values[bad[0]]!r}")

    def __repr__(self) -> str:
        return f"Comm(rank={self.rank}, size={self.size}, pid={os.getpid()})"
