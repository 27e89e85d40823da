"""A one-process stand-in for :class:`Comm`, for serial commands (predict,
inspect, planning) that reuse collective code paths without starting MPI.

Implements :class:`mpiml.comm.contract.Communicator`; with one rank nothing
can block and no peer can fail, so every operation completes at once.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np


class _Done:
    """A request that has already completed."""

    def test(self) -> bool:
        return True

    def wait(self) -> None:
        pass


class _Counter:
    def __init__(self):
        self.value = 0

    def fetch_add(self, value: int = 1) -> int:
        old, self.value = self.value, self.value + int(value)
        return old

    def free(self) -> None:
        pass


class SerialComm:
    rank, size = 0, 1

    def __init__(self):
        from .communicator import CommStats
        self.stats = CommStats()
        self._windows: list = []

    # -- life and bookkeeping
    def close(self) -> None:
        for win in list(reversed(self._windows)):
            win.free()

    def agree(self, what: str = ""):
        return contextlib.nullcontext()

    def phase(self, name: str, iteration: int = -1):
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def timed(self, kind: str, wait: bool = False):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if wait:
                self.stats.wait_seconds += time.perf_counter() - t0
            else:
                self.stats.comm_seconds += time.perf_counter() - t0

    def check_failure(self) -> None:
        pass

    def poll(self) -> None:
        pass

    def on_failure(self, fn) -> None:
        pass

    def remove_failure_hook(self, fn) -> None:
        pass

    def register_window(self, win) -> None:
        self._windows.append(win)

    def unregister_window(self, win) -> None:
        if win in self._windows:
            self._windows.remove(win)

    def counter(self, name: str = "counter"):
        return _Counter()

    @property
    def open_windows(self) -> int:
        return len(self._windows)

    # -- collectives
    def barrier(self, kind: str = ""):
        pass

    def ibarrier(self, kind: str = ""):
        return _Done()

    def exscan_sum(self, x, kind: str = ""):
        return 0

    def allgather_obj(self, obj, kind: str = ""):
        return [obj]

    def gather_obj(self, obj, root: int = 0, kind: str = ""):
        return [obj]

    def bcast_obj(self, obj, root: int = 0, kind: str = ""):
        return obj

    def bcast_array(self, arr, root: int = 0, kind: str = ""):
        return np.array(arr, copy=True)

    def allreduce(self, arr, op: str = "sum", kind: str = "", out=None):
        if out is None:
            return np.array(arr, copy=True)
        out[...] = arr
        return out

    def iallreduce(self, arr, op: str = "sum", kind: str = ""):
        return _Done(), np.array(arr, copy=True)

    def reduce_scatter(self, arr, counts, op: str = "sum", kind: str = "", out=None):
        a = np.array(arr, copy=True).reshape(-1)
        if out is not None:
            out[...] = a
            return out
        return a

    def allreduce_scalar(self, x, op: str = "sum", kind: str = ""):
        return x

    def allgather_array(self, arr, kind: str = ""):
        return [np.array(arr, copy=True)]

    def alltoallv(self, arrays, kind: str = ""):
        return [np.array(arrays[0], copy=True)]

    # -- point to point
    def exchange(self, sends, recv, kind: str = ""):
        return {r: np.array(a, copy=True) for r, a in sends.items() if r == 0}

    def iexchange(self, sends, recv, kind: str = "", tag: int = 0):
        return _Done(), self.exchange(sends, recv, kind)

    def sendrecv_replace(self, arr, dest, source, kind: str = ""):
        return arr

    def check_same(self, value, what):
        pass

    def hosts(self):
        import socket
        return [socket.gethostname()]
