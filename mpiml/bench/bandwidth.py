"""C-step bytes per rank per iteration of every IBM1 topology at fixed data per
rank, for simulated rank counts up to thousands, without MPI (pure planning;
Wolfe, Haghighi & Klein 2008, the bandwidth comparison).

A statistic held by k ranks costs k (k - 1) messages in allpairs, so the
planner's message lists grow with k^2; here allpairs, mapreduce and allreduce
are counted from the holders directly, and only the junction tree is routed
(:func:`mpiml.em.plan.route_tree`, which touches each shared statistic once
per tree edge). The intersection weights come from a sparse product.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..em.ibm1 import KeySpace, simulated_stat_keys
from ..em.plan import VALUE_BYTES, RootedTree, holders_from_key_sets, route_tree, spanning_tree
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
    per = int(round(2 * (p - 1) / p * VALUE_BYTES * h.keys.size)) if p > 1 else 0
    out["allreduce"] = np.full(p, per)
    if p == 1:
        out["junction-tree"] = np.zeros(1)
        return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}
    # |K_i & K_j| as A A^T with A the (ranks x keys) incidence matrix
    a = sparse.csr_matrix((np.ones(h.ranks.size, np.int64), (h.ranks, kpos)), shape=(p, h.keys.size))
    w = (a @ a.T).toarray()
    tree = RootedTree.build(spanning_tree(w), p)
    msgs = route_tree(h, tree)
    out["junction-tree"] = VALUE_BYTES * np.bincount(msgs.src, minlength=p)
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


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
