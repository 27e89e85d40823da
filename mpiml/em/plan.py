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

A plan is computed from the per-key *holders* (which ranks hold each key).
:func:`make_plan` does this for all ranks in one process (e.g. 64 simulated
ranks); :func:`mpiml.em.cstep.build_rank_plan` computes the same thing with
the keys sharded over the ranks by the hash of their source word.
Statistic keys are int64 (see :class:`mpiml.em.ibm1.KeySpace`); every value
sent is one float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.sparse.csgraph import minimum_spanning_tree

from ..errors import ConfigError
from ..arrays import union_sorted, unique_sorted
from ..partition import hash_owner
from . import kernels
from .settings import TOPOLOGIES   # declared with the options of train ibm1

VALUE_BYTES = 8


def allreduce_bytes(size: int, n_values: int) -> int:
    """Bytes each rank sends per Allreduce of ``n_values`` doubles, by the
    bandwidth-optimal model (reduce-scatter + allgather: 2 (p-1)/p of the
    vector per rank); what every topology is compared against."""
    return int(round(2 * (size - 1) / size * VALUE_BYTES * n_values)) if size > 1 else 0


# ------------------------------------------------------------------ holders
@dataclass
class Holders:
    """For each unique key (sorted), the sorted ranks holding it (CSR)."""

    keys: np.ndarray
    ptr: np.ndarray
    ranks: np.ndarray

    @cached_property
    def counts(self) -> np.ndarray:
        return np.diff(self.ptr)


def holders_from_pairs(keys, ranks) -> Holders:
    """Holders from parallel arrays of (key, holding rank) entries."""
    keys = np.asarray(keys, dtype=np.int64)
    ranks = np.asarray(ranks, dtype=np.int64)
    order = np.lexsort((ranks, keys))
    k, r = keys[order], ranks[order]
    if k.size:
        fresh = np.r_[True, (k[1:] != k[:-1]) | (r[1:] != r[:-1])]
        k, r = k[fresh], r[fresh]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if k.size else np.empty(0, np.int64)
    return Holders(k[starts], np.append(starts, k.size).astype(np.int64), r)


def holders_from_key_sets(key_sets) -> Holders:
    """Holders from one sorted array of distinct keys per rank.

    A stable sort of the concatenation (rank order) keeps each key's
    holders in rank order, so no lexsort over (key, rank) is needed.
    """
    key_sets = [np.asarray(k, np.int64) for k in key_sets]
    if not all(k.size < 2 or bool(np.all(k[1:] > k[:-1])) for k in key_sets):
        ranks = [np.full(len(ks), r, dtype=np.int64) for r, ks in enumerate(key_sets)]
        return holders_from_pairs(np.concatenate(key_sets or [np.empty(0, np.int64)]),
                                  np.concatenate(ranks or [np.empty(0, np.int64)]))
    allk = np.concatenate(key_sets or [np.empty(0, np.int64)])
    ranks = np.repeat(np.arange(len(key_sets), dtype=np.int64), [k.size for k in key_sets])
    if len(key_sets) > 1:
        order = np.argsort(allk, kind="stable")
        allk, ranks = allk[order], ranks[order]
        del order
    if allk.size == 0:
        return Holders(allk, np.zeros(1, np.int64), ranks)
    starts = np.flatnonzero(np.r_[True, allk[1:] != allk[:-1]])
    return Holders(allk[starts], np.append(starts, allk.size).astype(np.int64), ranks)


_HEAVY_ROWS = 1 << 14     # keys per dense product chunk (counts stay exact in float32)


def _shared_pairs(h: Holders):
    """(key position, a, b) for every ordered pair a != b holding the same key."""
    cnt = h.counts
    out_k, out_a, out_b = [], [], []
    for c in np.unique(cnt[cnt >= 2]).tolist():
        sel = np.flatnonzero(cnt == c)
        mat = h.ranks[h.ptr[sel][:, None] + np.arange(c)]
        ia, ib = np.nonzero(~np.eye(c, dtype=bool))
        out_k.append(np.repeat(sel, ia.size))
        out_a.append(mat[:, ia].ravel())
        out_b.append(mat[:, ib].ravel())
    if not out_k:
        e = np.empty(0, np.int64)
        return e, e, e
    return np.concatenate(out_k), np.concatenate(out_a), np.concatenate(out_b)


def intersection_matrix(h: Holders, size: int) -> np.ndarray:
    """|K_i & K_j| for every pair of ranks (int64, size x size; diagonal |K_i|).

    This is the Gram matrix B^T B of the key x rank incidence matrix B.  Keys
    held by few ranks add their holder pairs in a numba loop (cost: the sum
    over keys of holders squared); keys held by many go through dense
    float32 products (BLAS) in chunks of at most 2**14 keys, where a pair
    loop would approach size**2 per key; chunk sums stay below 2**24, so
    they are exact in float32.
    """
    cnt = h.counts
    heavy = cnt > max(32, size // 16)
    m = kernels.pair_counts(h.ptr, h.ranks, (cnt >= 2) & ~heavy, size)
    m[np.diag_indices(size)] = np.bincount(h.ranks, minlength=size)
    rows = np.flatnonzero(heavy)
    for a in range(0, rows.size, _HEAVY_ROWS):
        sel = rows[a:a + _HEAVY_ROWS]
        d = np.zeros((sel.size, size), np.float32)
        ent = _segment_indices(h.ptr[sel], cnt[sel])
        d[np.repeat(np.arange(sel.size), cnt[sel]), h.ranks[ent]] = 1.0
        g = (d.T @ d).astype(np.int64)
        g[np.diag_indices(size)] = 0
        m += g
    return m


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
    k, a, b = _shared_pairs(h)
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


# ------------------------------------------------------------------ trees
def validate_tree(edges, size: int) -> np.ndarray:
    """Check that ``edges`` is a spanning tree of ranks 0..size-1; return (n, 2) int64."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2) if len(edges) else np.empty((0, 2), np.int64)
    if e.shape[0] != size - 1:
        raise ConfigError(f"a spanning tree of {size} ranks needs {size - 1} edges, got {e.shape[0]}")
    if e.size and (e.min() < 0 or e.max() >= size):
        raise ConfigError(f"tree edge endpoints must be ranks in [0, {size})")
    parent = list(range(size))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in e.tolist():
        ra, rb = find(a), find(b)
        if ra == rb:
            raise ConfigError(f"tree edges contain a cycle (or self loop) at edge {a}-{b}")
        parent[ra] = rb
    return np.sort(e, axis=1)


def spanning_tree(weights: np.ndarray) -> np.ndarray:
    """Maximum spanning tree of the complete graph with ``weights`` (pure).

    scipy's minimum spanning tree on the negated weights; the weights are
    shifted by one first so that pairs sharing nothing remain edges (zero
    entries mean "no edge" to csgraph) and the result spans every rank.
    """
    size = weights.shape[0]
    if size == 1:
        return np.empty((0, 2), np.int64)
    neg = -(np.asarray(weights, dtype=np.float64) + 1.0)
    np.fill_diagonal(neg, 0.0)
    mst = minimum_spanning_tree(neg).tocoo()
    return validate_tree(np.column_stack([mst.row, mst.col]), size)


def junction_tree_edges(weights: np.ndarray, rank_hosts=None) -> np.ndarray:
    """The junction tree's spanning tree: maximum over ``weights``, or, given
    each rank's host name, :func:`mpiml.em.hosttree.host_aware_tree` (a tree
    per host plus one over host leaders)."""
    if rank_hosts is None:
        return spanning_tree(weights)
    from .hosttree import host_aware_tree
    return host_aware_tree(weights, rank_hosts)


@dataclass
class RootedTree:
    """A spanning tree rooted at ``root`` with preorder intervals.

    ``tin[v] <= tin[u] < tout[v]`` iff u is in v's subtree; ``height`` is
    0 for leaves; ``n_collect = height[root]`` collect rounds precede the
    distribute rounds.
    """

    edges: np.ndarray
    root: int
    parent: np.ndarray
    depth: np.ndarray
    height: np.ndarray
    tin: np.ndarray
    tout: np.ndarray

    @property
    def n_collect(self) -> int:
        return int(self.height[self.root])

    @classmethod
    def build(cls, edges, size: int, root: int | None = None) -> "RootedTree":
        edges = validate_tree(edges, size)
        adj = [[] for _ in range(size)]
        for a, b in edges.tolist():
            adj[a].append(b)
            adj[b].append(a)
        for nb in adj:
            nb.sort()
        if root is None:
            root = _center(adj)
        parent = np.full(size, -1, np.int64)
        depth = np.zeros(size, np.int64)
        tin = np.zeros(size, np.int64)
        order, stack, seen = [], [root], np.zeros(size, bool)
        seen[root] = True
        while stack:
            v = stack.pop()
            tin[v] = len(order)
            order.append(v)
            for u in reversed(adj[v]):
                if not seen[u]:
                    seen[u] = True
                    parent[u], depth[u] = v, depth[v] + 1
                    stack.append(u)
        height = np.zeros(size, np.int64)
        size_sub = np.ones(size, np.int64)
        for v in reversed(order):
            if parent[v] >= 0:
                height[parent[v]] = max(height[parent[v]], height[v] + 1)
                size_sub[parent[v]] += size_sub[v]
        return cls(edges, int(root), parent, depth, height, tin, tin + size_sub)


def _center(adj) -> int:
    """Lowest-numbered node of minimum eccentricity (keeps the schedule short)."""
    best, best_ecc = 0, None
    for s in range(len(adj)):
        dist = {s: 0}
        frontier = [s]
        while frontier:
            nxt = []
            for v in frontier:
                for u in adj[v]:
                    if u not in dist:
                        dist[u] = dist[v] + 1
                        nxt.append(u)
            frontier = nxt
        ecc = max(dist.values())
        if best_ecc is None or ecc < best_ecc:
            best, best_ecc = s, ecc
    return best


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


def _segment_indices(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(starts[i], starts[i] + lengths[i])."""
    total = int(lengths.sum())
    offs = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return np.arange(total) + offs


def check_running_intersection(edges, key_sets, work_sets) -> list[str]:
    """Violations of the junction-tree property (empty list if none; pure).

    For every key: the ranks carrying it (``work_sets``) include all ranks
    holding it (``key_sets``), induce a connected subtree, and every leaf
    of that subtree is a holder (no needless carriers).
    """
    size = len(key_sets)
    edges = validate_tree(edges, size)
    carry = holders_from_key_sets(work_sets)
    n_edges = np.zeros(carry.keys.size, np.int64)
    deg = [dict() for _ in range(size)]
    for a, b in edges.tolist():
        common = np.intersect1d(work_sets[a], work_sets[b])
        n_edges[np.searchsorted(carry.keys, common)] += 1
        for x in (a, b):
            for k in common.tolist():
                deg[x][k] = deg[x].get(k, 0) + 1
    bad = []
    for r in range(size):
        missing = np.setdiff1d(key_sets[r], work_sets[r])
        if missing.size:
            bad.append(f"rank {r} holds but does not carry keys {missing[:5].tolist()}")
        for k in np.setdiff1d(work_sets[r], key_sets[r]).tolist():
            if deg[r].get(k, 0) < 2:
                bad.append(f"rank {r} carries key {k} without lying between two holders")
    disconnected = carry.keys[n_edges != carry.counts - 1]
    if disconnected.size:
        bad.append(f"keys whose carriers are not connected: {disconnected[:5].tolist()}")
    return bad


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
    own = np.asarray(own_keys, dtype=np.int64)
    extra = unique_sorted(msgs.key)
    if extra.size:
        at = np.minimum(np.searchsorted(own, extra), max(own.size - 1, 0))
        extra = extra[own[at] != extra] if own.size else extra
    if extra.size:      # keys this rank only carries or reduces
        work = union_sorted(own, extra).astype(np.int64)
        own_pos = np.searchsorted(work, own)
    else:
        work, own_pos = own, None      # the identity: no index array
    plan = RankPlan(rank, size, topology, own, work, own_pos)
    out = msgs.src == rank
    sends = _groups(msgs.round[out], msgs.dst[out], msgs.key[out])
    inn = msgs.dst == rank
    recvs = _groups(msgs.round[inn], msgs.src[inn], msgs.key[inn])
    mine = {k[0] for k in sends} | {k[0] for k in recvs}
    if not mine <= set(rounds):
        raise AssertionError("rank has messages outside the global rounds")
    for r in sorted(set(rounds)):
        plan.steps.append(Step(r, round_op(topology, r, n_collect),
                               {p: np.searchsorted(work, k) for (rr, p), k in sends.items() if rr == r},
                               {p: np.searchsorted(work, k) for (rr, p), k in recvs.items() if rr == r}))
    if topology == "allreduce":
        union = np.asarray(union_keys, dtype=np.int64)
        plan.union_size, plan.union_pos = int(union.size), np.searchsorted(union, own)
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
