"""The dispatcher: which rank updates which of a round's parameters."""

from __future__ import annotations

import numpy as np


def by_owner(selected, owner, size: int) -> list[np.ndarray]:
    """Fixed ownership (the data of parameter j live on rank ``owner[j]``):
    the selected parameters of each rank, in the round's order."""
    sel = np.asarray(selected, dtype=np.int64)
    own = np.asarray(owner, dtype=np.int64)[sel]
    return [sel[own == r] for r in range(size)]


def balance(selected, cost, size: int) -> list[np.ndarray]:
    """Free placement: longest processing time first.  Parameters sorted by
    decreasing ``cost[j]`` (ties by position) go one by one to the rank with
    the least work so far (ties: lowest rank).  Deterministic, so every rank
    computes the same assignment."""
    sel = np.asarray(selected, dtype=np.int64)
    c = np.asarray(cost, dtype=np.float64)[sel]
    order = np.argsort(-c, kind="stable")
    load = np.zeros(size)
    parts: list[list[int]] = [[] for _ in range(size)]
    for t in order:
        r = int(np.argmin(load))
        parts[r].append(int(sel[t]))
        load[r] += c[t]
    return [np.asarray(p, dtype=np.int64) for p in parts]


def imbalance(parts, cost=None) -> float:
    """max / mean work over ranks (1.0 is perfect balance)."""
    if cost is None:
        loads = np.array([p.size for p in parts], dtype=np.float64)
    else:
        c = np.asarray(cost, dtype=np.float64)
        loads = np.array([c[p].sum() for p in parts])
    mean = loads.mean() if loads.size else 0.0
    return float(loads.max() / mean) if mean > 0 else 1.0
