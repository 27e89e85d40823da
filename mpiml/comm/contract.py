"""The communicator contract, written once.

:class:`Communicator` is what algorithms may call.  :class:`~mpiml.comm.Comm`
(MPI), :class:`~mpiml.comm.SerialComm` (one process) and the thread-backed
test double in ``tests/fakecomm.py`` implement it; a unit test checks that
each has every method with the same parameters, so the doubles cannot drift.

Blocking semantics every implementation keeps (the test double included):

* Collectives (``barrier``, ``allreduce``, ``allgather_*``, ``alltoallv``,
  ``bcast_*``, ``gather_obj``, ``exscan_sum``, ``check_same``, ``hosts``)
  block until every rank has called them.  ``ibarrier`` and ``iallreduce``
  return at once; their request's ``test()`` is true only after every rank
  has called them, ``wait()`` blocks until then.
* Point-to-point (``exchange``, ``sendrecv_replace``) involves only the ranks
  named in it and blocks until this rank's receives have arrived.  No other
  rank takes part.
* ``agree(what)`` is collective: a block every rank runs; an exception on any
  rank becomes the same ``CollectiveError`` (origin rank, message, exit code)
  on every rank, and any wait inside the block on another rank is released
  when this happens (``check_failure()`` raises from polling loops).
* ``close()`` is collective and frees windows registered with
  ``register_window`` (newest first).
* ``counter(name)`` is collective; its ``fetch_add`` is atomic and completes
  without any other rank's participation.
"""

from __future__ import annotations

from typing import Any, ContextManager, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class PolledRequest(Protocol):
    def test(self) -> bool: ...

    def wait(self) -> None: ...


@runtime_checkable
class Communicator(Protocol):
    rank: int
    size: int
    stats: Any

    # life, bookkeeping, failures
    def close(self) -> None: ...

    def agree(self, what: str = "") -> ContextManager: ...

    def phase(self, name: str, iteration: int = -1) -> ContextManager: ...

    def timed(self, kind: str, wait: bool = False) -> ContextManager: ...

    def check_failure(self) -> None: ...

    def poll(self) -> None: ...

    def on_failure(self, fn) -> None: ...

    def remove_failure_hook(self, fn) -> None: ...

    def register_window(self, win) -> None: ...

    def unregister_window(self, win) -> None: ...

    def counter(self, name: str = "counter"): ...

    # collectives
    def barrier(self, kind: str = "barrier") -> None: ...

    def ibarrier(self, kind: str = "ibarrier") -> PolledRequest: ...

    def allreduce(self, arr, op: str = "sum", kind: str = "allreduce", out=None) -> np.ndarray: ...

    def iallreduce(self, arr, op: str = "sum", kind: str = "iallreduce"): ...

    def reduce_scatter(self, arr, counts, op: str = "sum", kind: str = "reduce_scatter", out=None): ...

    def allreduce_scalar(self, x, op: str = "sum", kind: str = "allreduce"): ...

    def exscan_sum(self, x: int, kind: str = "exscan") -> int: ...

    def bcast_obj(self, obj, root: int = 0, kind: str = "bcast"): ...

    def allgather_obj(self, obj, kind: str = "allgather") -> list: ...

    def gather_obj(self, obj, root: int = 0, kind: str = "gather"): ...

    def bcast_array(self, arr, root: int = 0, kind: str = "bcast") -> np.ndarray: ...

    def allgather_array(self, arr, kind: str = "allgather") -> list: ...

    def alltoallv(self, arrays, kind: str = "alltoallv") -> list: ...

    def check_same(self, value, what: str) -> None: ...

    def hosts(self) -> list: ...

    # point to point
    def exchange(self, sends: dict, recv: dict, kind: str = "exchange") -> dict: ...

    def iexchange(self, sends: dict, recv: dict, kind: str = "exchange", tag: int = 0): ...

    def sendrecv_replace(self, arr, dest: int, source: int, kind: str = "sendrecv"): ...


METHODS = tuple(name for name in dir(Communicator)
                if not name.startswith("_") and callable(getattr(Communicator, name)))
