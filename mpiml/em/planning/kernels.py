"""Numba kernels of the distributed C-step planner (:mod:`mpiml.em.distplan`):
grouping by owner, positions by a merge walk, holder lists by a k-way merge,
and the packed form in which keys travel to their shard owner.  Kernels take
and return numpy arrays and scalars only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..params.kernels import bucket_ptr


@njit(cache=True)
def group_by_owner(values, owner, size):
    """``values`` grouped by ``owner`` (0..size-1), stable: returns ``(out,
    cuts)``, the entries for rank q being ``out[cuts[q]:cuts[q+1]]``.  A
    counting sort: one copy of ``values`` and no index array (an argsort
    would add 8 bytes per entry and a gather)."""
    cuts = bucket_ptr(owner, size)
    fill = cuts[:-1].copy()
    out = np.empty_like(values)
    for i in range(owner.shape[0]):
        q = owner[i]
        out[fill[q]] = values[i]
        fill[q] += 1
    return out, cuts


@njit(cache=True)
def sorted_positions(work, keys):
    """``np.searchsorted(work, keys)`` for ascending ``keys`` by one merge
    walk (linear instead of a binary search per key); -1 in ``out[0]`` and
    nothing else written if ``keys`` is not ascending."""
    out = np.empty(keys.shape[0], dtype=np.int64)
    j = 0
    n = work.shape[0]
    for i in range(keys.shape[0]):
        k = keys[i]
        if i and k < keys[i - 1]:
            out[0] = -1
            return out
        while j < n and work[j] < k:
            j += 1
        out[i] = j
    return out


@njit(cache=True)
def merge_key_sets(buf, offs, shared_only, keys, ptr, ranks):
    """k-way merge of sorted, distinct int64 key sets (set r is
    ``buf[offs[r]:offs[r+1]]``) into holder lists: for each key ascending,
    the ranks holding it ascending.  With ``shared_only`` only keys held by
    two or more ranks are written.  Returns (keys written, rank entries
    written, distinct keys seen).  Cost: the number of sets per entry (heads
    compared linearly; meant for a few sets)."""
    n = offs.shape[0] - 1
    head = offs[:-1].copy()
    big = np.iinfo(np.int64).max
    # each set's current key, the maximum once it is exhausted (a key equal
    # to the int64 maximum is refused by the caller)
    cur = np.empty(n, dtype=np.int64)
    for r in range(n):
        cur[r] = buf[head[r]] if head[r] < offs[r + 1] else big
    g = 0
    e = 0
    seen = 0
    ptr[0] = 0
    while True:
        k = cur[0]
        for r in range(1, n):
            k = min(k, cur[r])
        if k == big:
            break
        seen += 1
        c = 0
        for r in range(n):
            if cur[r] == k:
                ranks[e + c] = r
                c += 1
                h = head[r] + 1
                head[r] = h
                cur[r] = buf[h] if h < offs[r + 1] else big
        if c >= 2 or not shared_only:
            keys[g] = k
            g += 1
            e += c
            ptr[g] = e
    return g, e, seen


@njit(cache=True)
def pack_keys_by_owner(keys, word_owner, n_tgt, n_param, size, targets):
    """Sorted statistic keys grouped by the owner of their source word, in
    a compact form: per owner, the parameters as runs ``(word, count)`` and
    their target ids (``targets``, uint16 when the vocabulary fits: 2 bytes
    per key instead of 8), and the source totals as word ids.

    ``keys``: ascending, parameters ``s * n_tgt + t`` then totals ``n_param
    + s``.  Fills ``targets`` (one per parameter) and returns ``(runs,
    run_cuts, tgt_cuts, totals, tot_cuts)``; ``runs`` is int64 ``(word,
    count)`` flattened.  :func:`unpack_keys` inverts it.
    """
    n_runs = np.zeros(size + 1, dtype=np.int64)
    n_t = np.zeros(size + 1, dtype=np.int64)
    n_tot = np.zeros(size + 1, dtype=np.int64)
    last = -1
    for i in range(keys.shape[0]):
        k = keys[i]
        if k >= n_param:
            n_tot[word_owner[k - n_param] + 1] += 1
            continue
        s = k // n_tgt
        q = word_owner[s]
        n_t[q + 1] += 1
        if s != last:
            n_runs[q + 1] += 2
            last = s
    for q in range(size):
        n_runs[q + 1] += n_runs[q]
        n_t[q + 1] += n_t[q]
        n_tot[q + 1] += n_tot[q]
    runs = np.empty(n_runs[size], dtype=np.int64)
    totals = np.empty(n_tot[size], dtype=np.int64)
    fr = n_runs[:-1].copy()
    ft = n_t[:-1].copy()
    fo = n_tot[:-1].copy()
    last = -1
    at = -1
    for i in range(keys.shape[0]):
        k = keys[i]
        if k >= n_param:
            s = k - n_param
            q = word_owner[s]
            totals[fo[q]] = s
            fo[q] += 1
            continue
        s = k // n_tgt
        q = word_owner[s]
        targets[ft[q]] = k - s * n_tgt
        ft[q] += 1
        if s != last:
            at = fr[q]
            runs[at] = s
            runs[at + 1] = 0
            fr[q] += 2
            last = s
        runs[at + 1] += 1
    return runs, n_runs, n_t, totals, n_tot


@njit(cache=True)
def unpack_keys(runs, targets, totals, n_tgt, n_param, out):
    """The sorted keys of one :func:`pack_keys_by_owner` message, written to
    ``out`` (length: targets + totals)."""
    w = 0
    at = 0
    for r in range(0, runs.shape[0], 2):
        base = runs[r] * n_tgt
        for x in range(runs[r + 1]):
            out[w] = base + targets[at]
            at += 1
            w += 1
    for x in range(totals.shape[0]):
        out[w] = n_param + totals[x]
        w += 1
