"""The only package that imports mpi4py.

:class:`Comm` wraps a duplicate of the communicator it is given, counts bytes
and messages per kind of operation, separates time spent waiting for other
ranks from time spent communicating, turns an exception on one rank into the
same error on every rank (:meth:`Comm.agree`), and feeds a watchdog that
aborts the job when a wait exceeds its timeout.

mpi4py is imported lazily, so ``import mpiml`` never initialises MPI.
"""

from .communicator import Comm, CommStats, PeerAborted, mpi_info  # noqa: F401
from .serial import SerialComm  # noqa: F401
from ._mpi import finalize  # noqa: F401

__all__ = ["Comm", "CommStats", "PeerAborted", "SerialComm", "finalize", "mpi_info"]
