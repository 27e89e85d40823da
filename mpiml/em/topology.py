"""Spanning trees over ranks for the tree topologies of the C-step (pure functions).

The junction tree of Wolfe, Haghighi & Klein (ICML 2008) is a maximum
spanning tree over ranks with edge weight |K_i & K_j|
(:func:`spanning_tree`, or a tree per host from
:func:`mpiml.em.hosttree.host_aware_tree`); :class:`RootedTree` roots it for
the collect/distribute schedule, and :func:`check_running_intersection`
verifies the junction-tree property of a plan's carried keys.  The messages
that travel along the tree are listed by :func:`mpiml.em.plan.route_tree`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .keys import holders_from_key_sets


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
    # Imported here, not at module level: scipy.sparse.csgraph maps about
    # 22 MiB into every process that imports this module (measured peak RSS),
    # and only runs that build a junction tree need it.
    from scipy.sparse.csgraph import minimum_spanning_tree

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
    """Lowest-numbered node of minimum eccentricity (keeps the schedule short).

    In a tree, the farthest node from any node is an end of a longest path
    (a diameter), so with a, b the two ends of one diameter (a = farthest
    from node 0, b = farthest from a), ecc(v) = max(dist(a, v), dist(b, v)):
    three breadth-first searches instead of one per node.
    """
    if len(adj) == 1:
        return 0
    d0 = _bfs_dist(adj, 0)
    a = int(np.argmax(d0))
    da = _bfs_dist(adj, a)
    db = _bfs_dist(adj, int(np.argmax(da)))
    return int(np.argmin(np.maximum(da, db)))     # argmin: the lowest-numbered of the minima


def _bfs_dist(adj, s: int) -> np.ndarray:
    dist = np.full(len(adj), -1, np.int64)
    dist[s] = 0
    frontier = [s]
    while frontier:
        nxt = []
        for v in frontier:
            for u in adj[v]:
                if dist[u] < 0:
                    dist[u] = dist[v] + 1
                    nxt.append(u)
        frontier = nxt
    return dist


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


