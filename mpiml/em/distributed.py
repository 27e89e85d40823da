"""The fully distributed EM estimator for IBM Model 1: the one E/C/M loop.

Wolfe, Haghighi & Klein, "Fully Distributed EM for Very Large Datasets"
(ICML 2008).  :class:`DistributedIBM1` runs an iteration as a local E-step
(:func:`mpiml.em.ibm1.estep_stats`), a C-step over the chosen topology
(:class:`mpiml.em.cstep.CStep`, planned by
:func:`mpiml.em.distplan.build_rank_plan`) and a local M-step.  It is the
only implementation of the distributed iteration: the training loop
(:class:`mpiml.em.model.IBM1Model`), the serial :class:`mpiml.em.ibm1.IBM1`
(on a one-rank communicator) and the fake-rank tests all call
:meth:`DistributedIBM1.iterate`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from ..comm.shuffle import shuffle_by_owner
from ..errors import CheckpointError, ConfigError, NumericalError
from ..io.corpus import write_lines_ordered
from ..partition import hash_owner
from .cstep import CStep
from .distplan import PlanInfo, build_rank_plan
from .heap import release_free_heap
from .hosttree import ring_edge_bytes, split_bytes
from .ibm1 import (build_local_params, compact_corpus, estep_stats, float_type, format_ttable, mstep, pharaoh_lines,
                   topk_entries, uniform_theta, viterbi)
from .keys import VALUE_BYTES, KeySpace
from .plan import RankPlan
from .topology import RootedTree


@dataclass
class IterationRecord:
    """One EM iteration's figures (identical on every rank).

    ``bytes_total`` / ``bytes_max_rank``: C-step payload bytes the ranks
    handed to the communicator, summed / the largest rank's.
    ``cross_host_bytes`` / ``intra_host_bytes``: their split by whether the
    peer is on another host (point-to-point plans: measured per peer;
    allreduce: the ring model of :mod:`mpiml.em.hosttree`, from the plan).
    """

    iteration: int
    loglik: float
    perplexity: float
    seconds_e: float
    seconds_c: float
    seconds_m: float
    bytes_total: int
    bytes_max_rank: int
    cross_host_bytes: int = 0
    intra_host_bytes: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def one_rank_plan(params, topology: str, tree_edges=None):
    """The C-step plan of a one-rank run of a point-to-point topology (tree,
    junction tree, allpairs), built without the rank's statistic keys.

    One rank sends nothing and its C-step is the identity, so the int64 keys
    (8 bytes per statistic, twice a float32 theta: the setup's peak at one
    rank) are never built.  The result is :func:`build_rank_plan`'s at one
    rank with its key arrays released, as :meth:`DistributedIBM1.setup`
    leaves it (unit test).  Mapreduce (its reducer positions) and allreduce
    (the union table) need the keys and take the general path."""
    t0 = time.perf_counter()
    if topology not in ONE_RANK_KEYLESS:
        raise ValueError(f"one_rank_plan: {topology!r} needs the keys (build_rank_plan)")
    if topology == "tree" and tree_edges is None:
        raise ConfigError("topology 'tree' needs an edge list")
    tree = RootedTree.build([], 1) if topology in ("junction-tree", "tree") else None
    plan = RankPlan(0, 1, topology, None, None, None)
    info = PlanInfo(topology, 0, 0, 0, params.n_params + params.n_words, 0,
                    None if tree is None else tree.edges, None if tree is None else tree.root,
                    time.perf_counter() - t0, 0, 0, [])
    return plan, info


# topologies whose one-rank plan needs no keys (one_rank_plan)
ONE_RANK_KEYLESS = ("junction-tree", "tree", "allpairs")


def plan_info_in_bytes_of(info, plan, value_bytes: int, rank_hosts):
    """``info`` (planned with float64 values, :data:`VALUE_BYTES` each) with
    every byte figure for values of ``value_bytes`` (4 for float32).

    Point-to-point plans send a whole number of values per message, so their
    bytes scale exactly; allreduce's model (reduce-scatter + allgather of the
    union table, a ring) is recomputed from the union size."""
    if value_bytes == VALUE_BYTES:
        return info
    size = len(rank_hosts)
    if info.topology == "allreduce" and size > 1:
        per = int(round(2 * (size - 1) / size * value_bytes * plan.union_size))
        edges = ring_edge_bytes(size, per)
        cross, intra = split_bytes(edges, rank_hosts)
        return dataclasses.replace(info, bytes_total=per * size, bytes_max_rank=per,
                                   cross_host_bytes=cross, intra_host_bytes=intra,
                                   edge_bytes=edges if info.edge_bytes is not None else None)

    def scale(b):
        return int(b) * value_bytes // VALUE_BYTES
    return dataclasses.replace(
        info, bytes_total=scale(info.bytes_total), bytes_max_rank=scale(info.bytes_max_rank),
        cross_host_bytes=scale(info.cross_host_bytes), intra_host_bytes=scale(info.intra_host_bytes),
        edge_bytes=None if info.edge_bytes is None else [(a, b, scale(n)) for a, b, n in info.edge_bytes])


class DistributedIBM1:
    """Fully distributed EM for IBM Model 1 (Wolfe, Haghighi & Klein 2008).

    Each rank keeps theta_st only for the (s, t) pairs of its own sentence
    pairs; an iteration is a local E-step, a C-step over the chosen topology
    that completes eta_st and eta_s for exactly those keys, and a local
    M-step theta_st = eta_st / eta_s.  EM maximises
    sum_pairs sum_j log sum_i theta(t_j | s_i) / (len_src + NULL).

    Parameters
    ----------
    comm : communicator
    topology : {"mapreduce", "allreduce", "allpairs", "junction-tree", "tree"}
    null : bool
        Include the NULL source word.
    tree_edges : edge list over ranks, for ``topology="tree"``.
    root : int, optional
        Root of the tree schedules.
    low_memory : bool
        True (default, ``--estep word-major``): the E-step without the
        token-pair index (:func:`mpiml.em.ibm1.estep_stats`), 4 bytes less per
        token pair and one float64 array per statistic instead of two; False:
        the indexed E-step.  The same theta bit for bit.
    dtype : {"float64", "float32"}
        Type of theta, the statistics, the E-step's per-token buffer and
        the C-step's messages (float32: half the bytes; long sums are
        float64, rounded once).  Default float64.

    Attributes
    ----------
    params_ : LocalParams
    theta_ : ndarray aligned with ``params_.keys``
    iteration_ : int, completed iterations
    plan_info_ : PlanInfo
    setup_seconds_ : float, max over ranks (parameters + planning)
    params_seconds_, plan_seconds_ : float, its two phases (each a max over ranks)

    Notes
    -----
    With mapreduce the reducers' M-step happens inside the C-step, so its
    time is counted in ``seconds_c``.  Checkpoint state: ``theta_`` (with
    ``params_.keys``) and ``iteration_``; see :meth:`state`.
    """

    def __init__(self, comm, topology: str = "junction-tree", *, null: bool = True,
                 tree_edges=None, root: int | None = None, kind: str = "ibm1",
                 host_aware: bool = False, schedule: str = "collect-distribute",
                 low_memory: bool = True, dtype: str = "float64"):
        self.comm = comm
        self.dtype = float_type(dtype)
        self.low_memory = bool(low_memory)
        self.host_aware = bool(host_aware)
        self.schedule = schedule
        self.topology = topology
        self.null = null
        self.tree_edges = tree_edges
        self.root = root
        self.kind = kind

    def setup(self, corpus, consume: bool = False) -> "DistributedIBM1":
        """Collective.  Local parameter set, C-step plan, uniform theta.

        The model keeps a copy of ``corpus`` with uint16 target ids where
        they fit and, with the word-major E-step, no source ids; with
        ``consume`` it changes ``corpus`` itself instead, so the caller's
        ids are freed during setup, before the planner's and theta's arrays
        are allocated (what :class:`mpiml.em.model.IBM1Model` does)."""
        t0 = time.perf_counter()
        self.corpus_ = corpus = compact_corpus(corpus, in_place=consume)
        self.space_ = KeySpace(corpus.n_src, corpus.n_tgt)
        self.params_ = build_local_params(corpus, self.null, self.low_memory)
        if self.low_memory:
            # the E-step and Viterbi read the source words from params_.occ
            # (word-sorted pairs and positions): the ids are dropped, and
            # freed once no caller holds them (at once with consume)
            corpus.src = None
        release_free_heap()     # before the planner's int64 keys (8 bytes per statistic)
        t_params = time.perf_counter() - t0
        self.rank_hosts_ = list(self.comm.hosts())
        if self.comm.size == 1 and self.topology in ONE_RANK_KEYLESS:
            plan, self.plan_info_ = one_rank_plan(self.params_, self.topology, self.tree_edges)
        else:
            plan, self.plan_info_ = build_rank_plan(
                self.comm, self.params_.stat_keys, self.topology, self.space_,
                tree_edges=self.tree_edges, root=self.root, kind=self.kind + ".setup",
                rank_hosts=self.rank_hosts_, host_aware=self.host_aware)
        self.cstep_ = CStep(self.comm, plan, self.space_, kind=self.kind + ".cstep",
                            schedule=self.schedule, dtype=self.dtype)
        self.plan_info_ = plan_info_in_bytes_of(self.plan_info_, plan, self.dtype.itemsize,
                                                self.rank_hosts_)
        # The C-step needs positions only: the plan's int64 keys (8 bytes per
        # statistic; the keys are params_.keys, built on demand) are released.
        plan.own_keys = plan.work_keys = None
        # the reader's and the planner's freed buffers: back to the system
        # before theta and the E-step's buffers are allocated
        release_free_heap()
        self.theta_ = uniform_theta(self.params_, self.dtype)
        self.iteration_ = 0
        self._n_tokens = int(corpus.tgt.size)
        took = self.comm.allgather_obj((time.perf_counter() - t0, t_params, self.plan_info_.seconds),
                                       kind=self.kind + ".setup:time")
        self.setup_seconds_ = max(t[0] for t in took)
        self.params_seconds_ = max(t[1] for t in took)
        self.plan_seconds_ = max(t[2] for t in took)
        return self

    def iterate(self, iteration: int | None = None, straggler=None) -> IterationRecord:
        """Collective.  One E, C and M step; returns the iteration's figures.

        The log-likelihood is that of theta *before* the update (the one the
        E-step used), so it is non-decreasing over iterations.

        Parameters
        ----------
        iteration : int, optional
            Number of this iteration (default ``iteration_ + 1``); the
            training loop passes its own count, which a resume restarts.
        straggler : object with ``delay(compute_seconds)``, optional
            Called after the local E-step with its duration (an injected
            straggler, :mod:`mpiml.runtime.faults`); the delay counts in
            ``seconds_e``.
        """
        it = self.iteration_ + 1 if iteration is None else int(iteration)
        cs = self.cstep_
        stats = self.comm.stats.bytes_sent
        b0 = stats.get(cs.kind, 0)
        to0 = dict(cs.sent_to)
        # what was freed since (e.g. the caller's corpus after setup, the
        # last C-step's buffers) goes back before the E-step's buffers
        release_free_heap()
        t0 = time.perf_counter()
        local, ll = estep_stats(self.params_, self.corpus_, self.theta_)
        if straggler is not None:
            straggler.delay(time.perf_counter() - t0)
        t1 = time.perf_counter()
        out = cs.run(local)
        del local
        t2 = time.perf_counter()
        if cs.returns_theta:    # mapreduce: the reducers did the M-step
            theta = out
        else:
            n = self.params_.n_params   # out is ours (CStep.run returns a fresh array)
            theta = mstep(out[:n], out[n:], self.params_, out=out[:n])
        t3 = time.perf_counter()
        # theta is a probability (each entry <= 1), so its sum is finite exactly
        # when every entry is; no boolean temporary of n_params bytes
        ok = bool(np.isfinite(np.add.reduce(theta)))
        sent = stats.get(cs.kind, 0) - b0
        cross, intra = self._host_split(to0)
        facts = self.comm.allgather_obj((ll, self._n_tokens, t1 - t0, t2 - t1, t3 - t2, sent, ok,
                                         cross, intra), kind=self.kind + ".progress")
        bad = [r for r, f in enumerate(facts) if not f[6]]
        if bad:
            raise NumericalError(f"non-finite theta after iteration {it} on ranks {bad}")
        self.theta_ = theta
        self.iteration_ = it
        total_ll = float(sum(f[0] for f in facts))
        n_tok = sum(f[1] for f in facts)
        return IterationRecord(it, total_ll,
                               float(np.exp(-total_ll / n_tok)) if n_tok else float("nan"),
                               max(f[2] for f in facts), max(f[3] for f in facts),
                               max(f[4] for f in facts), int(sum(f[5] for f in facts)),
                               int(max(f[5] for f in facts)), int(sum(f[7] for f in facts)),
                               int(sum(f[8] for f in facts)))

    def _host_split(self, before: dict) -> tuple[int, int]:
        """This rank's C-step bytes since ``before`` (a copy of ``sent_to``) to
        peers on other hosts / on its own host."""
        if self.cstep_.plan.topology == "allreduce":   # no per-peer figures: the ring model
            info = self.plan_info_
            return (info.cross_host_bytes, info.intra_host_bytes) if self.comm.rank == 0 else (0, 0)
        hosts, me = self.rank_hosts_, self.rank_hosts_[self.comm.rank]
        cross = intra = 0
        for q, n in self.cstep_.sent_to.items():
            if hosts[q] != me:
                cross += n - before.get(q, 0)
            else:
                intra += n - before.get(q, 0)
        return cross, intra

    def fit(self, corpus, n_iter: int, callback=None) -> "DistributedIBM1":
        """Collective.  :meth:`setup` then ``n_iter`` iterations; ``callback(record)``."""
        self.setup(corpus)
        self.records_ = []
        for _ in range(n_iter):
            rec = self.iterate()
            self.records_.append(rec)
            if callback is not None:
                callback(rec)
        return self

    # ------------------------------------------------------------ outputs
    def alignment_lines(self) -> list[str]:
        """Viterbi alignments (Pharaoh ``i-j``) of this rank's line range; local."""
        return pharaoh_lines(self.corpus_, viterbi(self.params_, self.corpus_, self.theta_))

    def write_alignments(self, path) -> None:
        """Collective.  Write all Viterbi alignments to ``path`` in corpus order."""
        write_lines_ordered(self.comm, path, self.alignment_lines())

    def export_ttable(self, k: int, root: int = 0):
        """Collective.  TSV of the top-``k`` targets of every source word.

        Local top-k lists go to the owner of each source word, which merges
        them (theta of a key is identical on all its holders); the owners'
        parts are gathered to ``root``.  Returns the text on ``root``,
        ``None`` elsewhere.
        """
        n_tgt = self.space_.n_tgt
        s, t, p = topk_entries(self.params_.keys, self.theta_, n_tgt, k)
        got_k, got_v = shuffle_by_owner(self.comm, hash_owner(s, self.comm.size), s * n_tgt + t, p,
                                        kind=self.kind + ".ttable")
        ms, mt, mp = topk_entries(got_k, got_v, n_tgt, k)
        pieces = self.comm.gather_obj((ms, mt, mp), root=root, kind=self.kind + ".ttable")
        if pieces is None:
            return None
        ms, mt, mp = (np.concatenate([q[i] for q in pieces]) for i in range(3))
        order = np.argsort(ms, kind="stable")
        return format_ttable(ms[order], mt[order], mp[order], self.corpus_.src_vocab,
                             self.corpus_.tgt_vocab)

    # ------------------------------------------------------------ checkpoint state
    def state(self) -> dict:
        """This rank's state to checkpoint: parameter keys, theta, iteration."""
        return {"keys": self.params_.keys, "theta": self.theta_, "iteration": self.iteration_}

    def load_state(self, keys, theta, iteration: int) -> None:
        """Restore theta for this rank's keys from (keys, theta) entries.

        The entries may come from any rank layout (e.g. the union of all
        shards of a checkpoint); every own key must be present.
        """
        keys = np.asarray(keys, dtype=np.int64)
        # a checkpoint holds theta in the type it was trained in, and the
        # resume guard (--dtype is model-defining) keeps that type
        theta = np.asarray(theta, dtype=self.dtype)
        if self.params_.keys.size == 0:
            self.theta_, self.iteration_ = np.empty(0, dtype=self.dtype), int(iteration)
            return
        order = np.argsort(keys, kind="stable")
        keys, theta = keys[order], theta[order]
        pos = np.searchsorted(keys, self.params_.keys)
        pos = np.minimum(pos, max(keys.size - 1, 0))
        if keys.size == 0 or np.any(keys[pos] != self.params_.keys):
            raise CheckpointError("checkpoint lacks theta for some parameters of this rank")
        self.theta_ = theta[pos].copy()
        self.iteration_ = int(iteration)
