"""Sort rows by owner rank, cut, ``alltoallv``: the one shuffle every
distributed reader and planner needs, written once.

Pure bookkeeping around ``comm.alltoallv`` (no MPI here): entries keep their
relative order within each destination (stable sort), and what a rank
receives is concatenated in source-rank order, so results are the same on
every run and equal to a serial replay.
"""

from __future__ import annotations

import numpy as np


def owner_order(owner, size: int):
    """``(order, cuts)``: ``order`` sorts entries by owner (stable); the entries
    for rank q are ``order[cuts[q]:cuts[q + 1]]``."""
    owner = np.asarray(owner)
    # keep a small integer dtype (no int64 copy of a large owner array;
    # numpy's stable sort of 8/16-bit integers is a radix sort)
    if owner.dtype.kind not in "iu" or size + 1 > np.iinfo(owner.dtype).max:
        owner = owner.astype(np.int64)
    order = np.argsort(owner, kind="stable")
    return order, np.searchsorted(owner[order], np.arange(size + 1, dtype=owner.dtype))


def split_by_owner(owner, size: int, *arrays) -> list[list[np.ndarray]]:
    """Group the entries of each array by ``owner`` (stable): ``result[a][dest]``."""
    order, cuts = owner_order(owner, size)
    return [[np.asarray(a)[order[cuts[q]:cuts[q + 1]]] for q in range(size)] for a in arrays]


def shuffle_by_owner(comm, owner, *arrays, kind: str = "shuffle", per_source: bool = False):
    """Collective.  Send entry i of every array to rank ``owner[i]``.

    Arrays may have trailing dimensions (kept).  Returns, per array, what
    this rank received: one array in source-rank order, or (``per_source``)
    the list of pieces, one per source rank.
    """
    order, cuts = owner_order(owner, comm.size)
    out = []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        tail = a.shape[1:]
        s = a[order]
        if i == len(arrays) - 1:
            del order       # not needed while the last array is in flight
        got = comm.alltoallv([s[cuts[q]:cuts[q + 1]].reshape(-1) for q in range(comm.size)], kind=kind)
        got = [g.reshape((-1,) + tail) for g in got]
        if per_source:
            out.append(got)
        else:
            out.append(np.concatenate(got) if got else np.empty((0,) + tail, a.dtype))
    return out


def ask_owners(comm, owner, queries, answer, kind: str = "ask"):
    """Collective.  Send each query to its owner rank, which answers with
    ``answer(queries it received from one source) -> one value per query``;
    returns the answers in the order of ``queries``."""
    order, cuts = owner_order(owner, comm.size)
    q = np.asarray(queries)[order]
    asked = comm.alltoallv([q[cuts[r]:cuts[r + 1]] for r in range(comm.size)], kind=kind)
    got = comm.alltoallv([np.asarray(answer(a)) for a in asked], kind=kind)
    flat = np.concatenate(got) if got else np.empty(0)
    out = np.empty(q.size, dtype=flat.dtype)
    out[order] = flat
    return out
