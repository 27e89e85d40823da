"""C-step cost of every topology for many simulated ranks, without messages.

:func:`mpiml.em.plan.make_plan` lists every (round, src, dst, key) message,
which is what a run executes but grows with ranks x shared keys (a chain of
1,024 ranks carries a widely held key on ~1,000 edges).  :func:`plan_cost`
gives the same figures as ``make_plan(...).summary()`` (bytes in total and
per rank, rounds, point-to-point messages) from counts alone, with the key
space cut into ranges so that only one range's holders are in memory:

``allreduce``
    the size of the union of all keys (the model of :mod:`mpiml.em.plan`).
``allpairs``
    a holder sends each shared key to the other ``c - 1`` holders; the
    messages are the rank pairs with a non-empty intersection.
``mapreduce``
    every holder other than the reducer sends the count, the reducer sends
    theta back for parameters.
``junction-tree`` / ``tree``
    the number of keys crossing each tree edge, from per-key tags summed over
    subtrees (:func:`mpiml.em.kernels.edge_key_tags`); the maximum spanning
    tree needs the intersection matrix first (one pass over the ranges).

Wolfe, Haghighi & Klein, "Fully Distributed EM for Very Large Datasets"
(ICML 2008).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..partition import hash_owner
from . import kernels
from .keys import VALUE_BYTES, holders_from_key_sets, intersection_matrix
from .plan import allreduce_bytes
from .settings import TOPOLOGIES
from .topology import RootedTree, spanning_tree

_RANGE_ENTRIES = 8_000_000     # (key, rank) entries per key range held at once


def _key_ranges(key_sets):
    """Cut points of the key space so each range holds ~_RANGE_ENTRIES entries."""
    total = sum(int(k.size) for k in key_sets)
    n = max(1, -(-total // _RANGE_ENTRIES))
    if n == 1:
        return [None]
    sample = np.concatenate([k[::max(1, k.size // 64 + 1)] for k in key_sets if k.size])
    cuts = np.quantile(np.sort(sample), np.linspace(0, 1, n + 1)[1:-1]).astype(np.int64)
    return [(lo, hi) for lo, hi in zip([None, *cuts.tolist()], [*cuts.tolist(), None])]


def _holders(key_sets, rng):
    if rng is None:
        return holders_from_key_sets(key_sets)
    lo, hi = rng
    parts = []
    for k in key_sets:
        a = 0 if lo is None else int(np.searchsorted(k, lo))
        b = k.size if hi is None else int(np.searchsorted(k, hi))
        parts.append(k[a:b])
    return holders_from_key_sets(parts)


def _lifting(tree: RootedTree) -> np.ndarray:
    """Binary-lifting ancestor table up[j, v] = 2**j-th ancestor (root: itself)."""
    size = tree.parent.size
    levels = max(1, int(tree.depth.max(initial=0)).bit_length())
    up = np.empty((levels, size), np.int64)
    up[0] = np.where(tree.parent >= 0, tree.parent, np.arange(size))
    for j in range(1, levels):
        up[j] = up[j - 1][up[j - 1]]
    return up


def plan_cost(key_sets, topology: str, *, space=None, tree_edges=None, root: int | None = None,
              weights: np.ndarray | None = None) -> dict:
    """``make_plan(key_sets, topology, ...).summary()`` computed from counts (pure).

    ``weights`` may pass a precomputed :func:`intersection_weights` (it is
    what the junction tree is built from, and what allpairs counts messages
    with).  Also returns ``shared_keys`` (keys held by two or more ranks).
    """
    if topology not in TOPOLOGIES:
        raise ConfigError(f"unknown topology {topology!r}; choose from {', '.join(TOPOLOGIES)}")
    size = len(key_sets)
    key_sets = [np.asarray(k, dtype=np.int64) for k in key_sets]
    ranges = _key_ranges(key_sets)
    sent = np.zeros(size, np.int64)
    rounds: set = set()
    n_messages = 0
    n_union = n_shared = 0
    tree = up = None
    if topology in ("junction-tree", "tree"):
        if topology == "tree":
            if tree_edges is None:
                raise ConfigError("topology 'tree' needs an edge list")
            edges = tree_edges
        else:
            if weights is None:
                weights = intersection_weights(key_sets)
            edges = spanning_tree(weights)
        tree = RootedTree.build(edges, size, root)
        up = _lifting(tree)
        tags = np.zeros(size, np.int64)
    if topology == "allpairs" and weights is None:
        weights = intersection_weights(key_sets)
    pairs = np.zeros((2, size, size), bool) if topology == "mapreduce" else None
    for rng in ranges:
        h = _holders(key_sets, rng)
        cnt = h.counts
        n_union += int(h.keys.size)
        n_shared += int(np.count_nonzero(cnt >= 2))
        if topology == "allpairs":
            per_entry = np.repeat(np.maximum(cnt - 1, 0), cnt)
            sent += VALUE_BYTES * np.bincount(h.ranks, weights=per_entry, minlength=size).astype(np.int64)
        elif topology == "mapreduce":
            if space is None:
                raise ValueError("mapreduce needs the key space (reducers own source words)")
            red = np.repeat(hash_owner(space.source_of(h.keys), size), cnt)
            par = np.repeat(~space.is_total(h.keys), cnt)
            away = h.ranks != red
            sent += VALUE_BYTES * np.bincount(h.ranks[away], minlength=size)
            back = away & par
            sent += VALUE_BYTES * np.bincount(red[back], minlength=size)
            pairs[0][h.ranks[away], red[away]] = True
            pairs[1][red[back], h.ranks[back]] = True
        elif tree is not None:
            kernels.edge_key_tags(h.ptr, h.ranks, cnt >= 2, up, tree.depth, tree.tin, tags)
    if topology == "allreduce":
        per = allreduce_bytes(size, n_union)
        sent[:] = per
        n_rounds = 2 * int(np.ceil(np.log2(size))) if size > 1 else 0
    elif topology == "allpairs":
        off = weights.copy()
        np.fill_diagonal(off, 0)
        n_messages = int(np.count_nonzero(off))
        n_rounds = 1 if n_messages else 0
    elif topology == "mapreduce":
        n_messages = int(pairs.sum())
        n_rounds = int(pairs[0].any()) + int(pairs[1].any())
    else:
        crossing = tags.copy()
        for v in np.argsort(tree.tin)[::-1].tolist():      # children before parents
            if tree.parent[v] >= 0:
                crossing[tree.parent[v]] += crossing[v]
        v = np.flatnonzero((tree.parent >= 0) & (crossing > 0))
        c = crossing[v]
        p = tree.parent[v]
        sent += VALUE_BYTES * np.bincount(v, weights=c, minlength=size).astype(np.int64)
        sent += VALUE_BYTES * np.bincount(p, weights=c, minlength=size).astype(np.int64)
        n_messages = 2 * int(v.size)
        rounds = set(tree.height[v].tolist()) | set((tree.n_collect + tree.depth[p]).tolist())
        n_rounds = len(rounds)
    return {"topology": topology, "ranks": size, "bytes_total": int(sent.sum()),
            "bytes_max_rank": int(sent.max(initial=0)), "rounds": int(n_rounds),
            "messages": int(n_messages), "shared_keys": int(n_shared)}


def intersection_weights(key_sets) -> np.ndarray:
    """|K_i & K_j| for all rank pairs, one key range at a time (pure)."""
    size = len(key_sets)
    key_sets = [np.asarray(k, dtype=np.int64) for k in key_sets]
    m = np.zeros((size, size), np.int64)
    for rng in _key_ranges(key_sets):
        m += intersection_matrix(_holders(key_sets, rng), size)
    return m
