"""Helpers that run IBM1 plans and the distributed driver for N fake ranks.

``apply_plan_messages`` executes a pure :class:`~mpiml.em.plan.Plan` with
plain Python dictionaries (independent of :class:`~mpiml.em.cstep.CStep`);
``train_fake_ranks`` runs :class:`~mpiml.em.distributed.DistributedIBM1` on N
threads with ``tests.fakecomm``.
"""

from __future__ import annotations

import numpy as np

from mpiml.em.distributed import DistributedIBM1
from mpiml.em.plan import round_op
from mpiml.io.corpus import read_parallel
from tests.fakecomm import run_ranks


def apply_plan_messages(plan, local):
    """Run the plan's rounds on dicts; ``local[r]`` is {key: value} of rank r.

    Values sent in a round are read from the state at the start of the
    round.  Returns every rank's final {key: value} over its working keys.
    For mapreduce the reducer forwards its complete count (instead of theta)
    in round 1, so the same "global count" check applies.
    """
    state = [dict(v) for v in local]
    m = plan.messages
    for rnd in np.unique(m.round).tolist():
        snap = [dict(s) for s in state]
        sel = np.flatnonzero(m.round == rnd)
        op = round_op(plan.topology, rnd, plan.n_collect)
        for e in sel.tolist():
            src, dst, key = int(m.src[e]), int(m.dst[e]), int(m.key[e])
            val = snap[src].get(key, 0.0)
            if op in ("sum", "sum_own_in_order"):
                state[dst][key] = state[dst].get(key, 0.0) + val
            else:  # set / theta: the sender's value is complete
                state[dst][key] = val
    return state


def train_fake_ranks(n_ranks, paths, topology, n_iter, *, null=True, tree_edges=None,
                     empty="skip", keep_theta=True):
    """Train on ``n_ranks`` simulated ranks; per rank a dict of results."""

    def body(comm):
        corpus = read_parallel(comm, *paths, empty=empty)
        model = DistributedIBM1(comm, topology, null=null, tree_edges=tree_edges).setup(corpus)
        thetas, records = [], []
        for _ in range(n_iter):
            records.append(model.iterate())
            if keep_theta:
                thetas.append(model.theta_.copy())
        return {"corpus": corpus, "model": model, "records": records, "thetas": thetas,
                "align": model.alignment_lines(), "keys": model.params_.keys,
                "plan_info": model.plan_info_}

    return run_ranks(n_ranks, body, timeout=120)
