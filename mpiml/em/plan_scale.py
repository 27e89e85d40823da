"""C-step cost of several topologies at once, for up to thousands of simulated ranks.

:func:`plan_costs` gives, for each requested topology, the figures of
``make_plan(...).summary()`` (bytes in total and per rank, rounds,
point-to-point messages; plus ``shared_keys``) without listing messages and
without a Python loop over keys or rank pairs, so that
``mpiml plan ibm1 --ranks 64,256,1024`` on a 300k-pair corpus is a matter of
seconds.  The statistic keys are cut into ranges of about
:data:`RANGE_ENTRIES` (key, rank) entries; one range's holders are in memory
at a time, and each range is visited once for what needs only the holder
counts and the intersection matrix, and once more per tree (its holders in
DFS order).

``allreduce``
    the size of the union of all keys (the model of :mod:`mpiml.em.plan`).
``allpairs``
    a holder sends each shared key to the other ``c - 1`` holders; the
    messages are the rank pairs with a non-empty intersection, i.e. the
    non-zero off-diagonal entries of the Gram matrix B^T B of the
    key x rank incidence matrix B (:func:`mpiml.em.keys.intersection_matrix`).
``mapreduce``
    needs no holders: each rank's own keys give what it sends to the
    reducers of their source words and what the reducers send back.
``junction-tree`` / ``tree``
    the keys crossing each tree edge, by tags summed over subtrees: +1 at
    each holder of a shared key, -1 at the lowest common ancestor of each
    pair of DFS-consecutive holders and at that of the first and last; the
    subtree sum below v is 1 for a key iff v's subtree holds some but not
    all of its holders.  Ranks are relabelled by DFS entry time, so sorting
    the entries by (key, label) puts each key's holders in DFS order, and the
    LCA of labels u < v is the parent of the shallowest node among labels
    u+1..v (a range-minimum query on a sparse table, vectorised).  The pairs
    are counted per (u, v) first (at most size^2 of them), so each LCA is
    computed once.

Wolfe, Haghighi & Klein, "Fully Distributed EM for Very Large Datasets"
(ICML 2008).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..partition import block_range, hash_owner
from .keys import VALUE_BYTES, Holders, intersection_matrix, rank_dtype
from .plan import allreduce_bytes
from .settings import TOPOLOGIES
from .topology import RootedTree, spanning_tree

# (key, rank) entries per key range held at once: 8M entries are ~100 MB of
# temporaries (int64 combined keys, int64 pointers, small ranks).
RANGE_ENTRIES = 8_000_000


# ------------------------------------------------------------------ inputs
def simulated_key_sets(corpus, size: int, null: bool = True) -> list:
    """Sorted int64 statistic keys of each of ``size`` simulated ranks.

    The same keys as :func:`mpiml.em.ibm1.simulated_stat_keys` (each rank's
    line block of :func:`mpiml.partition.block_range`), built without the
    token-pair index the E-step would need (``low_memory``), which the
    planner never reads.
    """
    from .ibm1 import build_local_params, slice_lines
    out = []
    for r in range(size):
        lo, hi = block_range(corpus.n_lines, size, r)
        out.append(build_local_params(slice_lines(corpus, lo, hi), null, low_memory=True).stat_keys)
    return out


def key_ranges(key_sets, entries: int | None = None):
    """Cut points ``[(lo, hi), ...]`` of the key space (``None``: open end) so
    that each range holds about ``entries`` (key, rank) entries."""
    entries = RANGE_ENTRIES if entries is None else int(entries)
    total = sum(int(k.size) for k in key_sets)
    n = max(1, -(-total // entries))
    if n == 1:
        return [(None, None)]
    sample = np.sort(np.concatenate([k[::max(1, k.size // 64 + 1)] for k in key_sets if k.size]))
    cuts = np.unique(sample[(np.arange(1, n) * sample.size) // n])
    return list(zip([None, *cuts.tolist()], [*cuts.tolist(), None]))


def label_bits(size: int) -> int:
    """Bits of a rank label in the combined ``key << bits | label`` sort key."""
    return max(1, (size - 1).bit_length())


def range_holders(key_sets, rng, labels=None) -> Holders:
    """Holders of the keys in ``rng`` with rank r named ``labels[r]`` (default r).

    The key sets must be sorted and distinct (statistic keys are); entries are
    sorted by (key, label) as one int64 ``key << bits | label``, so each key's
    holders come in label order (shifts and masks: no integer division).
    """
    size = len(key_sets)
    bits = label_bits(size)
    lo, hi = rng
    parts = []
    for r, k in enumerate(key_sets):
        a = 0 if lo is None else int(np.searchsorted(k, lo))
        b = k.size if hi is None else int(np.searchsorted(k, hi))
        if b > a:
            parts.append((r if labels is None else int(labels[r]), k[a:b]))
    n = sum(p.size for _, p in parts)
    comb = np.empty(n, np.int64)
    at = 0
    for lab, p in parts:
        np.left_shift(p, bits, out=comb[at:at + p.size])
        comb[at:at + p.size] |= lab
        at += p.size
    del parts
    comb.sort()
    ranks = np.empty(n, rank_dtype(size))
    np.bitwise_and(comb, (1 << bits) - 1, out=ranks, casting="unsafe")
    np.right_shift(comb, bits, out=comb)
    fresh = np.empty(n + 1, bool)
    fresh[0] = fresh[-1] = True
    np.not_equal(comb[1:], comb[:-1], out=fresh[1:-1])
    ptr = np.flatnonzero(fresh)
    return Holders(comb[ptr[:-1]], ptr, ranks)


def _check_keys(key_sets) -> None:
    top = max((int(k[-1]) for k in key_sets if k.size), default=0)
    low = min((int(k[0]) for k in key_sets if k.size), default=0)
    if low < 0 or top >= 1 << (62 - label_bits(len(key_sets))):
        raise ValueError("statistic keys out of range for the combined (key, rank) sort")
    for r, k in enumerate(key_sets):
        if k.size > 1 and not bool(np.all(k[1:] > k[:-1])):
            raise ValueError(f"key set of rank {r} is not sorted and distinct")


# ------------------------------------------------------------------ trees
class _TreeTags:
    """Per-key tags of one rooted tree, accumulated range by range."""

    def __init__(self, tree: RootedTree):
        size = tree.parent.size
        self.tree, self.size = tree, size
        order = np.argsort(tree.tin)             # node at each DFS position
        self.labels = tree.tin                   # rank -> its DFS position
        self.depth_at = tree.depth[order]
        par = tree.parent[order]
        self.parent_at = np.where(par >= 0, tree.tin[np.maximum(par, 0)], -1)
        self.tout_at = tree.tout[order]
        self.bits = label_bits(size)
        self.plus = np.zeros(size, np.int64)
        self.pairs = np.zeros(1 << (2 * self.bits), np.int64)    # (u << bits | v) -> count
        # sparse table: best[j][x] = DFS position of the shallowest node in x .. x + 2**j - 1
        best = [np.arange(size)]
        j = 1
        while (1 << j) <= size:
            a, h = best[-1], 1 << (j - 1)
            b = np.r_[a[h:], a[-h:]]            # right halves (clamped at the end)
            best.append(np.where(self.depth_at[b] < self.depth_at[a], b, a))
            j += 1
        self.best = np.stack(best)

    def add(self, h: Holders) -> None:
        """Tags of the shared keys of ``h`` (ranks are DFS positions)."""
        n = h.ranks.size
        if n - h.keys.size == 0:        # no key has two holders
            return
        # 2 * bits < 31 for the ranks this planner takes: codes fit int32
        lab = h.ranks.astype(np.int32 if 2 * self.bits < 31 else np.int64)
        starts = np.zeros(n + 1, bool)
        starts[h.ptr] = True
        sel = np.flatnonzero(~starts[1:n])     # i: entries i and i + 1 hold one key
        del starts
        u = lab[sel]
        sel += 1
        v = lab[sel]
        del sel
        cnt = np.diff(h.ptr)
        keep = cnt >= 2
        last = lab[h.ptr[1:][keep] - 1]
        first = lab[h.ptr[:-1][keep]]
        # every holder of a shared key but its last is the first of a pair
        self.plus += np.bincount(u, minlength=self.size) + np.bincount(last, minlength=self.size)
        m = self.pairs.size
        u <<= self.bits
        u |= v
        del v
        self.pairs += np.bincount(u, minlength=m)
        del u
        first <<= self.bits
        first |= last
        self.pairs += np.bincount(first, minlength=m)

    def _lca(self, u, v):
        """LCA (as DFS positions) of positions u < v."""
        lo, hi = u + 1, v
        j = np.floor(np.log2(hi - lo + 1)).astype(np.int64)
        a = self.best[j, lo]
        b = self.best[j, hi - (1 << j) + 1]
        w = np.where(self.depth_at[b] < self.depth_at[a], b, a)
        return self.parent_at[w]

    def crossing(self) -> np.ndarray:
        """Keys crossing the edge (v, parent v), per rank v (0 at the root)."""
        nz = np.flatnonzero(self.pairs)
        tags = self.plus.copy()
        if nz.size:
            lca = self._lca(nz >> self.bits, nz & ((1 << self.bits) - 1))
            tags -= np.bincount(lca, weights=self.pairs[nz], minlength=self.size).astype(np.int64)
        s = np.r_[0, np.cumsum(tags)]
        below = s[self.tout_at] - s[np.arange(self.size)]     # subtree sums, by DFS position
        out = below[self.labels]
        out[self.tree.parent < 0] = 0
        return out


def _tree_summary(tree: RootedTree, crossing: np.ndarray, size: int) -> dict:
    v = np.flatnonzero((tree.parent >= 0) & (crossing > 0))
    c = crossing[v]
    p = tree.parent[v]
    sent = VALUE_BYTES * (np.bincount(v, weights=c, minlength=size)
                          + np.bincount(p, weights=c, minlength=size)).astype(np.int64)
    rounds = set(tree.height[v].tolist()) | set((tree.n_collect + tree.depth[p]).tolist())
    return {"sent": sent, "rounds": len(rounds), "messages": 2 * int(v.size)}


# ------------------------------------------------------------------ mapreduce
def _mapreduce(key_sets, space, size: int) -> dict:
    """Reducer of a key: ``hash_owner`` of its source word (hashed once per word)."""
    owner = hash_owner(np.arange(space.n_src, dtype=np.int64), size).astype(rank_dtype(size))
    sent = np.zeros(size, np.int64)
    up = down = 0
    for r, k in enumerate(key_sets):
        n_par = int(np.searchsorted(k, space.n_param))
        src = np.empty(k.size, np.int64)
        np.floor_divide(k[:n_par], space.n_tgt, out=src[:n_par])
        np.subtract(k[n_par:], space.n_param, out=src[n_par:])
        red = owner[src]
        del src
        away = red != r
        sent[r] += VALUE_BYTES * int(np.count_nonzero(away))
        back = np.bincount(red[:n_par][away[:n_par]], minlength=size)
        sent += VALUE_BYTES * back
        up += int(np.count_nonzero(np.bincount(red[away], minlength=size)))
        down += int(np.count_nonzero(back))
    return {"sent": sent, "rounds": int(up > 0) + int(down > 0), "messages": up + down}


# ------------------------------------------------------------------ all topologies
def plan_costs(key_sets, topologies=TOPOLOGIES, *, space=None, tree_edges=None, root=None,
               range_entries: int | None = None) -> dict:
    """``{topology: make_plan(key_sets, topology, ...).summary() + shared_keys}`` (pure).

    ``key_sets``: one sorted array of distinct int64 statistic keys per rank.
    ``space`` is needed for ``mapreduce``, ``tree_edges`` for ``tree``;
    ``root`` fixes the root of the tree schedules (default: the centre).
    The figures equal :func:`mpiml.em.plan_cost.plan_cost`'s for every
    topology (unit tests).
    """
    topologies = list(dict.fromkeys(topologies))
    for t in topologies:
        if t not in TOPOLOGIES:
            raise ConfigError(f"unknown topology {t!r}; choose from {', '.join(TOPOLOGIES)}")
    if "tree" in topologies and tree_edges is None:
        raise ConfigError("topology 'tree' needs an edge list")
    if "mapreduce" in topologies and space is None:
        raise ValueError("mapreduce needs the key space (reducers own source words)")
    size = len(key_sets)
    key_sets = [np.asarray(k, dtype=np.int64) for k in key_sets]
    _check_keys(key_sets)
    trees = {}
    if "tree" in topologies:      # validated before the long passes
        trees["tree"] = RootedTree.build(tree_edges, size, root)
    ranges = key_ranges(key_sets, range_entries)
    need_gram = size > 1 and bool({"allpairs", "junction-tree"} & set(topologies))
    tags = {}
    if "tree" in trees and size > 1:
        tags["tree"] = _TreeTags(trees["tree"])
    # Pass 1 names the ranks by their DFS position in the user's tree when
    # there is one, so that its tags come from the same sorted entries; the
    # label-space intersections and byte counts are permuted back after.
    lab = tags["tree"].labels if "tree" in tags else np.arange(size)
    gram = np.zeros((size, size), np.int64) if need_gram else None
    n_union = n_shared = 0
    ap_sent = np.zeros(size, np.int64)
    for rng in ranges:
        h = range_holders(key_sets, rng, lab)
        cnt = np.diff(h.ptr)
        n_union += int(h.keys.size)
        n_shared += int(np.count_nonzero(cnt >= 2))
        if "allpairs" in topologies:
            ap_sent += VALUE_BYTES * np.bincount(h.ranks, weights=np.repeat(cnt - 1, cnt),
                                                 minlength=size).astype(np.int64)
        if need_gram:
            gram += intersection_matrix(h, size)
        if "tree" in tags:
            tags["tree"].add(h)
        del h, cnt
    ap_sent = ap_sent[lab]
    if need_gram:
        gram = gram[np.ix_(lab, lab)]
    if "junction-tree" in topologies:
        edges = spanning_tree(gram) if size > 1 else np.empty((0, 2), np.int64)
        trees["junction-tree"] = RootedTree.build(edges, size, root)
        if size > 1:
            jt = tags["junction-tree"] = _TreeTags(trees["junction-tree"])
            for rng in ranges:       # pass 2: holders in the junction tree's DFS order
                jt.add(range_holders(key_sets, rng, jt.labels))
    out = {}
    for topo in topologies:
        if topo == "allreduce":
            per = allreduce_bytes(size, n_union)
            r = {"sent": np.full(size, per, np.int64),
                 "rounds": 2 * int(np.ceil(np.log2(size))) if size > 1 else 0, "messages": 0}
        elif topo == "allpairs":
            off = np.count_nonzero(gram) - np.count_nonzero(np.diag(gram)) if need_gram else 0
            r = {"sent": ap_sent, "rounds": 1 if off else 0, "messages": int(off)}
        elif topo == "mapreduce":
            r = _mapreduce(key_sets, space, size)
        else:
            tree = trees[topo]
            crossing = tags[topo].crossing() if size > 1 else np.zeros(size, np.int64)
            r = _tree_summary(tree, crossing, size)
        sent = r["sent"]
        out[topo] = {"topology": topo, "ranks": size, "bytes_total": int(sent.sum()),
                     "bytes_max_rank": int(sent.max(initial=0)), "rounds": int(r["rounds"]),
                     "messages": int(r["messages"]), "shared_keys": int(n_shared)}
    return out
