"""Statistic keys of IBM1 and which ranks hold them (pure functions).

Key space: a parameter (s, t) has the int64 key ``s * n_tgt + t``; the total
of source word s has the key ``n_src * n_tgt + s``, above every parameter
key, so both kinds of statistic travel in one sorted key list.  A rank's
statistics are the parameters of its own sentence pairs and their source
totals (Wolfe, Haghighi & Klein, ICML 2008).

:class:`Holders` lists, for every key, the ranks holding it; the C-step plans
(:mod:`mpiml.em.plan`) and the junction tree's edge weights |K_i & K_j|
(:func:`intersection_matrix`) are computed from it.  Every value the C-step
sends is one float64 (:data:`VALUE_BYTES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import kernels

VALUE_BYTES = 8


class KeySpace:
    """Integer keys of IBM1 statistics: parameters (s, t) and totals s."""

    def __init__(self, n_src: int, n_tgt: int):
        self.n_src = int(n_src)
        self.n_tgt = int(n_tgt)
        self.n_param = self.n_src * self.n_tgt
        if self.n_param + self.n_src >= 2 ** 62:
            raise ValueError("vocabulary too large for int64 statistic keys")

    def param_key(self, s, t):
        return np.asarray(s, dtype=np.int64) * self.n_tgt + np.asarray(t, dtype=np.int64)

    def total_key(self, s):
        return self.n_param + np.asarray(s, dtype=np.int64)

    def is_total(self, keys) -> np.ndarray:
        return np.asarray(keys) >= self.n_param

    def source_of(self, keys) -> np.ndarray:
        """Source word of each key (parameter or total)."""
        k = np.asarray(keys, dtype=np.int64)
        return np.where(k >= self.n_param, k - self.n_param, k // self.n_tgt)

    def __eq__(self, other):
        return isinstance(other, KeySpace) and (self.n_src, self.n_tgt) == (other.n_src, other.n_tgt)

    def __repr__(self):
        return f"KeySpace(n_src={self.n_src}, n_tgt={self.n_tgt})"


# ------------------------------------------------------------------ holders
@dataclass
class Holders:
    """For each unique key (sorted), the sorted ranks holding it (CSR)."""

    keys: np.ndarray
    ptr: np.ndarray
    ranks: np.ndarray

    @cached_property
    def counts(self) -> np.ndarray:
        return np.diff(self.ptr)

    def shared(self) -> "Holders":
        """The keys held by two or more ranks (all the C-step messages are about)."""
        cnt = np.diff(self.ptr)
        sel = np.flatnonzero(cnt >= 2)
        cnt = cnt[sel]
        ranks = self.ranks[_segment_indices(self.ptr[sel], cnt)]
        ptr = np.zeros(sel.size + 1, np.int64)
        np.cumsum(cnt, out=ptr[1:])
        return Holders(self.keys[sel], ptr, ranks)


def holders_from_pairs(keys, ranks) -> Holders:
    """Holders from parallel arrays of (key, holding rank) entries."""
    keys = np.asarray(keys, dtype=np.int64)
    ranks = np.asarray(ranks, dtype=np.int64)
    order = np.lexsort((ranks, keys))
    k, r = keys[order], ranks[order]
    if k.size:
        fresh = np.r_[True, (k[1:] != k[:-1]) | (r[1:] != r[:-1])]
        k, r = k[fresh], r[fresh]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if k.size else np.empty(0, np.int64)
    return Holders(k[starts], np.append(starts, k.size).astype(np.int64), r)


# Up to this many key sets, holder lists come from a k-way merge
# (kernels.merge_key_sets: linear in the entries times the sets, no combined
# array and no sort); more take the sort of combined keys.
MERGE_SETS = 8


def joined(arrays, dtype=None):
    """``(one array, offsets)`` of 1-D arrays one after another: the array
    they are adjacent views of, when they are (``alltoallv`` returns slices
    of its receive buffer), so nothing is copied; else a concatenation."""
    arrays = [np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype) for a in arrays]
    offs = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum([a.shape[0] for a in arrays], out=offs[1:])
    dt = arrays[0].dtype if arrays else np.dtype(dtype or np.int64)
    # (numpy may point an empty slice anywhere in its base: only the
    # non-empty arrays must be adjacent)
    full = [a for a in arrays if a.size]
    base = full[0].base if full else None
    if (isinstance(base, np.ndarray) and base.ndim == 1 and base.dtype == dt
            and base.flags.c_contiguous
            and all(a.dtype == dt and a.ndim == 1 and a.flags.c_contiguous for a in arrays)
            and all(a.ctypes.data + a.nbytes == b.ctypes.data for a, b in zip(full[:-1], full[1:]))):
        start, rem = divmod(full[0].ctypes.data - base.ctypes.data, dt.itemsize)
        if rem == 0 and 0 <= start and start + offs[-1] <= base.shape[0]:
            return base[start:start + offs[-1]], offs
    if not arrays:
        return np.empty(0, dt), offs
    return np.concatenate(arrays), offs


def _merged_holders(sets, shared_only: bool, n: int):
    """Holders (and the number of distinct keys) of a few sorted, distinct
    key sets by a k-way merge (:func:`kernels.merge_key_sets`), read in place
    when they lie back to back.  The outputs are sized by an upper bound with
    ``np.empty``: pages never written are never resident."""
    buf, offs = joined(sets, np.int64)
    total = int(offs[-1])
    bound = total // 2 if shared_only else total
    keys = np.empty(bound, dtype=np.int64)
    ptr = np.empty(bound + 1, dtype=np.int64)
    ranks = np.empty(total, dtype=rank_dtype(n))
    g, e, seen = kernels.merge_key_sets(buf, offs, shared_only, keys, ptr, ranks)
    return Holders(keys[:g], ptr[:g + 1], ranks[:e]), int(seen)


def shared_holders_from_key_sets(key_sets):
    """``(holders of the keys held by two or more sets, number of distinct
    keys)`` from one sorted array of distinct keys per set: what
    ``holders_from_key_sets(key_sets).shared()`` gives, without building the
    (much larger) lists of the keys held once when there are few sets."""
    sets = [np.asarray(k, np.int64) for k in key_sets]
    n = len(sets)
    top = max((int(k[-1]) for k in sets if k.size), default=0)
    if (1 < n <= MERGE_SETS and top < np.iinfo(np.int64).max
            and all(k.size < 2 or bool(np.all(k[1:] > k[:-1])) for k in sets)):
        return _merged_holders(sets, True, n)
    h = holders_from_key_sets(sets)
    return h.shared(), int(h.keys.size)


def rank_dtype(size: int):
    """Smallest integer dtype that holds the ranks 0..size (int16 owners sort
    by numpy's radix sort; halving the holder lists is what matters at scale)."""
    return np.int16 if size < 2 ** 15 - 1 else np.int32


def holders_from_key_sets(key_sets, consume: bool = False) -> Holders:
    """Holders from one sorted array of distinct keys per rank.

    Sorting the combined keys ``key * n + rank`` (n = number of sets) in
    place orders the entries by key, then rank, with one int64 array of the
    entries (and for a few sets the merge's buffer) as the only large
    temporaries (an argsort and two gathers would need three more).  Keys too large to combine, or
    sets that are not sorted and distinct, take the lexsort path.
    ``ranks`` is int16/int32 (:func:`rank_dtype`).  With ``consume``, the
    list ``key_sets`` is emptied once its keys are copied, so buffers only it
    refers to are freed before the sort.
    """
    sets = [np.asarray(k, np.int64) for k in key_sets]
    n = len(sets)
    top = max((int(k[-1]) for k in sets if k.size), default=0)
    low = min((int(k[0]) for k in sets if k.size), default=0)
    if (low < 0 or top >= (2 ** 63 - 1) // max(n, 1) - 1
            or not all(k.size < 2 or bool(np.all(k[1:] > k[:-1])) for k in sets)):
        ranks = [np.full(len(ks), r, dtype=np.int64) for r, ks in enumerate(sets)]
        h = holders_from_pairs(np.concatenate(sets or [np.empty(0, np.int64)]),
                               np.concatenate(ranks or [np.empty(0, np.int64)]))
        return Holders(h.keys, h.ptr, h.ranks.astype(rank_dtype(n)))
    if 1 < n <= MERGE_SETS:
        if consume:
            key_sets.clear()
        return _merged_holders(sets, False, n)[0]
    comb = np.empty(sum(k.size for k in sets), np.int64)
    at = 0
    for r, k in enumerate(sets):
        np.multiply(k, n, out=comb[at:at + k.size])
        comb[at:at + k.size] += r
        at += k.size
    del sets, k
    if consume:
        key_sets.clear()
    if comb.size == 0:
        return Holders(comb, np.zeros(1, np.int64), np.empty(0, rank_dtype(n)))
    # The values are distinct, so any sort order is the same.  A few sorted
    # runs merge fastest (timsort, buffer of half the entries); many sort
    # faster with numpy's in-place quicksort, which needs no buffer.
    if 1 < n <= 4:
        comb.sort(kind="stable")
    elif n > 4:
        comb.sort()
    ranks = np.empty(comb.size, rank_dtype(n))
    np.remainder(comb, n, out=ranks, casting="unsafe")
    np.floor_divide(comb, n, out=comb)      # the keys, each repeated per holder
    fresh = np.empty(comb.size + 1, bool)     # key starts, and the end
    fresh[0] = fresh[-1] = True
    np.not_equal(comb[1:], comb[:-1], out=fresh[1:-1])
    ptr = np.flatnonzero(fresh).astype(np.int64, copy=False)
    del fresh
    keys = comb[ptr[:-1]]
    del comb
    return Holders(keys, ptr, ranks)


def shared_pairs(h: Holders):
    """(key position, a, b) for every ordered pair a != b holding the same key
    (positions int64, ranks in the holders' dtype)."""
    cnt = h.counts
    out_k, out_a, out_b = [], [], []
    for c in np.unique(cnt[cnt >= 2]).tolist():
        sel = np.flatnonzero(cnt == c)
        mat = h.ranks[h.ptr[sel][:, None] + np.arange(c)]
        ia, ib = np.nonzero(~np.eye(c, dtype=bool))
        out_k.append(np.repeat(sel, ia.size))
        out_a.append(mat[:, ia].ravel())
        out_b.append(mat[:, ib].ravel())
    if not out_k:
        e = np.empty(0, np.int64)
        return e, e.astype(h.ranks.dtype), e.astype(h.ranks.dtype)
    return np.concatenate(out_k), np.concatenate(out_a), np.concatenate(out_b)


_HEAVY_ROWS = 1 << 14     # keys per dense product chunk (counts stay exact in float32)


def intersection_matrix(h: Holders, size: int, diagonal=None) -> np.ndarray:
    """|K_i & K_j| for every pair of ranks (int64, size x size; diagonal |K_i|).

    ``diagonal``: the number of keys each rank holds, when ``h`` lists only
    the shared keys (:func:`shared_holders_from_key_sets`).

    This is the Gram matrix B^T B of the key x rank incidence matrix B.  Keys
    held by few ranks add their holder pairs in a numba loop (cost: the sum
    over keys of holders squared); keys held by many go through dense
    float32 products (BLAS) in chunks of at most 2**14 keys, where a pair
    loop would approach size**2 per key; chunk sums stay below 2**24, so
    they are exact in float32.
    """
    cnt = h.counts
    heavy = cnt > max(32, size // 16)
    m = kernels.pair_counts(h.ptr, h.ranks, (cnt >= 2) & ~heavy, size)
    m[np.diag_indices(size)] = (np.bincount(h.ranks, minlength=size) if diagonal is None
                                else np.asarray(diagonal, np.int64))
    rows = np.flatnonzero(heavy)
    for a in range(0, rows.size, _HEAVY_ROWS):
        sel = rows[a:a + _HEAVY_ROWS]
        d = np.zeros((sel.size, size), np.float32)
        ent = _segment_indices(h.ptr[sel], cnt[sel])
        d[np.repeat(np.arange(sel.size), cnt[sel]), h.ranks[ent]] = 1.0
        g = (d.T @ d).astype(np.int64)
        g[np.diag_indices(size)] = 0
        m += g
    return m


def _segment_indices(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(starts[i], starts[i] + lengths[i])."""
    total = int(lengths.sum())
    offs = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return np.arange(total) + offs

