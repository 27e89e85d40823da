"""In-process simulation of N ranks with threads, for unit tests without MPI.

``run_ranks(n, fn)`` calls ``fn(comm)`` on ``n`` threads, each with a
:class:`FakeComm` implementing the subset of :class:`mpiml.comm.Comm` that
algorithms use.  Collectives are built on one shared barrier; point-to-point
messages go through one queue per (source, dest) pair.  A rank that raises
breaks the barrier so the others fail instead of hanging.

Reductions are done in rank order, so results are deterministic but may differ
in the last bit from a real MPI reduction.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import defaultdict

import numpy as np

from mpiml.errors import CollectiveError

_OPS = {"sum": np.add, "max": np.maximum, "min": np.minimum}


class _World:
    def __init__(self, n: int, timeout: float):
        self.n = n
        self.timeout = timeout
        self.barrier = threading.Barrier(n, timeout=timeout)
        self.slots: list = [None] * n
        self.queues: dict = defaultdict(queue.Queue)
        self.lock = threading.Lock()
        self.ibarrier_arrived: dict = {}

    def q(self, src: int, dst: int) -> queue.Queue:
        with self.lock:
            return self.queues[(src, dst)]


class _IbarrierRequest:
    def __init__(self, world: _World, gen: int):
        self._w, self._gen = world, gen

    def test(self) -> bool:
        with self._w.lock:
            return self._w.ibarrier_arrived.get(self._gen, 0) >= self._w.n

    def wait(self) -> None:
        t0 = time.monotonic()
        while not self.test():
            if time.monotonic() - t0 > self._w.timeout:
                raise TimeoutError("ibarrier wait timed out")
            time.sleep(1e-4)


class FakeStats:
    def __init__(self):
        self.bytes_sent = defaultdict(int)
        self.messages = defaultdict(int)

    def add(self, kind: str, nbytes: int, messages: int = 1):
        self.bytes_sent[kind] += int(nbytes)
        self.messages[kind] += messages

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_sent.values())

    def snapshot(self) -> dict:
        return {"bytes": self.total_bytes, "comm": 0.0, "wait": 0.0, "by_kind": dict(self.bytes_sent)}


class FakeComm:
    """Thread-backed stand-in for :class:`mpiml.comm.Comm` (same method names)."""

    def __init__(self, world: _World, rank: int):
        self._w = world
        self.rank = rank
        self.size = world.n
        self.stats = FakeStats()
        self._ibarrier_gen = 0

    # -- building block -------------------------------------------------
    def _allgather(self, obj):
        w = self._w
        w.barrier.wait()            # previous round's readers are done
        w.slots[self.rank] = obj
        w.barrier.wait()            # everyone has written
        return list(w.slots)

    # -- collectives ----------------------------------------------------
    def barrier(self, kind: str = "barrier"):
        self._w.barrier.wait()

    def allgather_obj(self, obj, kind: str = "allgather"):
        return self._allgather(obj)

    def gather_obj(self, obj, root: int = 0, kind: str = "gather"):
        out = self._allgather(obj)
        return out if self.rank == root else None

    def bcast_obj(self, obj, root: int = 0, kind: str = "bcast"):
        return self._allgather(obj if self.rank == root else None)[root]

    def allreduce(self, arr, op: str = "sum", kind: str = "allreduce"):
        a = np.asarray(arr)
        self.stats.add(kind, a.nbytes)
        parts = self._allgather(a.copy())
        out = parts[0].copy()
        for p in parts[1:]:
            out = _OPS[op](out, p)
        return out

    def reduce_scatter(self, arr, counts, op: str = "sum", kind: str = "reduce_scatter", out=None):
        a = np.asarray(arr).reshape(-1)
        counts = np.asarray(counts, dtype=np.int64)
        lo = int(counts[:self.rank].sum())
        hi = lo + int(counts[self.rank])
        self.stats.add(kind, a.nbytes - (hi - lo) * a.itemsize)
        parts = self._allgather(a.copy())
        res = parts[0][lo:hi].copy()
        for p in parts[1:]:
            res = _OPS[op](res, p[lo:hi])
        if out is not None:
            out[...] = res
            return out
        return res

    def allreduce_scalar(self, x, op: str = "sum", kind: str = "allreduce"):
        return self.allreduce(np.asarray([x]), op, kind)[0].item()

    def exscan_sum(self, x, kind: str = "exscan"):
        return int(sum(self._allgather(int(x))[:self.rank]))

    def bcast_array(self, arr, root: int = 0, kind: str = "bcast"):
        return np.array(self.bcast_obj(arr, root, kind), copy=True)

    def hosts(self):
        return ["fakehost"] * self.size

    def check_same(self, value, what: str):
        from mpiml.errors import ConfigError
        values = self._allgather(value)
        if any(v != values[0] for v in values):
            raise ConfigError(f"{what} differs between ranks")

    def phase(self, name: str, iteration: int = -1):
        return contextlib.nullcontext()

    def allgather_array(self, arr, kind: str = "allgather"):
        a = np.asarray(arr)
        self.stats.add(kind, a.nbytes)
        return [p.copy() for p in self._allgather(a.copy())]

    def alltoallv(self, arrays, kind: str = "alltoallv"):
        assert len(arrays) == self.size
        self.stats.add(kind, sum(np.asarray(a).nbytes for a in arrays))
        table = self._allgather([np.array(a, copy=True) for a in arrays])
        return [table[src][self.rank] for src in range(self.size)]

    def ibarrier(self, kind: str = "ibarrier"):
        """Non-blocking barrier: a request with ``test()`` and ``wait()``."""
        w = self._w
        gen = self._ibarrier_gen
        self._ibarrier_gen += 1
        with w.lock:
            w.ibarrier_arrived[gen] = w.ibarrier_arrived.get(gen, 0) + 1
        return _IbarrierRequest(w, gen)

    # -- point to point -------------------------------------------------
    # Like the real Comm (whose every operation starts with an entry sync),
    # exchange and sendrecv_replace must be called by every rank: a rank that
    # skips one makes the others fail here instead of passing silently.
    def exchange(self, sends, recv, kind: str = "exchange"):
        self._w.barrier.wait()
        for dst, arr in sends.items():
            a = np.ascontiguousarray(arr)
            self.stats.add(kind, a.nbytes)
            self._w.q(self.rank, dst).put(a.copy())
        out = {}
        for src, (count, dtype) in recv.items():
            got = self._w.q(src, self.rank).get(timeout=self._w.timeout)
            if got.size != count or got.dtype != np.dtype(dtype):
                raise RuntimeError(f"rank {self.rank}: expected {count} {dtype} from {src}, "
                                   f"got {got.size} {got.dtype}")
            out[src] = got
        return out

    def sendrecv_replace(self, arr, dest: int, source: int, kind: str = "sendrecv"):
        self._w.barrier.wait()
        self.stats.add(kind, arr.nbytes)
        self._w.q(self.rank, dest).put(np.array(arr, copy=True))
        got = self._w.q(source, self.rank).get(timeout=self._w.timeout)
        arr[...] = got.reshape(arr.shape)
        return arr

    # -- error agreement ------------------------------------------------
    @contextlib.contextmanager
    def agree(self, what: str = ""):
        """Same contract as Comm.agree: CollectiveError on every rank (the
        origin included); an inner block's CollectiveError passes through."""
        err = None
        try:
            yield
        except CollectiveError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            err = exc
        verdicts = self._allgather(None if err is None else (type(err).__name__, str(err),
                                                             getattr(err, "exit_code", 1)))
        failed = [r for r, v in enumerate(verdicts) if v is not None]
        if failed:
            kind, msg, code = verdicts[failed[0]]
            if what:
                msg = f"{msg} (while {what})"
            raise CollectiveError(msg, origin_rank=failed[0], kind=kind, exit_code=code) from err


def run_ranks(n: int, fn, timeout: float = 60.0):
    """Run ``fn(comm)`` on ``n`` simulated ranks; return the list of results.

    If any rank raises, the first exception (lowest rank) is re-raised here
    after all threads have stopped.
    """
    world = _World(n, timeout)
    results: list = [None] * n
    errors: list = [None] * n

    def target(r):
        try:
            results[r] = fn(FakeComm(world, r))
        except BaseException as exc:  # noqa: BLE001
            errors[r] = exc
            world.barrier.abort()

    threads = [threading.Thread(target=target, args=(r,), daemon=True) for r in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 5)
    if any(t.is_alive() for t in threads):
        raise TimeoutError(f"simulated ranks still running after {timeout}s (deadlock?)")
    first = next((e for e in errors if e is not None and not isinstance(e, threading.BrokenBarrierError)),
                 next((e for e in errors if e is not None), None))
    if first is not None:
        raise first
    return results
