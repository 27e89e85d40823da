"""The dependency structure SAP needs: which column pairs are correlated.

Two coordinates conflict when their (preprocessed) columns have
``|x_j . x_k| / (||x_j|| ||x_k||) >= rho`` (STRADS checks ``|x_j^T x_k| < rho``
on standardised columns; the cosine makes ``rho`` independent of scaling).

Computed once at start-up.  The column blocks travel around the ranks in
``size - 1`` point-to-point steps (step s: rank q sends its block to
``q + s`` and receives ``q - s``'s, mod size); each rank compares its own
columns with every block it sees, in chunks of ``CHUNK`` columns so memory
stays ``CHUNK x n_local_cols``.  Cost: ``n d^2 / size`` multiply-adds per
rank and ``(size - 1)`` blocks of ``8 n d / size`` bytes sent per rank
(dense).  The pairs found are gathered so every rank holds the same graph.
"""

from __future__ import annotations

import numpy as np

from ..partition import cyclic_indices
from ..sched import ConflictGraph

CHUNK = 256


def conflict_graph(comm, block, norms, rho: float) -> ConflictGraph:
    """Collective.  The conflict graph of ``block``'s (preprocessed) columns
    (:class:`mpiml.io.columns.ColumnBlock`; ``norms``: squared norms of the
    local columns)."""
    d, p = block.n_features, comm.size
    own_norm = np.sqrt(norms)
    pairs = []
    for s in range(p):
        src = (comm.rank - s) % p
        other_cols = cyclic_indices(d, p, src)
        other = _block_of(block) if s == 0 else _shift(comm, block, s, src, other_cols.size)
        other_norm = np.sqrt(_sq_norms(other)) if s else own_norm
        pairs.append(_pairs(block, other, own_norm, other_norm, other_cols, rho))
    mine = np.concatenate(pairs) if pairs else np.empty((0, 2), np.int64)
    allp = comm.allgather_array(mine, kind="lasso:conflicts")
    return ConflictGraph.from_pairs(d, np.concatenate(allp))


def _block_of(block):
    if block.sparse:
        return ("csc", block.indptr, block.indices, block.values)
    return ("dense", block.XT)


def _shift(comm, block, s, src, n_src):
    dst = (comm.rank + s) % comm.size
    n = block.n_rows
    if not block.sparse:
        got = comm.exchange({dst: block.XT.reshape(-1)}, {src: (n_src * n, np.float64)},
                            kind="lasso:conflicts")
        return ("dense", got[src].reshape(n_src, n))
    nnz = comm.allgather_obj(int(block.values.size), kind="lasso:conflicts")[src]
    ip = comm.exchange({dst: block.indptr}, {src: (n_src + 1, np.int64)}, kind="lasso:conflicts")[src]
    ix = comm.exchange({dst: block.indices}, {src: (nnz, np.int64)}, kind="lasso:conflicts")[src]
    vv = comm.exchange({dst: block.values}, {src: (nnz, np.float64)}, kind="lasso:conflicts")[src]
    return ("csc", ip, ix, vv)


def _sq_norms(b):
    if b[0] == "dense":
        return np.einsum("ij,ij->i", b[1], b[1])
    ip, vv = b[1], b[3]
    col = np.repeat(np.arange(ip.size - 1), np.diff(ip))
    return np.bincount(col, weights=vv * vv, minlength=ip.size - 1)


def _as_matrix(b, n):
    if b[0] == "dense":
        return b[1]
    from scipy.sparse import csr_matrix
    ip = b[1]
    return csr_matrix((b[3], b[2], ip), shape=(ip.size - 1, n))


def _pairs(block, other, own_norm, other_norm, other_cols, rho):
    n = block.n_rows
    A = _as_matrix(_block_of(block), n)
    B = _as_matrix(other, n)
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_b = np.where(other_norm > 0, 1.0 / other_norm, 0.0)
        for lo in range(0, block.n_local, CHUNK):
            hi = min(lo + CHUNK, block.n_local)
            G = A[lo:hi] @ B.T
            G = G.toarray() if hasattr(G, "toarray") else np.asarray(G)
            inv_a = np.where(own_norm[lo:hi] > 0, 1.0 / own_norm[lo:hi], 0.0)
            C = np.abs(G) * inv_a[:, None] * inv_b[None, :]
            a, b = np.nonzero(C >= rho)
            gj, gk = block.cols[lo + a], other_cols[b]
            keep = gj != gk
            out.append(np.stack([gj[keep], gk[keep]], axis=1))
    return np.concatenate(out) if out else np.empty((0, 2), np.int64)
