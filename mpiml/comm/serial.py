"""A one-process stand-in for :class:`Comm`, for serial commands (predict,
inspect, planning) that reuse collective code paths without starting MPI."""

from __future__ import annotations

import contextlib

import numpy as np


class SerialComm:
    rank, size = 0, 1

    def __init__(self):
        from .communicator import CommStats
        self.stats = CommStats()

    def agree(self, what: str = ""):
        return contextlib.nullcontext()

    def phase(self, name: str, iteration: int = -1):
        return contextlib.nullcontext()

    def barrier(self, kind: str = ""):
        pass

    def exscan_sum(self, x, kind: str = ""):
        return 0

    def allgather_obj(self, obj, kind: str = ""):
        return [obj]

    def gather_obj(self, obj, root: int = 0, kind: str = ""):
        return [obj]

    def bcast_obj(self, obj, root: int = 0, kind: str = ""):
        return obj

    def allreduce(self, arr, op: str = "sum", kind: str = ""):
        return np.array(arr, copy=True)

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

    def exchange(self, sends, recv, kind: str = ""):
        return {r: np.array(a, copy=True) for r, a in sends.items() if r == 0}

    def sendrecv_replace(self, arr, dest, source, kind: str = ""):
        return arr

    def check_same(self, value, what):
        pass

    def hosts(self):
        import socket
        return [socket.gethostname()]
