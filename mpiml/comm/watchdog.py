"""Watchdog: abort the job when one wait lasts too long, saying who lags.

Each rank publishes its status (phase, iteration, whether it is waiting and
since when) in a small RMA window allocated by MPI, with a ``Lock_all`` epoch
opened right after creation.  Measured with MPICH 5 on one node: with a window
from ``Win.Allocate`` and ``Lock_all`` opened by every rank while all are inside
MPI, ``Get_accumulate``/``Flush`` complete in microseconds while the target
computes without calling MPI (the facts :mod:`mpiml.comm.rma` relies on), so a
rank stuck in a collective can still read what a busy or hung peer was last
doing.

The reading happens on a helper thread with its own deadline: if even that
blocks (across nodes passive progress is not guaranteed), the report is made
without the peers' status and the job is aborted anyway.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from . import _mpi

_NAME = 40
_REC = np.dtype([("iteration", "<i8"), ("waiting", "<i8"), ("since", "<f8"),
                 ("pid", "<i8"), ("phase", f"S{_NAME}"), ("kind", "S24")])


class Watchdog:
    """Per-rank watchdog thread.  Created (collectively) by :class:`Comm`."""

    def __init__(self, comm, timeout: float, poll: float = 0.2):
        import os
        MPI = _mpi.MPI()
        self.comm = comm
        self.timeout = timeout
        self._poll = min(poll, timeout / 4)
        self.win = MPI.Win.Allocate(_REC.itemsize, disp_unit=1, comm=comm.mpi)
        # Lock_all while every rank is inside MPI: later remote reads then
        # complete without the target entering MPI (measured here).
        self.win.Lock_all(MPI.MODE_NOCHECK)
        self.local = np.frombuffer(self.win.tomemory(), dtype=_REC, count=1)
        self.local[0] = (-1, 0, time.time(), os.getpid(), b"start", b"")
        self._phase = ("start", -1)
        self._stop = threading.Event()
        self._fired = False
        self._thread = threading.Thread(target=self._run, name="mpiml-watchdog", daemon=True)
        self._thread.start()

    def set_phase(self, name: str, iteration: int):
        prev = self._phase
        self._phase = (name, iteration)
        rec = self.local[0]
        rec["phase"] = name.encode()[:_NAME]
        rec["iteration"] = iteration
        return prev

    def enter_wait(self, kind: str) -> None:
        rec = self.local[0]
        rec["kind"] = kind.encode()[:24]
        rec["since"] = time.time()
        rec["waiting"] = 1

    def leave_wait(self) -> None:
        self.local[0]["waiting"] = 0

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.win.Unlock_all()
        self.win.Free()

    # ----------------------------------------------------------------- thread
    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            rec = self.local[0]
            if rec["waiting"] and time.time() - rec["since"] > self.timeout:
                self._fire()
                return

    def _read_board(self, out: list) -> None:
        MPI = _mpi.MPI()
        buf = np.empty(1, dtype=_REC)
        dummy = np.zeros(_REC.itemsize, dtype=np.uint8)  # ignored by NO_OP
        for r in range(self.comm.size):
            # Get_accumulate(NO_OP) rather than Get: it is atomic against the
            # owner's concurrent updates, and progresses without the target.
            self.win.Get_accumulate([dummy, MPI.BYTE], [buf.view(np.uint8), MPI.BYTE],
                                    r, op=MPI.NO_OP)
            self.win.Flush(r)
            out.append(buf[0].copy())

    def _fire(self) -> None:
        self._fired = True
        rec = self.local[0].copy()
        now = time.time()
        board: list = []
        reader = threading.Thread(target=self._read_board, args=(board,), daemon=True)
        reader.start()
        reader.join(3.0)
        me = self.comm.rank
        lines = [f"mpiml watchdog: rank {me} waited {now - rec['since']:.1f} s "
                 f"(timeout {self.timeout:g} s) in {rec['kind'].decode()} during phase "
                 f"'{rec['phase'].decode()}' iteration {rec['iteration']}"]
        if len(board) == self.comm.size:
            lagging = [(r, b) for r, b in enumerate(board) if not b["waiting"]]
            for r, b in lagging:
                lines.append(f"  lagging: rank {r} (pid {b['pid']}) not in a wait, last phase "
                             f"'{b['phase'].decode()}' iteration {b['iteration']}")
            waiting = [r for r, b in enumerate(board) if b["waiting"]]
            lines.append(f"  waiting: ranks {waiting}")
            if not lagging:
                lines.append("  every rank is waiting: mismatched communication (a bug) or a lost message")
        else:
            lines.append("  could not read the other ranks' status in 3 s")
        lines.append("  aborting the job")
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
        from ..errors import WatchdogTimeout
        _mpi.MPI().COMM_WORLD.Abort(WatchdogTimeout.exit_code)
