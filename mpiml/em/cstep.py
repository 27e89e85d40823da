"""C-step executor and distributed planning for fully distributed EM.

Wolfe, Haghighi & Klein, "Fully Distributed EM for Very Large Datasets"
(ICML 2008).  :func:`build_rank_plan` computes, with the keys sharded over
the ranks, the same per-rank plan that :func:`mpiml.em.plan.make_plan`
computes for all ranks in one process; :class:`CStep` executes it every
iteration with ``comm.exchange`` (point-to-point rounds; exchange is
collective, so every rank calls it once per round of the plan, with empty
messages where it has nothing to send or receive) or ``comm.allreduce``.  Everything here is written against the duck-typed
communicator API (``rank``, ``size``, ``exchange``, ``allreduce``,
``alltoallv``, ``allgather_obj``, ``allgather_array``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..comm.shuffle import shuffle_by_owner
from ..errors import CheckpointError, ConfigError, NumericalError
from ..io.corpus import write_lines_ordered
from ..partition import hash_owner
from .ibm1 import (KeySpace, build_local_params, estep_stats, format_ttable, mstep, pharaoh_lines,
                   topk_entries, uniform_theta, viterbi)
from .hosttree import ring_edge_bytes, split_bytes
from .plan import (TOPOLOGIES, VALUE_BYTES, allreduce_bytes, Holders, Messages, RankPlan, RootedTree,
                   holders_from_key_sets, intersection_matrix, rank_plan_from_messages, route,
                   junction_tree_edges)


@dataclass
class PlanInfo:
    """Global facts about a distributed plan (identical on every rank)."""

    topology: str
    bytes_total: int
    bytes_max_rank: int
    n_rounds: int
    n_keys: int
    n_shared_keys: int
    tree_edges: np.ndarray | None
    root: int | None
    seconds: float    # this rank's planning time (DistributedIBM1 reports the max)
    # bytes per iteration between ranks of different hosts / of one host
    # (allreduce: the ring model of mpiml.em.hosttree); 0, 0 without host names
    cross_host_bytes: int = 0
    intra_host_bytes: int = 0
    # [(src, dst, bytes)] per iteration, on rank 0 only (up to size^2 entries)
    edge_bytes: list | None = None


def _key_owner(own_keys: np.ndarray, space, size: int) -> np.ndarray:
    """``hash_owner(space.source_of(own_keys), size)`` for sorted keys, hashing
    only the vocabulary: parameters come sorted in runs of one source word,
    then the totals."""
    words = hash_owner(np.arange(space.n_src, dtype=np.int64), size)
    n_par = int(np.searchsorted(own_keys, space.n_param))
    bounds = np.searchsorted(own_keys[:n_par], np.arange(space.n_src + 1, dtype=np.int64) * space.n_tgt)
    dest = np.empty(own_keys.size, dtype=np.int64)
    dest[:n_par] = np.repeat(words, np.diff(bounds))
    dest[n_par:] = words[own_keys[n_par:] - space.n_param]
    return dest


def _shard_holders(comm, own_keys: np.ndarray, space, kind: str) -> Holders:
    """Holders of the keys whose source word hashes to this rank.

    Sharding by source word makes this rank the mapreduce reducer of every
    key in its shard, and keeps a word's parameters and total together.
    """
    if comm.size == 1:
        return holders_from_key_sets([own_keys])
    got, = shuffle_by_owner(comm, _key_owner(own_keys, space, comm.size), own_keys, kind=kind,
                            per_source=True)
    # each part is a sorted subset of one rank's distinct keys (the shuffle is
    # stable), in rank order
    return holders_from_key_sets(got)


def build_rank_plan(comm, own_keys, topology: str, space, *, tree_edges=None, root=None,
                    kind: str = "ibm1.setup", rank_hosts=None, host_aware: bool = False):
    """Collective.  This rank's C-step plan and the plan's global figures.

    Parameters
    ----------
    comm : communicator
    own_keys : sorted int64 array
        This rank's statistic keys (:attr:`LocalParams.stat_keys`).
    topology : one of :data:`mpiml.em.plan.TOPOLOGIES`
    space : :class:`mpiml.em.ibm1.KeySpace` (identical on every rank)
    tree_edges : (size - 1, 2) edge list, for ``topology="tree"``
    root : int, optional
        Root of the tree schedule (default: the tree's centre).
    rank_hosts : list of str, optional
        Host name of every rank, for the cross-/intra-host byte split.
    host_aware : bool
        Junction tree with a tree per host (:mod:`mpiml.em.hosttree`;
        needs ``rank_hosts``).

    Returns
    -------
    (RankPlan, PlanInfo)
    """
    if topology not in TOPOLOGIES:
        raise ConfigError(f"unknown topology {topology!r}; choose from {', '.join(TOPOLOGIES)}")
    t0 = time.perf_counter()
    size = comm.size
    own = np.asarray(own_keys, dtype=np.int64)
    if size == 1:     # nothing is shared: every topology is "no messages"
        return _single_rank_plan(comm, own, topology, space, tree_edges, t0)
    h = _shard_holders(comm, own, space, kind + ":keys")
    tree, union, n_collect = None, None, 0
    if topology == "allreduce":
        union = np.sort(np.concatenate(comm.allgather_array(h.keys, kind=kind + ":union")))
    elif topology in ("junction-tree", "tree"):
        if topology == "tree":
            if tree_edges is None:
                raise ConfigError("topology 'tree' needs an edge list")
            edges = tree_edges
        else:
            if size <= 2:     # the only spanning tree; no weights needed
                edges = [(0, 1)] if size == 2 else []
            else:
                weights = comm.allreduce(intersection_matrix(h, size), kind=kind + ":intersections")
                edges = junction_tree_edges(weights, rank_hosts if host_aware else None)
        tree = RootedTree.build(edges, size, root)
        n_collect = tree.n_collect
    msgs = route(h, topology, size, space=space, tree=tree)
    # every message entry is known to both of its ends
    rec = np.stack([msgs.round, msgs.src, msgs.dst, msgs.key], axis=1)
    mine, = shuffle_by_owner(comm, np.concatenate([msgs.src, msgs.dst]), np.concatenate([rec, rec]),
                             kind=kind + ":messages")
    mine = Messages(*(np.ascontiguousarray(mine[:, c]) for c in range(4))).sorted()
    n_shared = int(np.count_nonzero(h.counts >= 2))
    sent_here = VALUE_BYTES * int(np.count_nonzero(mine.src == comm.rank))
    dsts, n_to = np.unique(mine.dst[mine.src == comm.rank], return_counts=True)
    to_peer = [(comm.rank, int(d), VALUE_BYTES * int(c)) for d, c in zip(dsts.tolist(), n_to.tolist())]
    hosts = rank_hosts if rank_hosts is not None else [""] * size
    split = split_bytes(to_peer, hosts)
    facts = comm.allgather_obj((sent_here, np.unique(mine.round).tolist(), int(h.keys.size),
                                n_shared, split), kind=kind + ":summary")
    # the per-edge list can have size^2 entries (allpairs): gathered on rank 0 only
    edges_at_root = comm.gather_obj(to_peer, root=0, kind=kind + ":edges")
    rounds = sorted(set().union(*(f[1] for f in facts)))
    plan = rank_plan_from_messages(comm.rank, size, topology, own, mine, rounds=rounds,
                                   n_collect=n_collect, space=space, union_keys=union)
    if topology == "allreduce":
        per = allreduce_bytes(size, union.size)
        sent = [per] * size
        n_rounds = 2 * int(np.ceil(np.log2(size))) if size > 1 else 0
        edge_bytes = ring_edge_bytes(size, per)
        cross, intra = split_bytes(edge_bytes, hosts)
    else:
        sent = [f[0] for f in facts]
        n_rounds = len(rounds)
        edge_bytes = None if edges_at_root is None else sorted(e for part in edges_at_root for e in part)
        cross, intra = sum(f[4][0] for f in facts), sum(f[4][1] for f in facts)
    info = PlanInfo(topology, int(sum(sent)), int(max(sent)), n_rounds,
                    sum(f[2] for f in facts), sum(f[3] for f in facts),
                    None if tree is None else tree.edges, None if tree is None else tree.root,
                    time.perf_counter() - t0, int(cross), int(intra),
                    edge_bytes if comm.rank == 0 else None)
    return plan, info


def _single_rank_plan(comm, own, topology, space, tree_edges, t0):
    """The plan of a one-rank run: no rounds; allreduce's union is the own keys."""
    if topology == "tree" and tree_edges is None:
        raise ConfigError("topology 'tree' needs an edge list")
    tree = RootedTree.build([], 1) if topology in ("junction-tree", "tree") else None
    plan = rank_plan_from_messages(0, 1, topology, own, Messages.empty(), rounds=[],
                                   space=space, union_keys=own if topology == "allreduce" else None)
    info = PlanInfo(topology, 0, 0, 0, int(own.size), 0, None if tree is None else tree.edges,
                    None if tree is None else tree.root, time.perf_counter() - t0, 0, 0, [])
    return plan, info


class CStep:
    """Executes a :class:`RankPlan` every iteration.

    Parameters
    ----------
    comm : communicator
    plan : RankPlan
    space : KeySpace
    kind : str
        Label under which the communicator accounts the bytes.
    """

    def __init__(self, comm, plan: RankPlan, space, kind: str = "ibm1.cstep", schedule: str = "collect-distribute"):
        self.comm = comm
        self.plan = plan
        self.kind = kind
        self.n_own_params = int(np.searchsorted(plan.own_keys, space.n_param))
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
        local = np.asarray(local, dtype=np.float64)
        if self.schedule == "async" and p.topology in ("junction-tree", "tree"):
            from .tree_schedule import run_async
            return run_async(self, local)
        if p.topology == "allreduce":
            table = np.zeros(p.union_size)
            table[p.union_pos] = local
            return self.comm.allreduce(table, op="sum", kind=self.kind)[p.union_pos]
        if p.own_pos is None:       # own keys are the working keys: work in place
            work = local
        else:
            work = np.zeros(p.work_keys.size)
            work[p.own_pos] = local
        theta = np.zeros(p.work_keys.size) if self.returns_theta else None
        reduced = False
        for step in p.steps:
            if self.returns_theta and step.op == "theta" and not reduced:
                self._reduce(work, theta)
                reduced = True
            source = theta if step.op == "theta" else work
            for q, ix in step.sends.items():
                self.sent_to[q] = self.sent_to.get(q, 0) + VALUE_BYTES * int(ix.size)
            got = self.comm.exchange({q: source[ix] for q, ix in step.sends.items()},
                                     {q: (ix.size, np.float64) for q, ix in step.recvs.items()},
                                     kind=self.kind)
            work = self._apply(step, work, theta, got)
        if self.returns_theta:
            if not reduced:
                self._reduce(work, theta)
            if p.own_pos is None:
                return theta[:self.n_own_params]
            return theta[p.own_pos[:self.n_own_params]]
        return work if p.own_pos is None else work[p.own_pos]

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


@dataclass
class IterationRecord:
    """One EM iteration's figures (identical on every rank)."""

    iteration: int
    loglik: float
    perplexity: float
    seconds_e: float
    seconds_c: float
    seconds_m: float
    bytes_total: int
    bytes_max_rank: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


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
                 host_aware: bool = False, schedule: str = "collect-distribute"):
        self.comm = comm
        self.host_aware = bool(host_aware)
        self.schedule = schedule
        self.topology = topology
        self.null = null
        self.tree_edges = tree_edges
        self.root = root
        self.kind = kind

    def setup(self, corpus) -> "DistributedIBM1":
        """Collective.  Local parameter set, C-step plan, uniform theta."""
        t0 = time.perf_counter()
        self.corpus_ = corpus
        self.space_ = KeySpace(corpus.n_src, corpus.n_tgt)
        self.params_ = build_local_params(corpus, self.null)
        t_params = time.perf_counter() - t0
        self.rank_hosts_ = list(self.comm.hosts())
        plan, self.plan_info_ = build_rank_plan(
            self.comm, self.params_.stat_keys, self.topology, self.space_,
            tree_edges=self.tree_edges, root=self.root, kind=self.kind + ".setup",
            rank_hosts=self.rank_hosts_, host_aware=self.host_aware)
        self.cstep_ = CStep(self.comm, plan, self.space_, kind=self.kind + ".cstep",
                            schedule=self.schedule)
        self.theta_ = uniform_theta(self.params_)
        self.iteration_ = 0
        self._n_tokens = int(corpus.tgt.size)
        took = self.comm.allgather_obj((time.perf_counter() - t0, t_params, self.plan_info_.seconds),
                                       kind=self.kind + ".setup:time")
        self.setup_seconds_ = max(t[0] for t in took)
        self.params_seconds_ = max(t[1] for t in took)
        self.plan_seconds_ = max(t[2] for t in took)
        return self

    def iterate(self) -> IterationRecord:
        """Collective.  One E, C and M step; returns the iteration's figures.

        The log-likelihood is that of theta *before* the update (the one the
        E-step used), so it is non-decreasing over iterations.
        """
        stats = self.comm.stats.bytes_sent
        b0 = stats.get(self.cstep_.kind, 0)
        t0 = time.perf_counter()
        local, ll = estep_stats(self.params_, self.corpus_, self.theta_)
        t1 = time.perf_counter()
        out = self.cstep_.run(local)
        del local
        t2 = time.perf_counter()
        if self.cstep_.returns_theta:
            theta = out
        else:
            n = self.params_.n_params   # out is ours (CStep.run returns a fresh array)
            theta = mstep(out[:n], out[n:], self.params_, out=out[:n])
        t3 = time.perf_counter()
        ok = bool(np.all(np.isfinite(theta)))
        sent = stats.get(self.cstep_.kind, 0) - b0
        facts = self.comm.allgather_obj((ll, self._n_tokens, t1 - t0, t2 - t1, t3 - t2, sent, ok),
                                        kind=self.kind + ".progress")
        bad = [r for r, f in enumerate(facts) if not f[6]]
        if bad:
            raise NumericalError(f"non-finite theta after iteration {self.iteration_ + 1} "
                                 f"on ranks {bad}")
        self.theta_ = theta
        self.iteration_ += 1
        total_ll = float(sum(f[0] for f in facts))
        n_tok = sum(f[1] for f in facts)
        return IterationRecord(self.iteration_, total_ll,
                               float(np.exp(-total_ll / n_tok)) if n_tok else float("nan"),
                               max(f[2] for f in facts), max(f[3] for f in facts),
                               max(f[4] for f in facts), int(sum(f[5] for f in facts)),
                               int(max(f[5] for f in facts)))

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
        theta = np.asarray(theta, dtype=np.float64)
        if self.params_.keys.size == 0:
            self.theta_, self.iteration_ = np.empty(0), int(iteration)
            return
        order = np.argsort(keys, kind="stable")
        keys, theta = keys[order], theta[order]
        pos = np.searchsorted(keys, self.params_.keys)
        pos = np.minimum(pos, max(keys.size - 1, 0))
        if keys.size == 0 or np.any(keys[pos] != self.params_.keys):
            raise CheckpointError("checkpoint lacks theta for some parameters of this rank")
        self.theta_ = theta[pos].copy()
        self.iteration_ = int(iteration)
