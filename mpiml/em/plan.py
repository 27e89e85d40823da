"""C-step communication plans for fully distributed EM (pure functions).

Wolfe, Haghighi & Klein, "Fully Distributed EM for Very Large Datasets"
(ICML 2008): after the local E-step, the C-step must give every rank the
complete global value of every statistic it holds (its parameters' eta_st
and its source words' totals eta_s), after which the M-step is local.  How
the partial counts travel is the *topology*:

``mapreduce``
    round 0: every holder sends each statistic to the reducer of its source
    word (``hash_owner(s)``); the reducer sums and does the M-step; round 1:
    the reducer sends theta_st back to every holder of (s, t).  Unshared
    statistics travel too, which is why this baseline is expensive.
``allreduce``
    every rank reduces the whole table of the union of all keys (one
    collective; bytes and rounds given by a model of reduce-scatter +
    allgather: 2 (p-1)/p * 8 |U| bytes per rank in 2 ceil(log2 p) rounds).
``allpairs``
    one round: ranks i and j exchange the counts of K_i & K_j directly.
``junction-tree``
    a maximum spanning tree over ranks with edge weight |K_i & K_j|, made
    a junction tree by the running-intersection property: a key held by
    several ranks is carried by every rank on the tree paths between them
    (its Steiner subtree).  Messages go along tree edges: partial sums are
    collected toward the root (a rank sends to its parent in round
    ``height(rank)``, when all its children have sent), then the complete
    value is distributed back down (round ``n_collect + depth(parent)``).
    Each message carries only the separator keys of its edge.
``tree``
    the same schedule on a user-supplied spanning tree (edge list).

A plan is computed from the per-key *holders* (which ranks hold each key,
:mod:`mpiml.em.keys`) and, for the tree topologies, a rooted spanning tree
(:mod:`mpiml.em.topology`).
:func:`make_plan` does this for all ranks in one process (e.g. 64 simulated
ranks); :func:`mpiml.em.distplan.build_rank_plan` computes the same thing with
the keys sharded over the ranks by the hash of their source word.
Statistic keys are int64 (see :class:`mpiml.em.keys.KeySpace`); every value
sent is one float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..arrays import union_sorted, unique_sorted
from ..partition import hash_owner
from . import kernels
# Holders, intersections and trees live in .keys / .topology; the names the
# planner uses are importable from here too (older import paths keep working).
from .keys import (VALUE_BYTES, Holders, holders_from_key_sets, holders_from_pairs,  # noqa: F401
                   intersection_matrix, shared_pairs)
from .settings import TOPOLOGIES   # declared with the options of train ibm1
from .topology import (RootedTree, check_running_intersection, junction_tree_edges,  # noqa: F401
                       spanning_tree, validate_tree)


def allreduce_bytes(size: int, n_values: int) -> int:
    """Bytes each rank sends per Allreduce of ``n_values`` doubles, by the
    bandwidth-optimal model (reduce-scatter + allgather: 2 (p-1)/p of the
    vector per rank); what every topology is compared against."""
    return int(round(2 * (size - 1) / size * VALUE_BYTES * n_values)) if size > 1 else 0


# ------------------------------------------------------------------ messages
@dataclass
class Messages:
    """One entry per (round, src, dst, key): ``src`` sends ``key``'s value."""

    round: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    key: np.ndarray

    @staticmethod
    def empty() -> "Messages":
        e = np.empty(0, np.int64)
        return Messages(e, e, e, e)

    @staticmethod
    def concat(parts) -> "Messages":
        parts = list(parts)
        if not parts:
            return Messages.empty()
        return Messages(*(np.concatenate([getattr(p, f) for p in parts]).astype(np.int64)
                          for f in ("round", "src", "dst", "key")))

    def sorted(self) -> "Messages":
        o = np.lexsort((self.key, self.dst, self.src, self.round))
        return Messages(self.round[o], self.src[o], self.dst[o], self.key[o])

    def involving(self, rank: int) -> "Messages":
        m = (self.src == rank) | (self.dst == rank)
        return Messages(self.round[m], self.src[m], self.dst[m], self.key[m])

    def __len__(self) -> int:
        return int(self.key.size)


def route_allpairs(h: Holders) -> Messages:
    """Round 0: each holder sends each shared key to every other holder."""
    k, a, b = shared_pairs(h)
    return Messages(np.zeros(k.size, np.int64), a, b, h.keys[k])


def route_mapreduce(h: Holders, reducer: np.ndarray, is_param: np.ndarray) -> Messages:
    """Round 0: holders -> reducer (counts); round 1: reducer -> holders (theta).

    ``reducer`` and ``is_param`` are given per key of ``h``; totals (not
    parameters) do not come back, theta already carries the normalisation.
    """
    kpos = np.repeat(np.arange(h.keys.size), h.counts)
    red = np.asarray(reducer, np.int64)[kpos]
    away = h.ranks != red
    up = Messages(np.zeros(int(away.sum()), np.int64), h.ranks[away], red[away], h.keys[kpos[away]])
    back = away & np.asarray(is_param, bool)[kpos]
    down = Messages(np.ones(int(back.sum()), np.int64), red[back], h.ranks[back], h.keys[kpos[back]])
    return Messages.concat([up, down])


def route_tree(h: Holders, tree: RootedTree) -> Messages:
    """Collect-then-distribute messages over each shared key's Steiner subtree.

    Edge (v, parent v) lies on the subtree of a key iff v's subtree holds
    some but not all of the key's holders (running-intersection property);
    :func:`mpiml.em.kernels.steiner_edges` lists those edges per key by
    walking the paths between DFS-consecutive holders.
    """
    cnt = h.counts
    keep = cnt >= 2
    if not keep.any():
        return Messages.empty()
    _, key_of, v = kernels.steiner_edges(h.ptr, h.ranks, keep, tree.parent, tree.depth, tree.tin,
                                         False)
    keys = h.keys[key_of]
    p = tree.parent[v]
    return Messages.concat([Messages(tree.height[v], v, p, keys),
                            Messages(tree.n_collect + tree.depth[p], p, v, keys)])


# ------------------------------------------------------------------ per-rank plans
def round_op(topology: str, round_: int, n_collect: int = 0) -> str:
    """What a receiver does with a round's values.

    ``"sum"``: add them to its partial sums (peers in rank order);
    ``"sum_own_in_order"``: sum own and received values in rank order, so
    every holder gets the bit-identical result (allpairs);
    ``"set"``: overwrite with the complete value (tree distribute);
    ``"theta"``: they are theta values from the reducer (mapreduce).
    """
    if topology == "allpairs":
        return "sum_own_in_order"
    if topology == "mapreduce":
        return "sum" if round_ == 0 else "theta"
    return "sum" if round_ < n_collect else "set"


@dataclass
class Step:
    """One round as seen by one rank: positions (into ``work_keys``) to send
    to / receive from each peer (both may be empty: the rank still takes
    part in the round's collective exchange)."""

    round: int
    op: str
    sends: dict
    recvs: dict


@dataclass
class RankPlan:
    """Everything one rank needs to execute the C-step.

    ``work_keys`` are the rank's own statistic keys plus the keys it only
    carries (tree) or reduces (mapreduce); ``own_pos`` locates its own keys
    in them (``None`` when they are all of them).  For ``allreduce``, ``union_pos`` locates them in the union of
    all keys (``union_size``).  For ``mapreduce``, ``reduce_pos`` are the
    parameter positions this rank reduces and ``reduce_total_pos`` their
    source totals.
    """

    rank: int
    size: int
    topology: str
    own_keys: np.ndarray
    work_keys: np.ndarray
    own_pos: np.ndarray | None
    steps: list = field(default_factory=list)
    union_size: int = 0
    union_pos: np.ndarray | None = None
    reduce_pos: np.ndarray | None = None
    reduce_total_pos: np.ndarray | None = None

    @property
    def bytes_sent(self) -> int:
        """Payload bytes this rank sends per iteration (point-to-point plans)."""
        return VALUE_BYTES * sum(int(ix.size) for s in self.steps for ix in s.sends.values())


def _groups(rounds, peers, keys):
    """{(round, peer): sorted keys} from parallel arrays."""
    o = np.lexsort((keys, peers, rounds))
    r, p, k = rounds[o], peers[o], keys[o]
    if k.size == 0:
        return {}
    cut = np.flatnonzero(np.r_[True, (r[1:] != r[:-1]) | (p[1:] != p[:-1]), True])
    return {(int(r[a]), int(p[a])): k[a:b] for a, b in zip(cut[:-1], cut[1:])}


def rank_plan_from_messages(rank: int, size: int, topology: str, own_keys, msgs: Messages, *,
                            rounds, n_collect: int = 0, space=None, union_keys=None) -> RankPlan:
    """Assemble rank ``rank``'s plan from the messages that involve it (pure).

    ``rounds`` are the rounds in which *any* rank sends: the rank gets a
    step for each, empty or not, because ``comm.exchange`` is collective
    (every rank must call it the same number of times).
    """
    out = msgs.src == rank
    inn = msgs.dst == rank
    return assemble_rank_plan(rank, size, topology, own_keys,
                              _groups(msgs.round[out], msgs.dst[out], msgs.key[out]),
                              _groups(msgs.round[inn], msgs.src[inn], msgs.key[inn]),
                              rounds=rounds, n_collect=n_collect, space=space, union_keys=union_keys)


def sorted_positions(work: np.ndarray, keys) -> np.ndarray:
    """``np.searchsorted(work, keys)``; one linear merge walk when ``keys``
    is ascending (the plan's key lists are), a binary search per key else."""
    keys = np.asarray(keys, dtype=np.int64)
    if keys.size:
        out = kernels.sorted_positions(np.asarray(work, dtype=np.int64), keys)
        if out[0] >= 0:
            return out
    return np.searchsorted(work, keys)


def assemble_rank_plan(rank: int, size: int, topology: str, own_keys, sends: dict, recvs: dict, *,
                       rounds, n_collect: int = 0, space=None, union_keys=None,
                       extra=None) -> RankPlan:
    """Rank ``rank``'s plan from its key lists per round and peer (pure).

    ``sends`` / ``recvs`` map ``(round, peer)`` to the sorted keys sent to /
    received from that peer in that round.  One array may serve several
    entries (a tree edge's separator goes up in one round and comes down
    in another; allpairs sends and receives the same keys): its positions
    are computed once and shared by the steps, which only read them.
    ``extra``: the sorted keys the rank only carries or reduces (default:
    the listed keys that are not its own).  ``rounds`` as in
    :func:`rank_plan_from_messages`.
    """
    own = np.asarray(own_keys, dtype=np.int64)
    if extra is None:
        lists = list({id(k): k for k in (*sends.values(), *recvs.values())}.values())
        if len(lists) == 1 and (lists[0].size < 2 or bool(np.all(lists[0][1:] > lists[0][:-1]))):
            extra = np.asarray(lists[0], dtype=np.int64)    # already sorted and distinct
        else:
            extra = unique_sorted(np.concatenate(lists)) if lists else np.empty(0, np.int64)
        del lists
        if extra.size and own.size:
            at = np.minimum(sorted_positions(own, extra), own.size - 1)
            extra = extra[own[at] != extra]
    if extra.size:      # keys this rank only carries or reduces
        work = union_sorted(own, extra).astype(np.int64)
        own_pos = sorted_positions(work, own)
    else:
        work, own_pos = own, None      # the identity: no index array
    plan = RankPlan(rank, size, topology, own, work, own_pos)
    mine = {k[0] for k in sends} | {k[0] for k in recvs}
    if not mine <= set(rounds):
        raise AssertionError("rank has messages outside the global rounds")
    at_work = {}

    def positions(keys):
        got = at_work.get(id(keys))
        if got is None:     # (keys, positions): holding keys keeps its id unique
            got = at_work[id(keys)] = (keys, sorted_positions(work, keys))
        return got[1]

    for r in sorted(set(rounds)):
        plan.steps.append(Step(r, round_op(topology, r, n_collect),
                               {p: positions(k) for (rr, p), k in sorted(sends.items()) if rr == r},
                               {p: positions(k) for (rr, p), k in sorted(recvs.items()) if rr == r}))
    at_work.clear()
    if topology == "allreduce":
        union = np.asarray(union_keys, dtype=np.int64)
        plan.union_size, plan.union_pos = int(union.size), sorted_positions(union, own)
    if topology == "mapreduce":
        src = space.source_of(work)
        mine = np.flatnonzero((hash_owner(src, size) == rank) & ~space.is_total(work))
        tot = space.total_key(src[mine])
        pos = np.searchsorted(work, tot)
        if mine.size and (pos.max() >= work.size or np.any(work[pos] != tot)):
            raise AssertionError("mapreduce reducer lacks a source total it needs")
        plan.reduce_pos, plan.reduce_total_pos = mine, pos
    return plan


# ------------------------------------------------------------------ whole plans
@dataclass
class Plan:
    """A topology's complete plan for all ranks, with its cost per iteration."""

    topology: str
    size: int
    key_sets: list
    messages: Messages
    n_collect: int = 0
    tree: RootedTree | None = None
    union_keys: np.ndarray | None = None
    space: object = None

    @property
    def sent_bytes(self) -> np.ndarray:
        """Bytes each rank sends per iteration (allreduce: the model in the docstring)."""
        if self.topology == "allreduce":
            return np.full(self.size, allreduce_bytes(self.size, self.union_keys.size), np.int64)
        return VALUE_BYTES * np.bincount(self.messages.src, minlength=self.size).astype(np.int64)

    @property
    def bytes_total(self) -> int:
        return int(self.sent_bytes.sum())

    @property
    def bytes_max_rank(self) -> int:
        return int(self.sent_bytes.max())

    @property
    def n_rounds(self) -> int:
        if self.topology == "allreduce":
            return 2 * int(np.ceil(np.log2(self.size))) if self.size > 1 else 0
        return int(np.unique(self.messages.round).size)

    @property
    def n_messages(self) -> int:
        """Point-to-point messages per iteration (allreduce: 0, it is one collective)."""
        m = self.messages
        return int(np.unique(np.stack([m.round, m.src, m.dst]), axis=1).shape[1]) if len(m) else 0

    def rank_plan(self, rank: int) -> RankPlan:
        return rank_plan_from_messages(rank, self.size, self.topology, self.key_sets[rank],
                                       self.messages.involving(rank),
                                       rounds=np.unique(self.messages.round).tolist(),
                                       n_collect=self.n_collect,
                                       space=self.space, union_keys=self.union_keys)

    def summary(self) -> dict:
        return {"topology": self.topology, "ranks": self.size, "bytes_total": self.bytes_total,
                "bytes_max_rank": self.bytes_max_rank, "rounds": self.n_rounds,
                "messages": self.n_messages}


def route(h: Holders, topology: str, size: int, *, space=None, tree: RootedTree | None = None):
    """Messages for the keys in ``h`` (all keys, or one hash shard of them)."""
    if topology == "allpairs":
        return route_allpairs(h)
    if topology == "mapreduce":
        if space is None:
            raise ValueError("mapreduce needs the key space (reducers own source words)")
        return route_mapreduce(h, hash_owner(space.source_of(h.keys), size), ~space.is_total(h.keys))
    if topology in ("junction-tree", "tree"):
        return route_tree(h, tree)
    if topology == "allreduce":
        return Messages.empty()
    raise ConfigError(f"unknown topology {topology!r}; choose from {', '.join(TOPOLOGIES)}")


def make_plan(key_sets, topology: str, *, space=None, tree_edges=None, root: int | None = None,
              rank_hosts=None) -> Plan:
    """Plan of ``topology`` for ranks holding ``key_sets`` (sorted int64 arrays; pure).

    ``space`` (a :class:`~mpiml.em.ibm1.KeySpace`) is needed for
    ``mapreduce``; ``tree_edges`` for ``tree`` (an edge list over ranks);
    ``root`` optionally fixes the root of a tree schedule (default: its
    centre, which minimises the number of rounds); ``rank_hosts`` (a host
    name per rank) makes the junction tree host-aware.
    """
    if topology not in TOPOLOGIES:
        raise ConfigError(f"unknown topology {topology!r}; choose from {', '.join(TOPOLOGIES)}")
    size = len(key_sets)
    key_sets = [np.asarray(k, dtype=np.int64) for k in key_sets]
    h = holders_from_key_sets(key_sets)
    plan = Plan(topology, size, key_sets, Messages.empty(), space=space)
    if topology == "allreduce":
        plan.union_keys = h.keys
        return plan
    if topology in ("junction-tree", "tree"):
        if topology == "tree":
            if tree_edges is None:
                raise ConfigError("topology 'tree' needs an edge list")
            edges = tree_edges
        else:
            edges = junction_tree_edges(intersection_matrix(h, size), rank_hosts)
        plan.tree = RootedTree.build(edges, size, root)
        plan.n_collect = plan.tree.n_collect
    plan.messages = route(h, topology, size, space=space, tree=plan.tree).sorted()
    return plan
