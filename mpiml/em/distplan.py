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

from ..comm.shuffle import owner_order
from ..errors import ConfigError
from ..partition import hash_owner
from .hosttree import ring_edge_bytes, split_bytes
from . import kernels
from .keys import (VALUE_BYTES, Holders, holders_from_key_sets, intersection_matrix, joined,
                   rank_dtype, shared_holders_from_key_sets, shared_pairs)
from .plan import TOPOLOGIES, Messages, allreduce_bytes, assemble_rank_plan, rank_plan_from_messages
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
    then the totals.  In the small rank dtype (:func:`~mpiml.em.keys.rank_dtype`)."""
    words = hash_owner(np.arange(space.n_src, dtype=np.int64), size).astype(rank_dtype(size))
    # counted, not searched: the kernel writes one target per parameter key
    # without bounds checks, so the buffer must fit even unsorted keys
    n_par = int(np.count_nonzero(own_keys < space.n_param))
    bounds = np.searchsorted(own_keys[:n_par], np.arange(space.n_src + 1, dtype=np.int64) * space.n_tgt)
    dest = np.empty(own_keys.size, dtype=words.dtype)
    dest[:n_par] = np.repeat(words, np.diff(bounds))
    dest[n_par:] = words[own_keys[n_par:] - space.n_param]
    return dest


def _shard_holders(comm, own_keys: np.ndarray, space, kind: str, keep_parts: bool = False,
                   shared_only: bool = False):
    """Holders of the keys whose source word hashes to this rank.

    Sharding by source word makes this rank the mapreduce reducer of every
    key in its shard, and keeps a word's parameters and total together.
    Returns ``(holders, parts, dest, n_keys, sizes)``; with ``keep_parts``,
    ``parts[q]`` are the keys of the shard rank q holds and ``dest`` the
    shard owner of each own key (the mapreduce plan needs both), else
    ``None, None``.  With ``shared_only`` the holders list only the keys of
    two or more ranks.  ``n_keys``: distinct keys of the shard; ``sizes[q]``:
    how many of them rank q holds.
    """
    dest = _key_owner(own_keys, space, comm.size) if keep_parts else None
    got = _send_keys_to_owners(comm, own_keys, space, kind)
    # each part is a sorted subset of one rank's distinct keys (the grouping
    # is stable), in rank order
    sizes = [int(g.size) for g in got]
    if shared_only:
        h, n_keys = shared_holders_from_key_sets(got)
    else:
        h = holders_from_key_sets(got, consume=not keep_parts)
        n_keys = int(h.keys.size)
    return h, (got if keep_parts else None), dest, n_keys, sizes


def _send_keys_to_owners(comm, own_keys, space, kind: str) -> list:
    """Collective.  Every rank's sorted keys of this rank's shard, in rank
    order, back to back in one array (one view per rank).

    The keys travel packed (:func:`kernels.pack_keys_by_owner`): a
    parameter's target id in 2 bytes (4 past 65,536 target words) and one
    (word, count) per source word, instead of 8 bytes per key, so the send
    buffer is a quarter of the keys' size.
    """
    size = comm.size
    words = hash_owner(np.arange(space.n_src, dtype=np.int64), size).astype(rank_dtype(size))
    # counted, not searched: the kernel writes one target per parameter key
    # without bounds checks, so the buffer must fit even unsorted keys
    n_par = int(np.count_nonzero(own_keys < space.n_param))
    targets = np.empty(n_par, dtype=np.uint16 if space.n_tgt <= 2 ** 16 else np.int32)
    runs, run_cuts, tgt_cuts, totals, tot_cuts = kernels.pack_keys_by_owner(
        own_keys, words, space.n_tgt, space.n_param, size, targets)
    del words
    split = lambda a, c: [a[c[q]:c[q + 1]] for q in range(size)]
    got_t = comm.alltoallv(split(targets, tgt_cuts), kind=kind)
    del targets
    got_r = comm.alltoallv(split(runs, run_cuts), kind=kind)
    got_o = comm.alltoallv(split(totals, tot_cuts), kind=kind)
    del runs, totals
    sizes = [int(t.size) + int(o.size) for t, o in zip(got_t, got_o)]
    out = np.empty(sum(sizes), dtype=np.int64)
    parts, at = [], 0
    for r, t, o, n in zip(got_r, got_t, got_o, sizes):
        kernels.unpack_keys(r, t, o, space.n_tgt, space.n_param, out[at:at + n])
        parts.append(out[at:at + n])
        at += n
    return parts


def _peer_lists(keys: np.ndarray, peers: np.ndarray, size: int) -> dict:
    """{peer: sorted keys} from parallel (key, peer) arrays (no pair repeats).

    A counting sort by peer (stable), then each peer's keys sorted: they
    arrive as a few ascending runs (one per shard owner and message kind),
    which the stable sort (timsort for int64) merges in about linear time."""
    if keys.size == 0:
        return {}
    k, cuts = kernels.group_by_owner(keys, peers, size)
    out = {}
    for q in range(size):
        if cuts[q + 1] > cuts[q]:
            part = k[cuts[q]:cuts[q + 1]]
            part.sort(kind="stable")
            out[q] = part
    return out


def _shuffle(comm, dest, *arrays, kind: str):
    """Collective.  Entry i of every array to rank ``dest[i]`` (stable); what
    this rank receives, one array each in source-rank order.  The grouping
    is a counting sort per array (:func:`kernels.group_by_owner`)."""
    out = []
    for a in arrays:
        buf, cuts = kernels.group_by_owner(a, dest, comm.size)
        got = comm.alltoallv([buf[cuts[q]:cuts[q + 1]] for q in range(comm.size)], kind=kind)
        del buf
        out.append(joined(got)[0] if got else np.empty(0, a.dtype))
        del got
    return out


def _ship(comm, dest, keys, peers, kind: str) -> dict:
    """Collective.  Entry (key, peer) to rank ``dest``; this rank's {peer: sorted keys}."""
    got_k, got_p = _shuffle(comm, dest, keys, peers, kind=kind)
    return _peer_lists(got_k, got_p, comm.size)


def _tree_lists(comm, h: Holders, tree: RootedTree, kind: str):
    """Collective.  This rank's sends/recvs of the tree schedule.

    A shared key travels on every edge (v, parent v) of its Steiner subtree:
    up in round ``height[v]`` (collect), down in round ``n_collect +
    depth[parent v]`` (distribute), the same keys both ways.  So each end of
    an edge gets one (key, other end) entry per key: one int64 and one small
    int instead of two four-column int64 message records per end.
    """
    keep = np.diff(h.ptr) >= 2
    if keep.any():
        key_of, v = kernels.steiner_edges(h.ptr, h.ranks, keep, tree.parent, tree.depth, tree.tin,
                                          False)[1:]
    else:
        key_of = v = np.empty(0, np.int64)
    del keep
    keys = h.keys[key_of]
    del key_of
    rd = rank_dtype(comm.size)
    v = v.astype(rd)
    p = tree.parent[v].astype(rd)
    # to the lower ends (peer: the parent), then to the upper ends (peer: a
    # child): two shuffles of one copy of the keys each instead of one of a
    # doubled copy; a peer is either this rank's parent or a child, so the
    # two {peer: keys} are disjoint
    by_peer = _ship(comm, v, keys, p, kind)
    by_peer.update(_ship(comm, p, keys, v, kind))
    del keys, v, p
    me = comm.rank
    sends, recvs = {}, {}
    for q, k in by_peer.items():
        if q == tree.parent[me]:      # q is my parent
            sends[(int(tree.height[me]), q)] = k
            recvs[(tree.n_collect + int(tree.depth[q]), q)] = k
        else:                         # q is my child
            recvs[(int(tree.height[q]), q)] = k
            sends[(tree.n_collect + int(tree.depth[me]), q)] = k
    return sends, recvs


def _allpairs_lists(comm, h: Holders, kind: str):
    """Collective.  One round: the keys shared with each peer go both ways."""
    k, a, b = shared_pairs(h)
    by_peer = _ship(comm, a, h.keys[k], b, kind)
    return {(0, q): x for q, x in by_peer.items()}, {(0, q): x for q, x in by_peer.items()}


def _mapreduce_lists(comm, own, parts, dest, space):
    """This rank's mapreduce sends/recvs, without communication.

    The shard owner is the reducer of its keys, so a holder sends each own key
    to ``dest`` in round 0 and gets theta of its parameters back in round 1;
    the reducer receives ``parts[q]`` from every other holder q and returns
    theta of the parameters among them.
    """
    me = comm.rank
    sends, recvs = {}, {}
    order, cuts = owner_order(dest, comm.size)   # stable: each group stays sorted
    for q in range(comm.size):
        if q == me:
            continue
        up = own[order[cuts[q]:cuts[q + 1]]]
        if up.size:
            sends[(0, q)] = up
            down = up[~space.is_total(up)]
            if down.size:
                recvs[(1, q)] = down
        got = np.asarray(parts[q], dtype=np.int64)
        if got.size:
            recvs[(0, q)] = got
            back = got[~space.is_total(got)]
            if back.size:
                sends[(1, q)] = back
    return sends, recvs


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

    Notes
    -----
    The plan equals ``make_plan(...).rank_plan(rank)``, but no rank lists the
    (round, src, dst, key) messages: each shard owner sends every rank only
    its (key, peer) entries (tree, allpairs), or nothing (mapreduce: the
    shuffle of the keys already told the reducer who holds what).
    """
    if topology not in TOPOLOGIES:
        raise ConfigError(f"unknown topology {topology!r}; choose from {', '.join(TOPOLOGIES)}")
    t0 = time.perf_counter()
    size = comm.size
    own = np.asarray(own_keys, dtype=np.int64)
    if size == 1:     # nothing is shared: every topology is "no messages"
        return _single_rank_plan(comm, own, topology, space, tree_edges, t0)
    shared_only = topology in ("junction-tree", "tree", "allpairs")
    h, parts, dest, n_keys, sizes = _shard_holders(comm, own, space, kind + ":keys",
                                                   keep_parts=topology == "mapreduce",
                                                   shared_only=shared_only)
    n_shared = int(np.count_nonzero(np.diff(h.ptr) >= 2))
    tree, union, n_collect, extra = None, None, 0, None
    sends, recvs = {}, {}
    if topology == "allreduce":
        union = np.concatenate(comm.allgather_array(h.keys, kind=kind + ":union"))
        union.sort()
    elif topology in ("junction-tree", "tree"):
        if topology == "tree":
            if tree_edges is None:
                raise ConfigError("topology 'tree' needs an edge list")
            edges = tree_edges
        else:
            if size <= 2:     # the only spanning tree; no weights needed
                edges = [(0, 1)] if size == 2 else []
            else:
                weights = comm.allreduce(intersection_matrix(h, size, diagonal=sizes),
                                         kind=kind + ":intersections")
                edges = junction_tree_edges(weights, rank_hosts if host_aware else None)
        tree = RootedTree.build(edges, size, root)
        n_collect = tree.n_collect
        sends, recvs = _tree_lists(comm, h, tree, kind + ":messages")
    elif topology == "allpairs":
        sends, recvs = _allpairs_lists(comm, h, kind + ":messages")
    else:   # mapreduce
        sends, recvs = _mapreduce_lists(comm, own, parts, dest, space)
        at = np.minimum(np.searchsorted(own, h.keys), max(own.size - 1, 0))
        extra = h.keys[own[at] != h.keys] if own.size else h.keys    # keys it only reduces
        parts = dest = None
    del h
    n_to = {}
    for (_, q), k in sends.items():
        n_to[q] = n_to.get(q, 0) + int(k.size)
    sent_here = VALUE_BYTES * sum(n_to.values())
    to_peer = [(comm.rank, q, VALUE_BYTES * n) for q, n in sorted(n_to.items())]
    hosts = rank_hosts if rank_hosts is not None else [""] * size
    split = split_bytes(to_peer, hosts)
    facts = comm.allgather_obj((sent_here, sorted({r for r, _ in sends}), n_keys, n_shared, split),
                               kind=kind + ":summary")
    # the per-edge list can have size^2 entries (allpairs): gathered on rank 0 only
    edges_at_root = comm.gather_obj(to_peer, root=0, kind=kind + ":edges")
    rounds = sorted(set().union(*(f[1] for f in facts)))
    plan = assemble_rank_plan(comm.rank, size, topology, own, sends, recvs, rounds=rounds,
                              n_collect=n_collect, space=space, union_keys=union, extra=extra)
    del sends, recvs
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
