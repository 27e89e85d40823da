"""C-step bytes per rank per iteration of every IBM1 topology at fixed data per
rank, for simulated rank counts up to thousands, without MPI (pure planning;
Wolfe, Haghighi & Klein 2008, the bandwidth comparison).

A statistic held by k ranks costs k (k - 1) messages in allpairs, so the
planner's message lists grow with k^2; here every topology is counted from
the holders directly. For the junction tree, the number of statistics on
edge (v, parent v) is the number of keys whose Steiner subtree contains it;
with a key's holders h_1..h_k in DFS order that is the subtree sum at v of
+1 at every holder, -1 at lca(h_i, h_i+1) and -1 at lca(h_1, h_k) (the
subtree of v holds a contiguous run of m holders: m - (m - 1) = 1, minus one
more iff it holds them all). The intersection weights of the maximum
spanning tree come from a sparse product.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..em.ibm1 import KeySpace, simulated_stat_keys
from ..em.keys import VALUE_BYTES, holders_from_key_sets
from ..em.plan import allreduce_bytes
from ..em.topology import RootedTree, spanning_tree
from ..partition import hash_owner

TOPOLOGIES = ("mapreduce", "allreduce", "allpairs", "junction-tree")


def sent_bytes(key_sets, space: KeySpace) -> dict:
    """{topology: bytes each rank sends per iteration (int64 array)} for ``key_sets``."""
    p = len(key_sets)
    h = holders_from_key_sets(key_sets)
    cnt = h.counts
    per_entry = np.repeat(cnt, cnt)
    out = {"allpairs": VALUE_BYTES * np.bincount(h.ranks, weights=per_entry - 1, minlength=p)}
    kpos = np.repeat(np.arange(h.keys.size), cnt)
    red = hash_owner(space.source_of(h.keys), p)[kpos]
    away = h.ranks != red
    up = np.bincount(h.ranks[away], minlength=p)
    back = away & ~space.is_total(h.keys)[kpos]
    down = np.bincount(red[back], minlength=p)
    out["mapreduce"] = VALUE_BYTES * (up + down)
    per = allreduce_bytes(p, h.keys.size)
    out["allreduce"] = np.full(p, per)
    if p == 1:
        out["junction-tree"] = np.zeros(1)
        return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}
    # |K_i & K_j| as A A^T with A the (ranks x keys) incidence matrix
    # (only shared keys: a key on one rank adds to the diagonal, which the tree ignores)
    sh = per_entry >= 2
    a = sparse.csr_matrix((np.ones(int(sh.sum()), np.int64), (h.ranks[sh], kpos[sh])),
                          shape=(p, h.keys.size))
    w = (a @ a.T).toarray()
    tree = RootedTree.build(spanning_tree(w), p)
    out["junction-tree"] = VALUE_BYTES * _tree_sends(tree, kpos, h.ranks, p)
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


def _tree_sends(tree: RootedTree, key_of, rank_of, p: int) -> np.ndarray:
    """Values each rank sends per iteration on ``tree`` (collect up + distribute down)."""
    parent = np.where(tree.parent >= 0, tree.parent, tree.root)
    levels = max(1, int(np.ceil(np.log2(p))) + 1)
    up = [parent]
    for _ in range(levels - 1):
        up.append(up[-1][up[-1]])
    depth = tree.depth

    def lca(a, b):
        a, b = a.copy(), b.copy()
        swap = depth[a] < depth[b]
        a[swap], b[swap] = b[swap], a[swap]
        diff = depth[a] - depth[b]
        for j in range(levels):
            m = ((diff >> j) & 1).astype(bool)
            a[m] = up[j][a[m]]
        same = a == b
        for j in reversed(range(levels)):
            ua, ub = up[j][a], up[j][b]
            m = (ua != ub) & ~same
            a[m], b[m] = ua[m], ub[m]
        return np.where(same, a, parent[a])

    order = np.lexsort((tree.tin[rank_of], key_of))
    k, r = key_of[order], rank_of[order]
    val = np.bincount(r, minlength=p).astype(np.int64)
    nxt = np.flatnonzero(k[1:] == k[:-1])
    val -= np.bincount(lca(r[nxt], r[nxt + 1]), minlength=p)
    first = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    last = np.r_[first[1:], k.size] - 1
    val -= np.bincount(lca(r[first], r[last]), minlength=p)
    on_edge = val.copy()                       # subtree sums, children before parents
    for v in np.argsort(tree.tin)[::-1].tolist():
        if tree.parent[v] >= 0:
            on_edge[tree.parent[v]] += on_edge[v]
    sends = np.where(tree.parent >= 0, on_edge, 0)          # up to the parent
    np.add.at(sends, tree.parent[tree.parent >= 0], on_edge[tree.parent >= 0])   # down to children
    return sends


def planner_curves(rank_counts, pairs_per_rank: int = 40, n_words: int = 5000, seed: int = 0) -> dict:
    """Mean and max bytes per rank per iteration vs ranks, corpus growing with the ranks."""
    from ..datasets.corpus import synthetic_parallel
    from ..io.corpus import read_parallel
    from ..comm.serial import SerialComm
    import tempfile
    from pathlib import Path
    res = {"ranks": [], "pairs_per_rank": pairs_per_rank, "topologies": list(TOPOLOGIES),
           "mean": {t: [] for t in TOPOLOGIES}, "max": {t: [] for t in TOPOLOGIES}}
    for p in sorted(rank_counts):
        sp = synthetic_parallel(p * pairs_per_rank, n_words=n_words, seed=seed)
        with tempfile.TemporaryDirectory() as tmp:
            e, f = Path(tmp) / "c.e", Path(tmp) / "c.f"
            sp.write_two_files(e, f)
            corpus = read_parallel(SerialComm(), e, f)
        keys = simulated_stat_keys(corpus, p)
        b = sent_bytes(keys, KeySpace(corpus.n_src, corpus.n_tgt))
        res["ranks"].append(p)
        for t in TOPOLOGIES:
            res["mean"][t].append(float(b[t].mean()))
            res["max"][t].append(float(b[t].max()))
    return res
