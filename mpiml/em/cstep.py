"""The C-step executor of fully distributed EM.

Wolfe, Haghighi & Klein, "Fully Distributed EM for Very Large Datasets"
(ICML 2008): after the local E-step, the C-step completes every statistic a
rank holds.  :class:`CStep` executes a rank's plan
(:class:`mpiml.em.plan.RankPlan`, from :func:`mpiml.em.distplan.build_rank_plan`)
every iteration with ``comm.exchange`` (point-to-point rounds; exchange is
collective, so every rank calls it once per round of the plan, with empty
messages where it has nothing to send or receive) or ``comm.allreduce``.
Written against the duck-typed communicator API (``exchange``,
``allreduce``, ``iexchange`` for the asynchronous tree schedule).
"""

from __future__ import annotations

import numpy as np

from .plan import RankPlan


class CStep:
    """Executes a :class:`RankPlan` every iteration.

    Parameters
    ----------
    comm : communicator
    plan : RankPlan
    space : KeySpace
    kind : str
        Label under which the communicator accounts the bytes.
    schedule : {"collect-distribute", "async"}
    dtype : float64 or float32
        Type of the statistics and of every message: float32 halves the
        C-step's bytes (each value is 4 bytes instead of 8);
        a received partial sum is added in this type (a statistic's sum over
        its holders has at most one term per rank).
    """

    def __init__(self, comm, plan: RankPlan, space, kind: str = "ibm1.cstep", schedule: str = "collect-distribute",
                 dtype=np.float64):
        self.comm = comm
        self.plan = plan
        self.kind = kind
        self.dtype = np.dtype(dtype)
        if plan.own_keys is None:
            # a one-rank plan built without keys (distributed.one_rank_plan):
            # no steps and no index arrays, run() returns its input
            if plan.size != 1 or plan.steps or plan.topology in ("mapreduce", "allreduce"):
                raise ValueError("a C-step plan without keys must be a one-rank point-to-point plan")
            self.n_own_params = self.n_work = None
        else:
            self.n_own_params = int(np.searchsorted(plan.own_keys, space.n_param))
            # run() moves values by position only, so an owner may release the
            # plan's key arrays after this (DistributedIBM1 does)
            self.n_work = int(plan.work_keys.size)
        self.schedule = schedule    # "async": see mpiml.em.tree_schedule
        # payload bytes handed to MPI per destination rank, over all runs
        self.sent_to: dict[int, int] = {}

    @property
    def returns_theta(self) -> bool:
        """True for mapreduce: the reducers do the M-step and send theta back."""
        return self.plan.topology == "mapreduce"

    def run(self, local: np.ndarray) -> np.ndarray:
        """Collective.  Complete the statistics of this rank's own keys.

        ``local`` holds this rank's E-step statistics aligned with
        ``plan.own_keys`` (eta_st then eta_s); it may be overwritten.  Returns the global values of
        the same keys, or, for mapreduce (:attr:`returns_theta`), theta of
        the rank's own parameters (the first ``n_own_params`` own keys).
        """
        p = self.plan
        local = np.asarray(local, dtype=self.dtype)
        if self.schedule == "async" and p.topology in ("junction-tree", "tree"):
            from .tree_schedule import run_async
            return run_async(self, local)
        if p.topology == "allreduce":
            table = np.zeros(p.union_size, dtype=self.dtype)
            table[p.union_pos] = local
            return self.comm.allreduce(table, op="sum", kind=self.kind)[p.union_pos]
        if p.own_pos is None:       # own keys are the working keys: work in place
            work = local
        else:
            work = np.zeros(self.n_work, dtype=self.dtype)
            work[p.own_pos] = local
        theta = np.zeros(self.n_work, dtype=self.dtype) if self.returns_theta else None
        reduced = False
        for step in p.steps:
            if self.returns_theta and step.op == "theta" and not reduced:
                self._reduce(work, theta)
                reduced = True
            source = theta if step.op == "theta" else work
            self.count_sends(step)
            got = self.comm.exchange({q: source[ix] for q, ix in step.sends.items()},
                                     {q: (ix.size, self.dtype) for q, ix in step.recvs.items()},
                                     kind=self.kind)
            work = self._apply(step, work, theta, got)
        if self.returns_theta:
            if not reduced:
                self._reduce(work, theta)
            if p.own_pos is None:
                return theta[:self.n_own_params]
            return theta[p.own_pos[:self.n_own_params]]
        return work if p.own_pos is None else work[p.own_pos]

    def count_sends(self, step) -> None:
        """Add a step's payload to :attr:`sent_to` (per destination rank)."""
        for q, ix in step.sends.items():
            self.sent_to[q] = self.sent_to.get(q, 0) + self.value_bytes * int(ix.size)

    @property
    def value_bytes(self) -> int:
        """Bytes per value sent: 8 (float64) or 4 (float32)."""
        return self.dtype.itemsize

    def _reduce(self, work, theta):
        # mapreduce M-step on the parameters this rank reduces
        p = self.plan
        theta[p.reduce_pos] = work[p.reduce_pos] / work[p.reduce_total_pos]

    def _apply(self, step, work, theta, got):
        me = self.plan.rank
        if step.op == "sum":
            for q in sorted(got):
                work[step.recvs[q]] += got[q]
        elif step.op == "sum_own_in_order":
            # rank order including our own contribution: every holder of a
            # key adds the same numbers in the same order -> identical sums
            acc = np.zeros_like(work)
            for q in sorted(set(got) | {me}):
                if q == me:
                    acc += work
                else:
                    acc[step.recvs[q]] += got[q]
            work = acc
        elif step.op == "set":
            for q, vals in got.items():
                work[step.recvs[q]] = vals
        elif step.op == "theta":
            for q, vals in got.items():
                theta[step.recvs[q]] = vals
        else:  # pragma: no cover - plan.round_op only emits the ops above
            raise ValueError(f"unknown C-step op {step.op!r}")
        return work
