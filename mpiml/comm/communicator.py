"""Communicator wrapper with accounting, error agreement and watchdog hooks."""

from __future__ import annotations

import contextlib
import os
import socket
import time
import traceback
from collections import defaultdict

import numpy as np

from ..errors import CollectiveError, MpimlError
from . import _mpi
from .watchdog import Watchdog

_TAG_EXCHANGE = 17
_TAG_SENDRECV = 18


class _PeerFailed(Exception):
    """Internal: another rank failed inside an agreed block (see Comm.agree)."""


class PeerAborted(Exception):
    """Raise inside an agreed block when you learn out of band (e.g. from a
    flag in an RMA window set by an ``on_failure`` hook) that another rank
    failed.  :meth:`Comm.agree` then joins the failure protocol and raises the
    other rank's error here too."""


class CommStats:
    """Per-rank counters: payload bytes and messages per kind, seconds in
    communication and in waiting for other ranks (load imbalance)."""

    def __init__(self):
        self.bytes_sent: dict[str, int] = defaultdict(int)
        self.messages: dict[str, int] = defaultdict(int)
        self.comm_seconds = 0.0
        self.wait_seconds = 0.0

    def add(self, kind: str, nbytes: int, messages: int = 1) -> None:
        self.bytes_sent[kind] += int(nbytes)
        self.messages[kind] += int(messages)

    @property
    def total_bytes(self) -> int:
        return int(sum(self.bytes_sent.values()))

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


class _Request:
    """Minimal non-blocking request handle (``test()``/``wait()``)."""

    def __init__(self, req, comm: "Comm", kind: str):
        self._req, self._comm, self._kind = req, comm, kind

    def test(self) -> bool:
        return bool(self._req.Test())

    def wait(self) -> None:
        with self._comm._blocking(self._kind, wait=True):
            self._req.Wait()


class Comm:
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
    measure_wait : bool
        Count the time spent in each collective's entry synchronisation as
        waiting (load imbalance) rather than communication.

    Notes
    -----
    Every collective and point-to-point operation starts with a one-integer
    Allreduce (MAX) of a failure flag.  It is what makes :meth:`agree` safe:
    a rank that raised meets the others' next entry sync with flag 1, so they
    leave the operation they were entering instead of waiting forever.  The
    same sync measures how long each rank waited for the slowest.
    """

    def __init__(self, mpi_comm=None, *, watchdog_timeout: float | None = None,
                 measure_wait: bool = True):
        MPI = _mpi.MPI()
        base = MPI.COMM_WORLD if mpi_comm is None else mpi_comm
        self.mpi = base.Dup()
        self.rank = self.mpi.Get_rank()
        self.size = self.mpi.Get_size()
        self.stats = CommStats()
        self.measure_wait = measure_wait
        self._closed = False
        self._failure_hooks = []
        self._watchdog = None
        if watchdog_timeout:
            self._watchdog = Watchdog(self, float(watchdog_timeout))

    # ----------------------------------------------------------------- life
    def close(self) -> None:
        """Free the duplicate and the watchdog's window.  Collective."""
        if self._closed:
            return
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.close()
        self.mpi.Free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def abort(self, code: int = 1) -> None:
        """Abort the whole job (every rank of COMM_WORLD)."""
        _mpi.MPI().COMM_WORLD.Abort(code)

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
    def _blocking(self, kind: str, wait: bool = False):
        t0 = time.perf_counter()
        if self._watchdog is not None:
            self._watchdog.enter_wait(kind)
        try:
            yield
        finally:
            if self._watchdog is not None:
                self._watchdog.leave_wait()
            dt = time.perf_counter() - t0
            if wait:
                self.stats.wait_seconds += dt
            else:
                self.stats.comm_seconds += dt

    def _sync(self, flag: int) -> int:
        """One-integer MAX Allreduce: the failure-flag round of the protocol."""
        mine = np.array([flag], dtype=np.int64)
        out = np.zeros(1, dtype=np.int64)
        dt = _mpi.datatype(np.int64)
        self.mpi.Allreduce([mine, dt], [out, dt], op=_mpi.op("max"))
        return int(out[0])

    def _enter(self, kind: str) -> None:
        """Entry sync of every blocking operation (see the class notes)."""
        if self.size == 1:
            return
        with self._blocking(kind + ":wait", wait=self.measure_wait):
            failed = self._sync(0)
        if failed:
            raise _PeerFailed(kind)

    def _collective(self, kind: str, fn):
        self._enter(kind)
        with self._blocking(kind):
            return fn()

    def on_failure(self, fn) -> None:
        """Call ``fn()`` on this rank when an exception is caught by
        :meth:`agree`, before the failure protocol's sync.  For waits that are
        not MPI operations (an SSP clock spin on an RMA window): the hook sets
        a flag the waiters watch, and they raise :class:`PeerAborted`."""
        self._failure_hooks.append(fn)

    def poll(self) -> None:
        """Give MPI a chance to progress (one-sided traffic targeting us)."""
        self.mpi.Iprobe()

    # ------------------------------------------------------------ collectives
    def barrier(self, kind: str = "barrier") -> None:
        """Collective."""
        self._enter(kind)

    def ibarrier(self, kind: str = "ibarrier") -> _Request:
        """Collective, non-blocking: returns a request with ``test``/``wait``.

        Starts with the (blocking) failure-flag entry sync like every other
        operation, so a rank that failed before it cannot leave the others
        polling an Ibarrier that never completes."""
        self._enter(kind)
        return _Request(self.mpi.Ibarrier(), self, kind)

    def allreduce(self, arr, op: str = "sum", kind: str = "allreduce", out=None) -> np.ndarray:
        """Collective.  Element-wise reduction of a numpy array.

        Returns a new array, or fills ``out`` (same shape and dtype) when given:
        reusing a buffer avoids first-touch page faults on large arrays.
        """
        a = np.ascontiguousarray(arr)
        if out is None:
            out = np.empty_like(a)
        elif out.shape != a.shape or out.dtype != a.dtype or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous array of the same shape and dtype")
        self.stats.add(kind, a.nbytes)
        dt = _mpi.datatype(a.dtype)
        self._collective(kind, lambda: self.mpi.Allreduce([a, dt], [out, dt], op=_mpi.op(op)))
        return out

    def reduce_scatter(self, arr, counts, op: str = "sum", kind: str = "reduce_scatter",
                       out=None) -> np.ndarray:
        """Collective.  Element-wise reduction of a 1-D array whose block ``r``
        (``counts[r]`` elements, in rank order) ends up on rank ``r`` only.

        Every rank passes the full-length ``arr`` (``sum(counts)`` elements)
        and receives its reduced block of ``counts[rank]`` elements (a new
        array, or ``out``).  Bytes counted: the blocks destined for other
        ranks, ``arr.nbytes - counts[rank] * itemsize``.
        """
        a = np.ascontiguousarray(arr).reshape(-1)
        counts = np.asarray(counts, dtype=np.int64)
        if counts.size != self.size or int(counts.sum()) != a.size:
            raise ValueError(f"reduce_scatter: counts {counts.tolist()} do not split {a.size} elements "
                             f"over {self.size} ranks")
        n_mine = int(counts[self.rank])
        if out is None:
            out = np.empty(n_mine, dtype=a.dtype)
        elif out.shape != (n_mine,) or out.dtype != a.dtype or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous 1-D array of this rank's block")
        self.stats.add(kind, a.nbytes - n_mine * a.itemsize)
        dt = _mpi.datatype(a.dtype)
        self._collective(kind, lambda: self.mpi.Reduce_scatter([a, dt], [out, dt], counts.tolist(),
                                                               op=_mpi.op(op)))
        return out

    def allreduce_scalar(self, x, op: str = "sum", kind: str = "allreduce"):
        """Collective.  Reduce one Python/numpy scalar; returns the same type family."""
        arr = np.asarray([x])
        if arr.dtype.kind == "b":
            arr = arr.astype(np.int64)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        else:
            arr = arr.astype(np.float64)
        return self.allreduce(arr, op, kind)[0].item()

    def exscan_sum(self, x: int, kind: str = "exscan") -> int:
        """Collective.  Sum of ``x`` over lower ranks (0 on rank 0)."""
        a = np.asarray([x], dtype=np.int64)
        out = np.zeros(1, dtype=np.int64)
        self.stats.add(kind, a.nbytes)
        dt = _mpi.datatype(np.int64)
        self._collective(kind, lambda: self.mpi.Exscan([a, dt], [out, dt], op=_mpi.op("sum")))
        return 0 if self.rank == 0 else int(out[0])

    def bcast_obj(self, obj, root: int = 0, kind: str = "bcast"):
        """Collective.  Broadcast a small picklable control object."""
        return self._collective(kind, lambda: self.mpi.bcast(obj, root=root))

    def allgather_obj(self, obj, kind: str = "allgather"):
        """Collective.  Gather a small picklable object from every rank, on every rank."""
        return self._collective(kind, lambda: self.mpi.allgather(obj))

    def gather_obj(self, obj, root: int = 0, kind: str = "gather"):
        """Collective.  Gather to ``root``; other ranks get ``None``."""
        return self._collective(kind, lambda: self.mpi.gather(obj, root=root))

    def bcast_array(self, arr, root: int = 0, kind: str = "bcast") -> np.ndarray:
        """Collective.  Broadcast a numpy array whose shape only root knows."""
        meta = self.bcast_obj(None if self.rank != root else (arr.shape, arr.dtype.str), root, kind)
        buf = np.ascontiguousarray(arr) if self.rank == root else np.empty(meta[0], np.dtype(meta[1]))
        if self.rank == root:
            self.stats.add(kind, buf.nbytes * (self.size - 1), self.size - 1)
        dt = _mpi.datatype(buf.dtype)
        self._collective(kind, lambda: self.mpi.Bcast([buf, dt], root=root))
        return buf

    def allgather_array(self, arr, kind: str = "allgather") -> list[np.ndarray]:
        """Collective.  Every rank's array (any length along axis 0, same trailing
        shape and dtype), on every rank, in rank order."""
        a = np.ascontiguousarray(arr)
        tail = a.shape[1:]
        rows = self.allgather_obj(a.shape[0], kind + ":sizes")
        width = int(np.prod(tail)) if tail else 1
        counts = np.asarray(rows, dtype=np.int64) * width
        displs = np.zeros_like(counts)
        np.cumsum(counts[:-1], out=displs[1:])
        out = np.empty(int(counts.sum()), dtype=a.dtype)
        dt = _mpi.datatype(a.dtype)
        self.stats.add(kind, a.nbytes * (self.size - 1), self.size - 1)
        self._collective(kind, lambda: self.mpi.Allgatherv(
            [a.reshape(-1), dt], [out, (counts, displs), dt]))
        return [out[displs[r]:displs[r] + counts[r]].reshape((rows[r],) + tail)
                for r in range(self.size)]

    def alltoallv(self, arrays, kind: str = "alltoallv") -> list[np.ndarray]:
        """Collective.  ``arrays[r]`` (1-D, one dtype) goes to rank r; returns
        what every rank sent to this one, in rank order."""
        if len(arrays) != self.size:
            raise ValueError(f"alltoallv needs {self.size} arrays, got {len(arrays)}")
        parts = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
        dtype = parts[0].dtype if parts else np.dtype(np.float64)
        scounts = np.array([p.size for p in parts], dtype=np.int64)
        rcounts = np.empty_like(scounts)
        dt64 = _mpi.datatype(np.int64)
        self._collective(kind + ":sizes", lambda: self.mpi.Alltoall([scounts, dt64], [rcounts, dt64]))
        sdispl = np.concatenate([[0], np.cumsum(scounts)[:-1]]).astype(np.int64)
        rdispl = np.concatenate([[0], np.cumsum(rcounts)[:-1]]).astype(np.int64)
        sbuf = np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)
        rbuf = np.empty(int(rcounts.sum()), dtype=dtype)
        others = [r for r in range(self.size) if r != self.rank]
        self.stats.add(kind, sum(parts[r].nbytes for r in others), sum(1 for r in others if parts[r].size))
        dt = _mpi.datatype(dtype)
        with self._blocking(kind):
            self.mpi.Alltoallv([sbuf, (scounts, sdispl), dt], [rbuf, (rcounts, rdispl), dt])
        return [rbuf[rdispl[r]:rdispl[r] + rcounts[r]] for r in range(self.size)]

    # ---------------------------------------------------------- point to point
    def exchange(self, sends: dict, recv: dict, kind: str = "exchange") -> dict:
        """Sparse point-to-point exchange, all messages in flight at once.

        Collective: EVERY rank must call it, even with nothing to send or
        receive (it starts with the failure-flag entry sync; a rank that skips
        it hangs the others until the watchdog fires).

        ``sends[r]`` (1-D array) goes to rank r; ``recv[r] = (count, dtype)``
        says what to expect from rank r.  Every rank named in ``sends`` must
        list this rank in its ``recv`` and vice versa.
        """
        self._enter(kind)
        reqs, out = [], {}
        for src, (count, dtype) in recv.items():
            buf = np.empty(int(count), dtype=dtype)
            out[src] = buf
            reqs.append(self.mpi.Irecv([buf, _mpi.datatype(buf.dtype)], source=src, tag=_TAG_EXCHANGE))
        keep = []
        for dst, arr in sends.items():
            a = np.ascontiguousarray(arr).reshape(-1)
            keep.append(a)
            self.stats.add(kind, a.nbytes)
            reqs.append(self.mpi.Isend([a, _mpi.datatype(a.dtype)], dest=dst, tag=_TAG_EXCHANGE))
        with self._blocking(kind):
            _mpi.MPI().Request.Waitall(reqs)
        return out

    def sendrecv_replace(self, arr: np.ndarray, dest: int, source: int,
                         kind: str = "sendrecv") -> np.ndarray:
        """Collective (every rank calls it, see :meth:`exchange`).  Send ``arr``
        to ``dest`` and overwrite it with what ``source`` sends."""
        if not arr.flags.c_contiguous:
            raise ValueError("sendrecv_replace needs a C-contiguous array")
        self._enter(kind)
        self.stats.add(kind, arr.nbytes)
        with self._blocking(kind):
            self.mpi.Sendrecv_replace([arr, _mpi.datatype(arr.dtype)], dest=dest,
                                      sendtag=_TAG_SENDRECV, source=source, recvtag=_TAG_SENDRECV)
        return arr

    # ---------------------------------------------------------- error agreement
    @contextlib.contextmanager
    def agree(self, what: str = ""):
        """Collective.  Run the block on every rank; if it raised anywhere, raise
        the same :class:`CollectiveError` on every rank.

        The error names the lowest failing rank and keeps the original's exit
        code, so every rank exits alike.  It costs one 8-byte Allreduce when
        nothing failed.

        Protocol: per failure, every rank makes exactly one failure-flag sync
        and then joins one allgather of verdicts.  A rank that raised makes its
        sync here (flag 1); a healthy rank makes it either here (flag 0) or at
        the entry of its next MPI operation inside the block, which raises
        ``_PeerFailed`` and lands here without syncing again.  Blocks may
        nest: an inner block's CollectiveError is already agreed everywhere
        and passes through outer blocks unchanged.
        """
        err = None
        try:
            yield
        except CollectiveError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            err = exc
        if err is not None and not isinstance(err, (_PeerFailed, PeerAborted)):
            for hook in self._failure_hooks:
                try:
                    hook()
                except Exception:  # noqa: BLE001 - the original error matters more
                    pass
        if not isinstance(err, _PeerFailed):
            if self.size == 1:
                any_failed = err is not None
            else:
                with self._blocking("agree", wait=True):
                    any_failed = self._sync(0 if err is None else 1)
            if not any_failed:
                return
        mine = None
        if err is not None and not isinstance(err, (_PeerFailed, PeerAborted)):
            detail = str(err)
            kind = type(err).__name__
            if not isinstance(err, MpimlError):
                detail = f"{kind}: {detail}" if detail else kind
            mine = (kind, detail, int(getattr(err, "exit_code", 1)),
                    "".join(traceback.format_exception(err)) if not isinstance(err, MpimlError) else "")
        with self._blocking("agree", wait=True):
            verdicts = self.mpi.allgather(mine)
        failed = [r for r, v in enumerate(verdicts) if v is not None]
        if not failed:  # only PeerAborted raised: an out-of-band alarm without a cause
            failed = [self.rank]
            verdicts = list(verdicts)
            verdicts[self.rank] = ("PeerAborted", "a peer reported a failure that no rank raised", 1, "")
        origin = failed[0]
        kind, detail, code, tb = verdicts[origin]
        if what:
            detail = f"{detail} (while {what})"
        if len(failed) > 1:
            detail += f" [also failed on ranks {', '.join(map(str, failed[1:]))}]"
        exc = CollectiveError(detail, origin_rank=origin, kind=kind, exit_code=code)
        exc.traceback_text = tb
        raise exc from err

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
