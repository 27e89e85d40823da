"""In-process RMA windows for testing the RMA tables without MPI.

Every operation completes at once under one lock (a stricter memory model
than MPI's, which is fine for checking the table logic).  ``Serial`` is a
minimal communicator for driving several workers from ONE thread with a
chosen interleaving; ``with_rma`` adds windows to the threaded FakeComm of
tests/fakecomm.py.
"""

import contextlib
import threading

import numpy as np

from tests.fakecomm import FakeStats


class RMAWorld:
    """Shared memory of all windows: ``groups[k][rank]`` is rank's part of the
    k-th window (windows are created in the same order on every rank)."""

    def __init__(self):
        self.groups = []
        self.lock = threading.RLock()
        self.open = 0

    def window(self, comm, n, dtype):
        k = comm.__dict__.setdefault("_fake_windows", 0)
        comm._fake_windows = k + 1
        with self.lock:
            while len(self.groups) <= k:
                self.groups.append({})
            self.groups[k][comm.rank] = np.zeros(max(int(n), 1), dtype=dtype)
            self.open += 1
        return FakeWindow(self, self.groups[k], comm)


class FakeWindow:
    def __init__(self, world, group, comm):
        self.world, self.group, self.comm = world, group, comm
        self.freed = False

    def accumulate(self, target, disp, values, op="sum"):
        v = np.asarray(values).reshape(-1)
        with self.world.lock:
            a = self.group[target]
            if op == "replace":
                a[disp:disp + v.size] = v
            else:
                a[disp:disp + v.size] += v

    def read(self, target, disp, count):
        with self.world.lock:
            return self.group[target][disp:disp + count].copy()

    def flush(self, target=None):
        pass

    def free(self):
        if not self.freed:
            self.freed = True
            with self.world.lock:
                self.world.open -= 1


class Serial:
    """Rank ``rank`` of ``size`` workers all driven from one thread."""

    def __init__(self, world, rank, size):
        self.world, self.rank, self.size = world, rank, size
        self.stats = FakeStats()

    def allocate_window(self, n, dtype, name):
        return self.world.window(self, n, dtype)

    def barrier(self, kind=""):
        pass

    def check_same(self, value, what):
        pass

    def agree(self, what=""):
        return contextlib.nullcontext()

    def timed(self, kind, wait=False):
        return contextlib.nullcontext()

    def check_failure(self):
        pass

    def poll(self):
        pass


def with_rma(fn, world):
    """Wrap ``fn(comm)`` for tests.fakecomm.run_ranks: the comm gets windows."""
    def inner(comm):
        def allocate_window(n, dtype, name):
            w = world.window(comm, n, dtype)
            comm.barrier()          # like MPI: nobody touches a window before all created it
            return w
        comm.allocate_window = allocate_window
        return fn(comm)
    return inner
