"""Exact evaluations every ``--eval-every K`` clocks, without a global barrier.

The model after clock ``e`` (every update of clocks ``< e`` of every worker)
is ``w_base + sum_r D_r(e)``, where ``D_r(e)`` is worker r's own increments
since the last load of the table up to clock ``e``: each worker knows its own
exactly, whatever the consistency model lets it *see*.  So at clock ``e`` a
worker starts a non-blocking reduction (``comm.iallreduce``) of its ``D_r(e)``
and keeps clocking; at the next evaluation clock (or the iteration end) it
evaluates ``w_e`` on its own examples and starts a second non-blocking
reduction of the loss sums, collected when complete (polled once per clock).
No barrier: a reduction completes when the slowest worker has reached clock
``e`` and contributed, while the others are clocks ahead.  The table is never touched, so the staleness bound
(and the SSP proof) are unaffected, and a checkpoint at the iteration end
(after the table's ``sync``) sees the same table as without evaluations.

Not for model averaging (``average``): there the workers' replicas are not
``w_base`` plus the sum of increments between averaging points.
"""

from __future__ import annotations

import numpy as np


class ClockEvaluator:
    """Pending evaluations of one worker (see the module docstring)."""

    def __init__(self, comm, base: np.ndarray, score):
        """``base``: the table contents at the last load (flat, same on every
        rank); ``score(wvec) -> (train sums, valid sums or None, penalty)``:
        local sums ``[loss, correct, logloss, n]`` of the examples and the
        penalty of ``wvec`` (the same on every rank)."""
        self.comm, self.score = comm, score
        self.base = np.array(base, dtype=np.float64).reshape(-1)
        self.own = np.zeros_like(self.base)     # this worker's increments since base
        self._pending: list = []                # [clock, stage, request, out]
        self.done: list = []                    # (clock, train [4], valid [4] or None, penalty)

    def add(self, row_ids, deltas, width: int) -> None:
        """Record this worker's increment (``deltas`` for table rows ``row_ids``)."""
        self.own.reshape(-1, width)[row_ids] += deltas

    def start(self, clock: int) -> None:
        """Collective, non-blocking: every worker calls it at the same clock.

        Non-blocking collectives must be started in the same order on every
        rank, so the loss reduction of the previous evaluation is started
        here (after its model reduction completed), not whenever a rank
        happens to see that reduction complete.  That wait is short: the
        model reduction was started ``K`` clocks ago and completes once the
        slowest worker has reached that clock (under SSP it is at most
        ``s`` clocks behind, so with ``K > s`` it already has)."""
        self._second_stage()
        req, out = self.comm.iallreduce(self.own, kind="linear:eval-model")
        self._pending.append([clock, 0, req, out])

    def _second_stage(self) -> None:
        for item in self._pending:
            if item[1] == 0:
                item[2].wait()
                tr, va, penalty = self.score(self.base + item[3])
                sums = np.concatenate([tr, va if va is not None else []])
                item[1], (item[2], item[3]) = 1, self.comm.iallreduce(sums, kind="linear:eval-loss")
                item += [va is not None, penalty]

    def poll(self, block: bool = False) -> None:
        """Collect finished evaluations (``block``: finish all of them; collective)."""
        if block:
            self._second_stage()
        while self._pending and self._pending[0][1] == 1:
            item = self._pending[0]
            if block:
                item[2].wait()
            elif not item[2].test():
                return
            clock, _, _, out, has_va, penalty = item
            self.done.append((clock, out[:4], out[4:8] if has_va else None, penalty))
            self._pending.pop(0)

    def pop_done(self) -> list:
        d, self.done = self.done, []
        return d
