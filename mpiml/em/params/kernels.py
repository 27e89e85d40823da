"""Numba kernels that build one rank's IBM1 parameter set and its indices.

Word by word over a counting sort of the source tokens (:func:`source_occurrences`,
read through :func:`_occurrence_range` / :func:`_occurrence_pair`, which the
E-step kernels of :mod:`mpiml.em.kernels` share), the parameters of each
source word are its pairs' distinct target words, sorted (:func:`local_params`).
Layout and slot order as in :mod:`mpiml.em.kernels`.  Kernels take and
return numpy arrays and scalars only.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _occurrence_range(s, n, occ_ptr):
    """The occurrences of source word ``s``: ``range(lo, hi)`` over
    ``occ_pair``, or, for NULL (``s == 0``, in every pair and not stored),
    over the ``n`` pairs themselves."""
    if s == 0:
        return 0, n
    return occ_ptr[s], occ_ptr[s + 1]


@njit(cache=True, inline="always")
def _occurrence_pair(o, s, occ_pair):
    """The pair of occurrence ``o`` of word ``s`` (see :func:`_occurrence_range`)."""
    return o if s == 0 else occ_pair[o]


@njit(cache=True, inline="always")
def bucket_ptr(labels, n_buckets):
    """The bucket offsets of a counting sort: ``ptr`` of length ``n_buckets + 1``
    with the entries labelled ``b`` (0 <= b < n_buckets) at ``ptr[b]:ptr[b+1]``."""
    ptr = np.zeros(n_buckets + 1, dtype=np.int64)
    for x in range(labels.shape[0]):
        ptr[labels[x] + 1] += 1
    for b in range(n_buckets):
        ptr[b + 1] += ptr[b]
    return ptr


@njit(cache=True)
def token_pair_ptr(src_ptr, tgt_ptr, null):
    """Offsets of each pair's token-pair block, length ``n_pairs + 1``."""
    n = src_ptr.shape[0] - 1
    out = np.empty(n + 1, dtype=np.int64)
    out[0] = 0
    for p in range(n):
        width = src_ptr[p + 1] - src_ptr[p] + null
        out[p + 1] = out[p] + width * (tgt_ptr[p + 1] - tgt_ptr[p])
    return out


@njit(cache=True)
def source_occurrences(src, src_ptr, n_src):
    """Counting sort of the source tokens by word.

    Returns ``(occ_ptr, occ_pair, occ_pos)``: CSR over word ids; the
    occurrences of word s are ``occ_ptr[s]:occ_ptr[s+1]``, in pair order and
    within a pair by position; ``occ_pos`` is the 0-based position in the pair.
    """
    n = src_ptr.shape[0] - 1
    occ_ptr = bucket_ptr(src, n_src)
    fill = occ_ptr[:-1].copy()
    occ_pair = np.empty(src.shape[0], dtype=np.int32)
    occ_pos = np.empty(src.shape[0], dtype=np.int32)
    for p in range(n):
        for x in range(src_ptr[p], src_ptr[p + 1]):
            s = src[x]
            occ_pair[fill[s]] = p
            occ_pos[fill[s]] = x - src_ptr[p]
            fill[s] += 1
    return occ_ptr, occ_pair, occ_pos


@njit(cache=True)
def pair_targets(tgt, tgt_ptr, n_tgt):
    """The distinct target words of each pair, in order of first appearance.

    Returns ``(tu, uptr)`` (CSR, ``tu`` of ``tgt``'s dtype): a word repeated
    in a sentence adds nothing to a parameter set, so the parameter build
    reads these instead of every target token (11% fewer at 300k pairs of
    text-like data).  A stamp per target word, linear in the target tokens.
    """
    n = tgt_ptr.shape[0] - 1
    stamp = np.full(n_tgt, -1, dtype=np.int32)
    uptr = np.empty(n + 1, dtype=np.int64)
    tu = np.empty(tgt.shape[0], dtype=tgt.dtype)
    w = 0
    uptr[0] = 0
    for p in range(n):
        for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
            t = tgt[j]
            if stamp[t] != p:
                stamp[t] = p
                tu[w] = t
                w += 1
        uptr[p + 1] = w
    return tu[:w], uptr


@njit(cache=True)
def param_bound(occ_ptr, occ_pair, tgt_ptr, n_tgt, null):
    """An upper bound on the number of parameters: per source word, the
    smaller of the vocabulary and the target tokens of its pairs (each pair
    counted once; ``tgt_ptr`` may be the distinct targets' :func:`pair_targets`)."""
    n_src = occ_ptr.shape[0] - 1
    total = min(n_tgt, tgt_ptr[tgt_ptr.shape[0] - 1]) if null else 0
    for s in range(1, n_src):
        c = 0
        last = -1
        for o in range(occ_ptr[s], occ_ptr[s + 1]):
            p = occ_pair[o]
            if p != last:
                c += tgt_ptr[p + 1] - tgt_ptr[p]
            last = p
        total += min(c, n_tgt)
    return total


# de Bruijn sequence B(2, 6): for x a power of two, (x * _DEBRUIJN) >> 58 is
# distinct for each of the 64 exponents, so a 64-entry table gives the index
# of a word's lowest set bit in a multiply and a load.
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)


def _debruijn_table():
    tab = np.zeros(64, dtype=np.int64)
    for i in range(64):
        tab[((int(_DEBRUIJN) << i) & (2 ** 64 - 1)) >> 58] = i
    return tab


_BIT_INDEX = _debruijn_table()


@njit(cache=True, inline="always")
def _lowest_bit(x):
    """(index of the lowest set bit of the non-zero uint64 ``x``, that bit)."""
    low = x & (~x + np.uint64(1))
    return _BIT_INDEX[(low * _DEBRUIJN) >> np.uint64(58)], low


@njit(cache=True)
def _word_targets(lo, hi, s, n, occ_pair, tu, uptr, bits, summary, scratch, out, at):
    """Write the distinct targets of source word ``s``'s pairs, ascending,
    to ``out[at:]``; returns how many.

    A bit per target word (``bits``, n_tgt / 8 bytes: 7 KiB for 58k words,
    inside the L1 cache) marks the targets seen; the marking is branch-free
    (every target is appended to ``scratch``, the count grows only for a new
    one).  A second level (``summary``, a bit per word of ``bits``) lists
    the non-zero words, so reading the set out in ascending order costs its
    size plus n_tgt / 4096, with no sort; both levels are zero again after.
    A pair holding ``s`` twice is visited once (its occurrences are adjacent).
    """
    one = np.uint64(1)
    c = 0
    last = -1
    for o in range(lo, hi):
        p = _occurrence_pair(o, s, occ_pair)
        if p == last:
            continue
        last = p
        for j in range(uptr[p], uptr[p + 1]):
            t = np.int64(tu[j])
            w = t >> 6
            m = one << np.uint64(t & 63)
            b = bits[w]
            scratch[c] = t
            c += (b & m) == 0
            bits[w] = b | m
    for x in range(c):
        w = np.int64(scratch[x]) >> 6
        summary[w >> 6] |= one << np.uint64(w & 63)
    for q in range(summary.shape[0]):
        sb = summary[q]
        if sb == 0:
            continue
        summary[q] = 0
        while sb:
            k, low = _lowest_bit(sb)
            sb ^= low
            w = q * 64 + k
            b = bits[w]
            bits[w] = 0
            base = w * 64
            while b:
                k, low = _lowest_bit(b)
                b ^= low
                out[at] = base + k
                at += 1
    return c


@njit(cache=True)
def local_params(src_ptr, tgt, tgt_ptr, n_tgt, null, occ_ptr, occ_pair, tgt_of, tp_ptr,
                 with_idx, limit, tu, uptr):
    """A rank's parameter set and (``with_idx``) the token-pair index.

    Fills ``tgt_of`` (capacity from :func:`param_bound`) and returns
    ``(src_words, seg_ptr, n_params, idx)``: the source words present
    (sorted, NULL = 0 first when ``null``), the runs ``seg_ptr`` of their
    parameters, how many parameters there are, and for every token pair
    (layout of the module docstring) the position of its parameter (an empty
    array without ``with_idx``).  ``n_params`` is -1 when the parameters
    would not fit below ``limit`` (int32 positions); nothing is indexed then.

    Word by word, the pairs containing it are visited through the counting
    sort, reading each pair's distinct targets ``tu`` / ``uptr``
    (:func:`pair_targets`); :func:`_word_targets` lists them sorted, so the
    work is linear in the (word, pair, distinct target) triples.  Visiting
    the words in id order assigns each pair's slots in slot order (a counter
    per pair), and a slot's targets are contiguous in ``idx``.
    """
    n = tgt_ptr.shape[0] - 1
    n_src = occ_ptr.shape[0] - 1
    bits = np.zeros((n_tgt + 63) // 64, dtype=np.uint64)
    summary = np.zeros((bits.shape[0] + 63) // 64, dtype=np.uint64)
    # one more than the distinct targets: the branch-free marking writes
    # the next slot even when every target is already in
    scratch = np.empty(n_tgt + 1, dtype=np.int32)
    pos_of = np.empty(n_tgt if with_idx else 0, dtype=np.int32)
    src_words = np.empty(n_src, dtype=np.int64)
    seg_ptr = np.zeros(n_src + 1, dtype=np.int64)
    idx = np.empty(tp_ptr[n] if with_idx else 0, dtype=np.int32)
    slot = np.full(n if with_idx else 0, null, dtype=np.int32)
    g = 0
    for s in range(n_src):
        if s == 0 and not null:
            continue
        lo, hi = _occurrence_range(s, n, occ_ptr)
        a = seg_ptr[g]
        # at most n_tgt targets are written past a: below the capacity, which
        # param_bound sized with min(n_tgt, .) per word
        c = _word_targets(lo, hi, s, n, occ_pair, tu, uptr, bits, summary, scratch, tgt_of, a)
        if c == 0:
            continue
        b = a + c
        if b > limit:
            return src_words[:0].copy(), seg_ptr[:1].copy(), -1, idx[:0].copy()
        src_words[g] = s
        seg_ptr[g + 1] = b
        g += 1
        if not with_idx:
            continue
        for x in range(a, b):
            pos_of[tgt_of[x]] = x
        for o in range(lo, hi):
            p = _occurrence_pair(o, s, occ_pair)
            lt = tgt_ptr[p + 1] - tgt_ptr[p]
            if s == 0:
                out = tp_ptr[p]
            else:
                out = tp_ptr[p] + slot[p] * lt
                slot[p] += 1
            for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
                idx[out] = pos_of[tgt[j]]
                out += 1
    return src_words[:g].copy(), seg_ptr[:g + 1].copy(), seg_ptr[g], idx
