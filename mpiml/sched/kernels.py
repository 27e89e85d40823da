"""Numba kernel of the dependency check (arrays in, arrays out)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def greedy_select(cands, indptr, indices, stamp, tag, limit, out):
    """Keep candidates in order unless they conflict with a kept one.

    ``indptr``/``indices``: CSR conflict lists.  ``stamp``: scratch array of
    length n; entries equal to ``tag`` mark parameters blocked in this call
    (the caller passes a fresh tag each call, so the array is never cleared
    and the result does not depend on its earlier contents).  Writes the kept
    parameters to ``out[:n_kept]``; stops once ``limit`` are kept.  Returns
    ``(n_kept, n_rejected, n_examined)``.
    """
    kept = 0
    rejected = 0
    examined = 0
    for t in range(cands.size):
        if kept >= limit:
            break
        j = cands[t]
        examined += 1
        if stamp[j] == tag:
            rejected += 1
            continue
        out[kept] = j
        kept += 1
        stamp[j] = tag
        for q in range(indptr[j], indptr[j + 1]):
            stamp[indices[q]] = tag
    return kept, rejected, examined
