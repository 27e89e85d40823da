"""The operations of :class:`~mpiml.comm.Comm`: collectives started as their
MPI-3 non-blocking forms and point-to-point exchanges, each completed by
``Comm._wait`` (which also watches the failure channel, see
:mod:`mpiml.comm.failure`).

Outside every agreed block a failure notice cannot concern an operation
(the failing rank got past it), so there the blocking MPI call is used
directly; inside a block the non-blocking one, waited on together with the
notice receive.  Every buffer names its MPI datatype explicitly (mpi4py maps
numpy int64 to ``MPI_LONG``, which does not match a peer's ``INT64_T``).
"""

from __future__ import annotations

import pickle
import time

import numpy as np

from . import _mpi

_TAG_EXCHANGE = 17
_TAG_SENDRECV = 18
_TAG_TAGGED = 1 << 10     # iexchange tags start here


def _back_to_back(parts, dtype) -> np.ndarray:
    """``np.concatenate(parts)`` as ``dtype``, or a view when the parts already
    lie back to back in one array (the slices of one owner-sorted array in a
    shuffle): no second copy of the data being sent."""
    base = parts[0].base if parts else None
    if (isinstance(base, np.ndarray) and base.dtype == dtype and base.flags.c_contiguous
            and all(p.base is base and p.dtype == dtype for p in parts)):
        flat = base.reshape(-1)
        first = at = (parts[0].ctypes.data - flat.ctypes.data) // dtype.itemsize
        for p in parts:
            if p.size and p.ctypes.data != flat.ctypes.data + at * dtype.itemsize:
                break
            at += p.size
        else:
            if 0 <= first <= at <= flat.size:
                return flat[first:at]
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)


def _displs(counts: np.ndarray) -> np.ndarray:
    d = np.zeros_like(counts)
    np.cumsum(counts[:-1], out=d[1:])
    return d


class Operations:
    """Mixin: needs ``mpi``, ``rank``, ``size``, ``stats``, ``_open``, ``_wait``."""

    def _run(self, kind: str, start, blocking=None) -> None:
        """One collective: ``start()`` returns an MPI request; ``blocking()``
        does the same operation blocking (used outside agreed blocks)."""
        self.stats.collectives[kind] += 1
        if blocking is not None and not self._open:
            self._wait_blocking(kind, blocking)
            return
        self._wait([start()], kind)

    def _wait_blocking(self, kind, fn):
        t0 = time.perf_counter()
        wd = self._watchdog
        if wd is not None:
            wd.enter_wait(kind)
        try:
            fn()
        finally:
            if wd is not None:
                wd.leave_wait()
            self.stats.comm_seconds += time.perf_counter() - t0

    # ------------------------------------------------------------ collectives
    def barrier(self, kind: str = "barrier") -> None:
        """Collective."""
        self._run(kind, self.mpi.Ibarrier, self.mpi.Barrier)

    def ibarrier(self, kind: str = "ibarrier"):
        """Collective, non-blocking: a plain ``MPI_Ibarrier``.  Returns a
        :class:`~mpiml.comm.communicator.Request` whose ``test()`` polls it
        (and the failure channel) and whose ``wait()`` blocks."""
        from .communicator import Request
        self.stats.collectives[kind] += 1
        return Request(self.mpi.Ibarrier(), self, kind)

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
        st = self.stats
        st.bytes_sent[kind] += a.nbytes
        st.messages[kind] += 1
        st.collectives[kind] += 1
        dt = _mpi.datatype(a.dtype)
        if self._open:      # inside an agreed block: watch the failure channel
            self._wait([self.mpi.Iallreduce([a, dt], [out, dt], op=_mpi.op(op))], kind)
        else:
            self._wait_blocking(kind, lambda: self.mpi.Allreduce([a, dt], [out, dt], op=_mpi.op(op)))
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
        mop = _mpi.op(op)
        c = counts.tolist()
        self._run(kind, lambda: self.mpi.Ireduce_scatter([a, dt], [out, dt], c, op=mop),
                  lambda: self.mpi.Reduce_scatter([a, dt], [out, dt], c, op=mop))
        return out

    def iallreduce(self, arr, op: str = "sum", kind: str = "iallreduce"):
        """Collective, non-blocking.  Start an element-wise reduction of a copy
        of ``arr``; returns ``(request, out)``: ``out`` is valid after
        ``request.wait()`` (or once ``request.test()`` is true)."""
        from .communicator import Request
        a = np.array(arr, copy=True, order="C")
        out = np.empty_like(a)
        self.stats.add(kind, a.nbytes)
        self.stats.collectives[kind] += 1
        dt = _mpi.datatype(a.dtype)
        req = self.mpi.Iallreduce([a, dt], [out, dt], op=_mpi.op(op))
        return Request(req, self, kind, keep=(a, out)), out

    def allreduce_scalar(self, x, op: str = "sum", kind: str = "allreduce"):
        """Collective.  Reduce one Python/numpy scalar; returns the same type family."""
        arr = np.asarray([x])
        if arr.dtype.kind in "biu":
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
        mop = _mpi.op("sum")
        self._run(kind, lambda: self.mpi.Iexscan([a, dt], [out, dt], op=mop),
                  lambda: self.mpi.Exscan([a, dt], [out, dt], op=mop))
        return 0 if self.rank == 0 else int(out[0])

    def _bytes_gatherv(self, kind: str, payload: bytes, root: int | None):
        """Gather byte strings of any lengths (to ``root``, or to all if None)."""
        dt = _mpi.datatype(np.int64)
        mine = np.array([len(payload)], dtype=np.int64)
        lens = np.zeros(self.size, dtype=np.int64)
        if root is None:
            self._run(kind, lambda: self.mpi.Iallgather([mine, dt], [lens, dt]))
        else:
            self._run(kind, lambda: self.mpi.Igather([mine, dt], [lens, dt], root=root))
        src = np.frombuffer(payload, dtype=np.uint8)
        displs = _displs(lens)
        out = np.empty(int(lens.sum()) if (root is None or self.rank == root) else 0, np.uint8)
        B = _mpi.MPI().BYTE
        if root is None:
            self._run(kind, lambda: self.mpi.Iallgatherv([src, B], [out, (lens, displs), B]))
        elif self.rank == root:
            self._run(kind, lambda: self.mpi.Igatherv([src, B], [out, (lens, displs), B], root=root))
        else:
            self._run(kind, lambda: self.mpi.Igatherv([src, B], None, root=root))
        if root is not None and self.rank != root:
            return None
        return [pickle.loads(out[displs[r]:displs[r] + lens[r]].tobytes()) for r in range(self.size)]

    def bcast_obj(self, obj, root: int = 0, kind: str = "bcast"):
        """Collective.  Broadcast a small picklable control object."""
        dt = _mpi.datatype(np.int64)
        raw = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL) if self.rank == root else b""
        n = np.array([len(raw)], dtype=np.int64)
        self._run(kind, lambda: self.mpi.Ibcast([n, dt], root=root))
        buf = np.frombuffer(raw, np.uint8).copy() if self.rank == root else np.empty(int(n[0]), np.uint8)
        B = _mpi.MPI().BYTE
        self._run(kind, lambda: self.mpi.Ibcast([buf, B], root=root))
        return obj if self.rank == root else pickle.loads(buf.tobytes())

    def allgather_obj(self, obj, kind: str = "allgather"):
        """Collective.  Gather a small picklable object from every rank, on every rank."""
        raw = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return self._bytes_gatherv(kind, raw, None)

    def gather_obj(self, obj, root: int = 0, kind: str = "gather"):
        """Collective.  Gather to ``root``; other ranks get ``None``."""
        raw = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return self._bytes_gatherv(kind, raw, root)

    def bcast_array(self, arr, root: int = 0, kind: str = "bcast") -> np.ndarray:
        """Collective.  Broadcast a numpy array whose shape only root knows."""
        meta = self.bcast_obj(None if self.rank != root else (arr.shape, arr.dtype.str), root, kind)
        buf = np.ascontiguousarray(arr) if self.rank == root else np.empty(meta[0], np.dtype(meta[1]))
        if self.rank == root:
            self.stats.add(kind, buf.nbytes * (self.size - 1), self.size - 1)
        dt = _mpi.datatype(buf.dtype)
        self._run(kind, lambda: self.mpi.Ibcast([buf, dt], root=root))
        return buf

    def allgather_array(self, arr, kind: str = "allgather") -> list[np.ndarray]:
        """Collective.  Every rank's array (any length along axis 0, same trailing
        shape and dtype), on every rank, in rank order."""
        a = np.ascontiguousarray(arr)
        tail = a.shape[1:]
        dt64 = _mpi.datatype(np.int64)
        mine = np.array([a.shape[0]], dtype=np.int64)
        rows = np.zeros(self.size, dtype=np.int64)
        self._run(kind + ":sizes", lambda: self.mpi.Iallgather([mine, dt64], [rows, dt64]))
        width = int(np.prod(tail)) if tail else 1
        counts = rows * width
        displs = _displs(counts)
        out = np.empty(int(counts.sum()), dtype=a.dtype)
        dt = _mpi.datatype(a.dtype)
        self.stats.add(kind, a.nbytes * (self.size - 1), self.size - 1)
        self._run(kind, lambda: self.mpi.Iallgatherv([a.reshape(-1), dt], [out, (counts, displs), dt]))
        return [out[displs[r]:displs[r] + counts[r]].reshape((int(rows[r]),) + tail)
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
        self._run(kind + ":sizes", lambda: self.mpi.Ialltoall([scounts, dt64], [rcounts, dt64]))
        sdispl, rdispl = _displs(scounts), _displs(rcounts)
        sbuf = _back_to_back(parts, dtype)
        rbuf = np.empty(int(rcounts.sum()), dtype=dtype)
        others = [r for r in range(self.size) if r != self.rank]
        self.stats.add(kind, sum(parts[r].nbytes for r in others), sum(1 for r in others if parts[r].size))
        dt = _mpi.datatype(dtype)
        self._run(kind, lambda: self.mpi.Ialltoallv([sbuf, (scounts, sdispl), dt],
                                                    [rbuf, (rcounts, rdispl), dt]))
        return [rbuf[rdispl[r]:rdispl[r] + rcounts[r]] for r in range(self.size)]

    # ---------------------------------------------------------- point to point
    def exchange(self, sends: dict, recv: dict, kind: str = "exchange") -> dict:
        """Sparse point-to-point exchange, all messages in flight at once.

        Involves only the ranks named: ``sends[r]`` (1-D array) goes to rank
        r; ``recv[r] = (count, dtype)`` says what to expect from rank r.
        Every rank named in ``sends`` must list this rank in its ``recv`` and
        vice versa (and call ``exchange`` with the same ``kind`` order).  An
        empty exchange returns at once.
        """
        reqs, out = [], {}
        mpi, datatype = self.mpi, _mpi.datatype
        for src, (count, dtype) in recv.items():
            buf = np.empty(int(count), dtype=dtype)
            out[src] = buf
            reqs.append(mpi.Irecv([buf, datatype(buf.dtype)], source=src, tag=_TAG_EXCHANGE))
        if sends:
            st = self.stats
            for dst, arr in sends.items():
                # any C-contiguous buffer is the 1-D message MPI sends (mpi4py keeps
                # a reference to it on the request, so it outlives an abandoned send)
                a = np.ascontiguousarray(arr)
                st.bytes_sent[kind] += a.nbytes
                st.messages[kind] += 1
                reqs.append(mpi.Isend([a, datatype(a.dtype)], dest=dst, tag=_TAG_EXCHANGE))
        if reqs:
            self.stats.p2p[kind] += 1
            if self._open:
                self._wait(reqs, kind, cancel=True)
            else:
                self._wait_blocking(kind, lambda: self._MPI.Request.Waitall(reqs))
        return out

    def iexchange(self, sends: dict, recv: dict, kind: str = "exchange", tag: int = 0):
        """Start a sparse point-to-point exchange (peers only, non-blocking).

        Same arguments as :meth:`exchange`; ``tag`` (>= 0) tells apart several
        exchanges between the same pair of ranks that are in flight at once.
        Returns ``(request, out)``: ``out[src]`` is valid once
        ``request.wait()`` returned (or ``request.test()`` is true).
        """
        from .communicator import MultiRequest
        reqs, out, keep = [], {}, []
        t = _TAG_TAGGED + int(tag)
        for src, (count, dtype) in recv.items():
            buf = np.empty(int(count), dtype=dtype)
            out[src] = buf
            reqs.append(self.mpi.Irecv([buf, _mpi.datatype(buf.dtype)], source=src, tag=t))
        for dst, arr in sends.items():
            a = np.ascontiguousarray(arr).reshape(-1)
            keep.append(a)
            self.stats.add(kind, a.nbytes)
            reqs.append(self.mpi.Isend([a, _mpi.datatype(a.dtype)], dest=dst, tag=t))
        if reqs:
            self.stats.p2p[kind] += 1
        return MultiRequest(reqs, self, kind, keep), out

    def sendrecv_replace(self, arr: np.ndarray, dest: int, source: int,
                         kind: str = "sendrecv") -> np.ndarray:
        """Point-to-point: send ``arr`` to ``dest`` and overwrite it with what
        ``source`` sends (involves only those two peers)."""
        if not arr.flags.c_contiguous:
            raise ValueError("sendrecv_replace needs a C-contiguous array")
        got = self.exchange({dest: arr.reshape(-1)}, {source: (arr.size, arr.dtype)}, kind)
        arr.reshape(-1)[:] = got[source]
        return arr
