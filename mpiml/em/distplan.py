"""Distributed planning of the C-step: every rank's plan, keys sharded over the ranks.

Wolfe, Haghighi & Klein, "Fully Distributed EM for Very Large Datasets"
(ICML 2008).  :func:`build_rank_plan` computes, with the keys sharded over
the ranks by the hash of their source word, the same per-rank plan that
:func:`mpiml.em.plan.make_plan` computes for all ranks in one process; the
plan is executed every iteration by :class:`mpiml.em.cstep.CStep`.  Written
against the duck-typed communicator API (``rank``, ``size``,
``alltoallv``, ``allgather_obj``, ``allgather_array``, ``gather_obj``,
``allreduce``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..comm.shuffle import shuffle_by_owner
from ..errors import ConfigError
from ..partition import hash_owner
from .hosttree import ring_edge_bytes, split_bytes
from .keys import VALUE_BYTES, Holders, holders_from_key_sets, intersection_matrix
from .plan import TOPOLOGIES, Messages, allreduce_bytes, rank_plan_from_messages, route
from .topology import RootedTree, junction_tree_edges


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
    space : :class:`mpiml.em.keys.KeySpace` (identical on every rank)
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
