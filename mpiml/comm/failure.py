"""The failure channel: how a rank learns that a peer failed, at no cost while nothing fails.

Design
------
Every :class:`~mpiml.comm.Comm` owns, besides the communicator its operations
run on (``ops``), two more duplicates of the same group:

``notices``
    Each rank keeps one receive posted on it (``Irecv`` from any source,
    one tag, a fixed-size byte buffer).  A rank whose code raises inside an
    agreed block (:meth:`Comm.agree`) sends a *notice* to every other rank
    (``Isend``; origin rank, the number of the agreed block it failed in,
    exit code, message).  Nothing else ever travels on this communicator.
``spare``
    Used only by the recovery protocol below, so that recovery can never be
    confused with an operation some rank left unfinished on ``ops``.

Every wait in ``Comm`` (collectives are started as their non-blocking MPI-3
forms ``Iallreduce``, ``Ialltoallv``, ``Ibarrier``, ...; point-to-point work
is ``Isend``/``Irecv``; polled requests; RMA clock waits) waits on *its
requests or the posted notice receive*, whichever completes first
(polled by ``Testany``, or ``Testall`` and then ``Test`` of the notice receive).  While nothing fails, that is the whole
cost: one extra (never completing) request in each wait, no message.

Agreed blocks are numbered: every rank counts the blocks it opens, and since
``agree`` is collective every rank opens the same blocks in the same order,
so the numbers match.  A block ends with a barrier (``Ibarrier``, waited on
together with the notice): the only global step, at the points where the
issue asks for agreement (setup, end of an iteration, checkpoint, shutdown).

A notice for block ``b`` that reaches a rank waiting on an operation:

* if ``b`` is open on this rank: the operation is abandoned and ``_PeerFailed``
  raised; it propagates to the block's ``agree``, which joins recovery;
* otherwise ``b`` has not been opened here yet (a later block: the failing rank
  got past this operation, so it completes) or this rank is outside every
  block: the wait continues on the operation alone, and the notice is acted on
  at the first wait inside block ``b``.

Recovery (in ``agree``, on every rank, for every failure): a rank that raised
runs the ``on_failure`` hooks and sends its notice; then every rank, whether it
raised or was told, does on ``spare``: an allgather of verdicts (its own error
or ``None``, and its block counter), a ``Dup`` that becomes the new ``ops``
(the old one is freed with whatever it still has pending), the receipt of
exactly one notice from each rank whose verdict is an error (the verdicts say
who sent one), a new posted receive, and a barrier.  Then every rank raises
the same :class:`~mpiml.errors.CollectiveError`, built from the verdict of the
lowest failing rank (message, ``while ...`` of that rank's block, exit code).

Why no interleaving hangs
-------------------------
* A failing rank never waits for anything a healthy rank would only do after
  finishing the block (it goes straight to recovery), and a healthy rank
  cannot leave the failing block: the block's closing barrier needs the
  failing rank, which never enters it.  So every healthy rank is, or will be,
  in a wait inside the failing block, where the notice releases it (the
  notice is sent before the sender blocks in recovery, and recovery itself
  keeps the sender inside MPI, which progresses the send).  Every rank
  therefore reaches recovery, whose operations on ``spare`` are the same
  sequence on every rank.
* A rank failing inside a collective the others already entered: they wait
  on the collective *or* the notice; the notice wins, the collective is
  abandoned on the old ``ops`` (never completed, never reused: ``ops`` is
  replaced).  The same holds for a half-done exchange.
* Two (or more) ranks failing at once: each sends its notices; every rank
  enters recovery once; the allgather of verdicts names all the failing
  ranks, so each rank knows how many notices to receive, and receives them by
  source.  The closing barrier keeps a rank that fails again in a later block
  from sending a new notice before every rank has re-posted its receive.
* A notice after the job finished: notices are only sent from inside an
  agreed block, and no rank can leave a block in which another failed, so by
  the time every rank has passed the last block nobody can send one; a rank
  that fails outside any block does not send notices (its exception is not
  agreed: the CLI aborts the job, as ``python -m mpi4py`` does).
* The last operation before ``MPI_Finalize``: :meth:`FailureChannel.close`
  (inside the collective ``Comm.close``) cancels the posted receive, which
  then completes as cancelled, waits for its own notice sends (completed: each
  was received during recovery) and frees the communicators, so no request
  or communicator is left to finalize.
* A rank that hangs or dies sends no notice: the watchdog (a wait longer than
  its timeout aborts the job) and the MPI launcher (a dead process ends the
  job) remain the guards for that, as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from . import _mpi

_TAG = 911
NOTICE_BYTES = 4096


@dataclass(frozen=True)
class Notice:
    """What a failing rank tells the others."""

    origin: int
    block: int
    exit_code: int
    message: str

    def encode(self) -> np.ndarray:
        msg = self.message
        while True:
            raw = json.dumps([self.origin, self.block, self.exit_code, msg]).encode()
            if len(raw) <= NOTICE_BYTES:
                return np.frombuffer(raw, dtype=np.uint8).copy()
            msg = msg[:max(0, len(msg) - (len(raw) - NOTICE_BYTES) - 8)] + "..."

    @classmethod
    def decode(cls, buf: np.ndarray, n: int) -> "Notice":
        origin, block, code, msg = json.loads(bytes(buf[:n]).decode())
        return cls(int(origin), int(block), int(code), str(msg))


class FailureChannel:
    """The posted notice receive and the notice sends of one rank.  Collective."""

    def __init__(self, group):
        MPI = _mpi.MPI()
        self._MPI = MPI
        self.comm = group.Dup()
        self.spare = group.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._buf = np.zeros(NOTICE_BYTES, dtype=np.uint8)
        self._status = MPI.Status()
        self.request = None
        self.notice: Notice | None = None    # received, not yet consumed by recovery
        self._from: set = set()              # sources of notices received this round
        self._sends: list = []
        self._keep: list = []
        self.closed = False
        if self.size > 1:
            self._post()

    def _post(self) -> None:
        MPI = self._MPI
        self.request = self.comm.Irecv([self._buf, MPI.BYTE], source=MPI.ANY_SOURCE, tag=_TAG)

    # ------------------------------------------------------------ receiving
    def arrived(self, status=None) -> Notice:
        """The posted receive completed (seen by a wait): decode it."""
        st = self._status if status is None else status
        n = st.Get_count(self._MPI.BYTE)
        self.notice = Notice.decode(self._buf, n)
        self._from.add(st.Get_source())
        return self.notice

    def test(self) -> Notice | None:
        """The notice received so far, if any (never blocks)."""
        if self.notice is None and self.request is not None:
            if self.request.Test(self._status):
                self.arrived(self._status)
        return self.notice

    # -------------------------------------------------------------- sending
    def notify(self, notice: Notice) -> None:
        """Send ``notice`` to every other rank (non-blocking)."""
        buf = notice.encode()
        self._keep.append(buf)
        MPI = self._MPI
        for r in range(self.size):
            if r != self.rank:
                self._sends.append(self.comm.Isend([buf, MPI.BYTE], dest=r, tag=_TAG))

    # ------------------------------------------------------------- recovery
    def settle(self, failed) -> None:
        """Recovery: receive exactly one notice from each rank in ``failed``
        (except this one), complete this rank's sends and re-post the
        receive.  Called by every rank with the same ``failed``."""
        MPI = self._MPI
        expected = {int(r) for r in failed} - {self.rank}
        # The posted any-source receive is matched first (MPI matches in
        # posting order), so complete it before receiving by source.
        if expected - self._from and self.request is not None and self.notice is None:
            self.request.Wait(self._status)
            self.arrived(self._status)
        tmp = np.zeros(NOTICE_BYTES, dtype=np.uint8)
        for src in sorted(expected - self._from):
            self.comm.Recv([tmp, MPI.BYTE], source=src, tag=_TAG)
        if self._sends:
            MPI.Request.Waitall(self._sends)
        self._sends, self._keep = [], []
        self._from = set()
        self.notice = None
        if self.size > 1 and (self.request is None or self.request == MPI.REQUEST_NULL):
            self._post()

    # ----------------------------------------------------------------- life
    def close(self) -> None:
        """Collective (part of ``Comm.close``).  Cancel the posted receive and free."""
        if self.closed:
            return
        self.closed = True
        MPI = self._MPI
        if self.request is not None and self.request != MPI.REQUEST_NULL:
            self.request.Cancel()
            self.request.Wait()
        if self._sends:
            MPI.Request.Waitall(self._sends)
        self.comm.Free()
        self.spare.Free()
