"""The asynchronous junction-tree schedule of the C-step (``--schedule async``).

Wolfe, Haghighi & Klein (ICML 2008) run the junction-tree C-step without
global steps: a node sends to a neighbour as soon as it has heard from all
its other neighbours.  On a rooted tree that is: send the partial sums up to
the parent once every child's have arrived; send the complete values down to
a child once the parent's (complete) values have arrived.

The plan (:class:`~mpiml.em.plan.RankPlan`) already lists this rank's
messages in dependency order: its steps are the collect/distribute rounds,
and every send of a step needs exactly the receives of the earlier steps.
This executor therefore keeps the plan's arithmetic but drops the rounds as
a global notion: all receives are posted at once (``comm.iexchange``, tagged
by round, peers only), each step's sends start as soon as this rank has
applied its earlier receives, and a step waits only for its own receives.
No rank waits for a rank it does not exchange with, and no message waits for
a round to be reached elsewhere (with every receive pre-posted, even large
messages flow as soon as they are sent).

Bit for bit the same theta as collect/distribute: the received values are
applied in the same order (step order, then peer rank order within a step),
with the same operations (:meth:`CStep._apply`).
"""

from __future__ import annotations

import numpy as np

SCHEDULES = ("collect-distribute", "async")


def run_async(cstep, local: np.ndarray) -> np.ndarray:
    """The C-step of ``cstep`` (a tree plan) executed asynchronously.

    Call it on every rank that holds a plan (no collective inside; peers only).
    Returns what :meth:`CStep.run` returns: the global values of this rank's
    own keys.
    """
    p = cstep.plan
    if p.topology not in ("junction-tree", "tree"):
        raise ValueError(f"--schedule async is for tree topologies, not {p.topology!r}")
    comm = cstep.comm
    local = np.asarray(local, dtype=cstep.dtype)
    if p.own_pos is None:       # own keys are the working keys (see CStep.run)
        work = local
    else:
        work = np.zeros(cstep.n_work, dtype=cstep.dtype)
        work[p.own_pos] = local
    posted = [comm.iexchange({}, {q: (ix.size, cstep.dtype) for q, ix in step.recvs.items()},
                             kind=cstep.kind, tag=step.round) for step in p.steps]
    sent = []
    try:
        for step, (req, got) in zip(p.steps, posted):
            if step.sends:
                cstep.count_sends(step)
                sent.append(comm.iexchange({q: work[ix] for q, ix in step.sends.items()}, {},
                                           kind=cstep.kind, tag=step.round)[0])
            if step.recvs:
                req.wait()
                work = cstep._apply(step, work, None, got)
        for req in sent:
            req.wait()
    finally:
        posted.clear()
    return work if p.own_pos is None else work[p.own_pos]
