"""In-process simulation of N ranks with threads, for unit tests without MPI.

``run_ranks(n, fn)`` calls ``fn(comm)`` on ``n`` threads, each with a
:class:`FakeComm` implementing :class:`mpiml.comm.contract.Communicator`
with the real blocking semantics:

* collectives block until every rank has called the same (n-th) collective;
  ``ibarrier``/``iallreduce`` requests complete only once every rank has
  called them;
* point-to-point involves only its peers (one queue per (source, dest));
* ``agree`` blocks are numbered; a rank that raises in block ``b`` posts a
  notice, and every wait of another rank inside block ``b`` is released by it
  (as the real failure channel does), then all ranks exchange verdicts on a
  separate barrier and raise the same CollectiveError; abandoned collectives
  and messages belong to an "epoch" that recovery closes.

A rank that raises outside every block (a bug in the test) marks the world
dead, so the others fail instead of hanging.  Reductions are done in rank
order, so results are deterministic but may differ in the last bit from a
real MPI reduction.
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
_POLL = 2e-3


class _PeerFailed(Exception):
    """A notice for an agreed block open on this rank arrived."""


class _PeerDied(Exception):
    """Another simulated rank raised outside any agreed block."""


class _World:
    def __init__(self, n: int, timeout: float):
        self.n = n
        self.timeout = timeout
        self.cond = threading.Condition()
        self.slots: dict = defaultdict(dict)       # (epoch, seq) -> {rank: obj}
        self.queues: dict = defaultdict(queue.Queue)
        self.notices: list = []                    # (origin, block)
        self.recovery = threading.Barrier(n, timeout=timeout)
        self.verdicts: list = [None] * n
        self.dead = False
        self.counters: dict = defaultdict(int)
        # Deadlock detection: a rank that computes (a first call JIT-compiles
        # numba kernels for tens of seconds on a loaded machine) is not
        # deadlocked, so time counts towards ``timeout`` only while every rank
        # that has not returned is blocked in a wait.
        self.waiting: dict = defaultdict(int)     # rank -> depth of nested waits
        self.finished: set = set()
        self.stuck_since: float | None = None

    def _update_stuck(self) -> None:
        """Call with ``cond`` held after ``waiting`` or ``finished`` changed."""
        live = self.n - len(self.finished)
        stuck = live > 0 and sum(1 for d in self.waiting.values() if d > 0) >= live
        if not stuck:
            self.stuck_since = None
        elif self.stuck_since is None:
            self.stuck_since = time.monotonic()

    def set_waiting(self, rank: int, waiting: bool) -> None:
        with self.cond:
            self.waiting[rank] += 1 if waiting else -1
            self._update_stuck()

    def set_finished(self, rank: int) -> None:
        with self.cond:
            self.waiting.pop(rank, None)
            self.finished.add(rank)
            self._update_stuck()
            self.cond.notify_all()

    def stuck_for(self) -> float:
        """Seconds for which every live rank has been waiting (0 if one is not)."""
        with self.cond:
            return 0.0 if self.stuck_since is None else time.monotonic() - self.stuck_since

    def q(self, epoch: int, src: int, dst: int, tag: int = -1) -> queue.Queue:
        with self.cond:
            return self.queues[(epoch, src, dst, tag)]


class _Request:
    def __init__(self, comm: "FakeComm", key, result=None):
        self._c, self._key, self.result = comm, key, result

    def _ready(self) -> bool:
        return len(self._c._w.slots[self._key]) >= self._c.size

    def test(self) -> bool:
        with self._c._w.cond:
            if self._ready():
                return True
        self._c.check_failure()
        return False

    def wait(self) -> None:
        self._c._wait_for(self._ready, "ibarrier")


class FakeStats:
    def __init__(self):
        self.bytes_sent = defaultdict(int)
        self.messages = defaultdict(int)
        self.collectives = defaultdict(int)
        self.p2p = defaultdict(int)
        self.comm_seconds = 0.0
        self.wait_seconds = 0.0

    def add(self, kind: str, nbytes: int, messages: int = 1):
        self.bytes_sent[kind] += int(nbytes)
        self.messages[kind] += messages

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_sent.values())

    @property
    def n_collectives(self) -> int:
        return int(sum(self.collectives.values()))

    def snapshot(self) -> dict:
        return {"bytes": self.total_bytes, "comm": self.comm_seconds, "wait": self.wait_seconds,
                "by_kind": dict(self.bytes_sent)}


class FakeComm:
    """Thread-backed stand-in for :class:`mpiml.comm.Comm` (same contract)."""

    def __init__(self, world: _World, rank: int):
        self._w = world
        self.rank = rank
        self.size = world.n
        self.stats = FakeStats()
        self._epoch = 0
        self._seq = 0
        self._blocks = 0
        self._open: list = []
        self._seen = 0
        self._hooks: list = []
        self._windows: list = []

    # -- waiting --------------------------------------------------------
    def check_failure(self) -> None:
        w = self._w
        if w.dead:
            raise _PeerDied("another simulated rank raised outside an agreed block")
        if self._open and any(b in self._open for _, b in w.notices[self._seen:]):
            raise _PeerFailed()
        if w.waiting.get(self.rank, 0) > 0 and w.stuck_for() > w.timeout:
            raise TimeoutError(f"rank {self.rank}: every simulated rank has waited for {w.timeout:g} s "
                               f"(deadlock?)")

    def _wait_for(self, ready, what: str) -> None:
        w = self._w
        with w.cond:
            if ready():
                return
            w.set_waiting(self.rank, True)
            try:
                while not ready():
                    try:
                        self.check_failure()
                    except TimeoutError:
                        raise TimeoutError(f"rank {self.rank}: {what}: every simulated rank has waited "
                                           f"for {w.timeout:g} s (deadlock?)") from None
                    w.cond.wait(_POLL)
            finally:
                w.set_waiting(self.rank, False)

    def _collective(self, obj, kind: str):
        """Every rank's ``obj`` for this rank's next collective, once all called it."""
        key = (self._epoch, self._seq)
        self._seq += 1
        self.stats.collectives[kind] += 1
        w = self._w
        with w.cond:
            w.slots[key][self.rank] = obj
            w.cond.notify_all()
        self._wait_for(lambda: len(w.slots[key]) >= self.size, kind)
        return [w.slots[key][r] for r in range(self.size)]

    # -- life and bookkeeping ----------------------------------------------
    def close(self) -> None:
        for win in list(reversed(self._windows)):
            win.free()
        self.barrier("close")

    def phase(self, name: str, iteration: int = -1):
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def timed(self, kind: str, wait: bool = False):
        # rma.wait_until blocks inside timed(wait=True) and calls check_failure
        # between polls: the same deadlock detection as the waits above
        if not wait:
            yield
            return
        self._w.set_waiting(self.rank, True)
        try:
            yield
        finally:
            self._w.set_waiting(self.rank, False)

    def poll(self) -> None:
        pass

    def on_failure(self, fn) -> None:
        self._hooks.append(fn)

    def remove_failure_hook(self, fn) -> None:
        if fn in self._hooks:
            self._hooks.remove(fn)

    def register_window(self, win) -> None:
        self._windows.append(win)

    def unregister_window(self, win) -> None:
        if win in self._windows:
            self._windows.remove(win)

    def counter(self, name: str = "counter"):
        key = ("counter", self._epoch, self._seq)
        self.barrier(name)                   # collective, like the real one
        w = self._w

        class _Counter:
            def fetch_add(self, value: int = 1) -> int:
                with w.cond:
                    old = w.counters[key]
                    w.counters[key] = old + int(value)
                    return old

            def free(self) -> None:
                pass
        return _Counter()

    # -- collectives ----------------------------------------------------
    def barrier(self, kind: str = "barrier"):
        self._collective(None, kind)

    def ibarrier(self, kind: str = "ibarrier"):
        key = (self._epoch, self._seq)
        self._seq += 1
        self.stats.collectives[kind] += 1
        with self._w.cond:
            self._w.slots[key][self.rank] = None
            self._w.cond.notify_all()
        return _Request(self, key)

    def iallreduce(self, arr, op: str = "sum", kind: str = "iallreduce"):
        a = np.array(arr, copy=True)
        out = np.empty_like(a)
        key = (self._epoch, self._seq)
        self._seq += 1
        self.stats.collectives[kind] += 1
        w = self._w
        with w.cond:
            w.slots[key][self.rank] = a
            w.cond.notify_all()
        req = _Request(self, key)
        orig_test, orig_wait = req.test, req.wait

        def fill():
            parts = [w.slots[key][r] for r in range(self.size)]
            acc = parts[0].copy()
            for p in parts[1:]:
                acc = _OPS[op](acc, p)
            out[...] = acc

        def test():
            if orig_test():
                fill()
                return True
            return False

        def wait():
            orig_wait()
            fill()
        req.test, req.wait = test, wait
        return req, out

    def allgather_obj(self, obj, kind: str = "allgather"):
        return self._collective(obj, kind)

    def gather_obj(self, obj, root: int = 0, kind: str = "gather"):
        out = self._collective(obj, kind)
        return out if self.rank == root else None

    def bcast_obj(self, obj, root: int = 0, kind: str = "bcast"):
        return self._collective(obj if self.rank == root else None, kind)[root]

    def allreduce(self, arr, op: str = "sum", kind: str = "allreduce", out=None):
        a = np.asarray(arr)
        self.stats.add(kind, a.nbytes)
        parts = self._collective(a.copy(), kind)
        acc = parts[0].copy()
        for p in parts[1:]:
            acc = _OPS[op](acc, p)
        if out is not None:
            out[...] = acc
            return out
        return acc

    def reduce_scatter(self, arr, counts, op: str = "sum", kind: str = "reduce_scatter", out=None):
        a = np.asarray(arr).reshape(-1)
        counts = np.asarray(counts, dtype=np.int64)
        lo = int(counts[:self.rank].sum())
        hi = lo + int(counts[self.rank])
        self.stats.add(kind, a.nbytes - (hi - lo) * a.itemsize)
        parts = self._collective(a.copy(), kind)
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
        return int(sum(self._collective(int(x), kind)[:self.rank]))

    def bcast_array(self, arr, root: int = 0, kind: str = "bcast"):
        return np.array(self.bcast_obj(arr, root, kind), copy=True)

    def hosts(self):
        self._collective(None, "hosts")
        return ["fakehost"] * self.size

    def check_same(self, value, what: str):
        from mpiml.errors import ConfigError
        values = self._collective(value, "check_same")
        if any(v != values[0] for v in values):
            raise ConfigError(f"{what} differs between ranks")

    def allgather_array(self, arr, kind: str = "allgather"):
        a = np.asarray(arr)
        self.stats.add(kind, a.nbytes)
        return [p.copy() for p in self._collective(a.copy(), kind)]

    def alltoallv(self, arrays, kind: str = "alltoallv"):
        assert len(arrays) == self.size
        self.stats.add(kind, sum(np.asarray(a).nbytes for a in arrays))
        table = self._collective([np.array(a, copy=True) for a in arrays], kind)
        return [table[src][self.rank] for src in range(self.size)]

    # -- point to point (peers only, like the real Comm) ----------------------
    def iexchange(self, sends, recv, kind: str = "exchange", tag: int = 0):
        if sends or recv:
            self.stats.p2p[kind] += 1
        for dst, arr in sends.items():
            a = np.ascontiguousarray(arr)
            self.stats.add(kind, a.nbytes)
            self._w.q(self._epoch, self.rank, dst, tag).put(a.copy())
            with self._w.cond:
                self._w.cond.notify_all()
        out: dict = {}
        queues = {src: self._w.q(self._epoch, src, self.rank, tag) for src in recv}
        comm = self

        def ready():
            for src, (count, dtype) in recv.items():
                if src in out:
                    continue
                try:
                    got = queues[src].get_nowait()
                except queue.Empty:
                    return False
                if got.size != count or got.dtype != np.dtype(dtype):
                    raise RuntimeError(f"rank {comm.rank}: expected {count} {dtype} from {src}, "
                                       f"got {got.size} {got.dtype}")
                out[src] = got
            return True

        class _Req:
            def test(self):
                with comm._w.cond:
                    if ready():
                        return True
                comm.check_failure()
                return False

            def wait(self):
                comm._wait_for(ready, kind)
        return _Req(), out

    def exchange(self, sends, recv, kind: str = "exchange"):
        req, out = self.iexchange(sends, recv, kind, tag=-1)
        req.wait()
        return out

    def sendrecv_replace(self, arr, dest: int, source: int, kind: str = "sendrecv"):
        got = self.exchange({dest: np.array(arr, copy=True).reshape(-1)},
                            {source: (arr.size, arr.dtype)}, kind)
        arr[...] = got[source].reshape(arr.shape)
        return arr

    # -- error agreement ------------------------------------------------
    @contextlib.contextmanager
    def agree(self, what: str = ""):
        """Same contract as Comm.agree: CollectiveError on every rank (the
        origin included); an inner block's CollectiveError passes through."""
        self._blocks += 1
        block = self._blocks
        self._open.append(block)
        try:
            err = None
            try:
                yield
            except CollectiveError:
                raise
            except _PeerDied:
                raise
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
                err = exc
            if err is None:
                try:
                    self.barrier("agree")
                    return
                except _PeerFailed as exc:
                    err = exc
            self._recover(err, block, what)
        finally:
            self._open.remove(block)

    def _recover(self, err, block, what):
        w = self._w
        mine = None
        if not isinstance(err, _PeerFailed):
            for hook in list(self._hooks):
                hook()
            mine = (type(err).__name__, str(err), getattr(err, "exit_code", 1), what)
            with w.cond:
                w.notices.append((self.rank, block))
                w.cond.notify_all()
        w.recovery.wait()
        w.verdicts[self.rank] = (mine, self._blocks)
        w.recovery.wait()
        got = list(w.verdicts)
        self._epoch += 1
        self._seq = 0
        self._blocks = max(g[1] for g in got)
        w.recovery.wait()
        self._seen = len(w.notices)
        w.recovery.wait()
        failed = [r for r, g in enumerate(got) if g[0] is not None]
        kind, msg, code, where = got[failed[0]][0]
        if where:
            msg = f"{msg} (while {where})"
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
            if not isinstance(exc, CollectiveError):
                world.dead = True
                world.recovery.abort()
        finally:
            world.set_finished(r)

    threads = [threading.Thread(target=target, args=(r,), daemon=True) for r in range(n)]
    for t in threads:
        t.start()
    # A backstop for waits that do not watch the deadlock clock: give up once
    # every live rank has been waiting 5 s longer than the waits' own timeout.
    # Time a rank spends computing does not count (a hang in compute is the
    # test runner's timeout's to catch).
    for t in threads:
        while t.is_alive():
            t.join(0.05)
            if world.stuck_for() > timeout + 5:
                raise TimeoutError(f"every simulated rank has waited for {timeout + 5:g} s (deadlock?)")
    secondary = (_PeerDied, threading.BrokenBarrierError)
    first = next((e for e in errors if e is not None and not isinstance(e, secondary)),
                 next((e for e in errors if e is not None), None))
    if first is not None:
        raise first
    return results
