"""Small array utilities shared by the algorithms (pure numpy)."""

from __future__ import annotations

import numpy as np


def unique_sorted(x) -> np.ndarray:
    """Sorted distinct values of a 1-D array.

    Same result as ``np.unique(x)``, but by sort-and-compare: with numpy 2.4
    here, ``np.unique``/``np.union1d`` without ``return_*`` options take a
    hash-based path measured at 7.5 s for 5M int64 keys, against 0.04 s for
    this (the EM planner's setup was dominated by it).
    """
    s = np.sort(np.asarray(x).ravel())
    if s.size == 0:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def union_sorted(a, b) -> np.ndarray:
    """Sorted union of two 1-D arrays (``np.union1d`` without the slow path)."""
    return unique_sorted(np.concatenate([np.asarray(a).ravel(), np.asarray(b).ravel()]))
