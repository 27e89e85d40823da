"""Numba kernels for IBM Model 1 EM (Brown et al. 1993) as used by fully
distributed EM (Wolfe, Haghighi & Klein, ICML 2008).

Every kernel works on one rank's sentence pairs in CSR form:

* ``src[src_ptr[n]:src_ptr[n+1]]`` are the source word ids of pair ``n``
  (NULL, id 0, is *not* stored; it is implied when ``null`` is true),
* ``tgt[tgt_ptr[n]:tgt_ptr[n+1]]`` are its target word ids.

Parameters are stored per source word (CSR over the rank's source words
``src_words``): word ``g``'s parameters are ``seg_ptr[g]:seg_ptr[g+1]``,
``tgt_of[k]`` is the target word of parameter ``k``, sorted within a word,
so the parameters are in key order ``s * n_tgt + t``.  ``tgt_of`` may be
uint16 or int32 (numba compiles one version per type; only its values are
read, so both give the same bits).

Slot order.  The source slots of a pair are NULL first, then its source
tokens ordered by (word id, position).  Both E-steps add in this order, so
they give the same bits:

* the denominator of target token j is the sum over the slots in slot order;
* the count of parameter k is ``theta[k] * r[k]``, where ``r[k]`` sums
  ``1 / denominator`` over k's token pairs by pair, then slot, then target
  position.

:func:`estep` reads the *token-pair index* ``idx`` (pair ``n``'s block starts
at ``tp_ptr[n]``; slot ``i``, target position ``j`` is entry
``tp_ptr[n] + i * len_tgt + j``; 4 bytes per token pair).
:func:`estep_low_memory` stores no index: it walks the source words, scatters
a word's parameters into a dense array over the target vocabulary and visits
the pairs that contain the word (a counting sort of the source tokens,
``occ_ptr`` / ``occ_pair``), and it overwrites theta with the counts.

Kernels take and return numpy arrays and scalars only.
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
    occ_ptr = np.zeros(n_src + 1, dtype=np.int64)
    for x in range(src.shape[0]):
        occ_ptr[src[x] + 1] += 1
    for s in range(n_src):
        occ_ptr[s + 1] += occ_ptr[s]
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


@njit(cache=True)
def estep(theta, idx, src_ptr, tgt_ptr, null, counts):
    """IBM1 E-step: add expected counts into ``counts`` (aligned with theta).

    For each target token t_j the alignment posterior over the ``width``
    source slots is theta[s_i, t_j] / sum_i' theta[s_i', t_j]; summed over
    the token pairs of a parameter these are the paper's eta_st.  Additions
    in the order of the module docstring; ``counts`` must start at zero.

    Returns the log-likelihood sum_j log(sum_i theta[s_i, t_j] / width)
    under the *current* theta (uniform alignment prior 1/width, no length
    model), which EM never decreases.
    """
    n = src_ptr.shape[0] - 1
    ll = 0.0
    pos = 0
    max_lt = 0
    for p in range(n):
        max_lt = max(max_lt, tgt_ptr[p + 1] - tgt_ptr[p])
    # allocated once: an array reassigned inside the loop would make numba
    # count references in the loop
    # in theta's type: with a float32 theta each inverse is rounded once to
    # float32, as in estep_word_major_f32, and added to the float64 counts
    inv = np.empty(max_lt, dtype=theta.dtype)
    for p in range(n):
        width = src_ptr[p + 1] - src_ptr[p] + null
        lt = tgt_ptr[p + 1] - tgt_ptr[p]
        if width == 0 or lt == 0:
            pos += width * lt
            continue
        log_width = np.log(width)
        for j in range(lt):
            denom = 0.0
            for i in range(width):
                denom += theta[idx[pos + i * lt + j]]
            inv[j] = 1.0 / denom
            ll += np.log(denom) - log_width
        for i in range(width):
            for j in range(lt):
                counts[idx[pos]] += inv[j]
                pos += 1
    for k in range(counts.shape[0]):
        counts[k] *= theta[k]
    return ll


@njit(cache=True)
def estep_low_memory(theta, src_words, seg_ptr, tgt_of, occ_ptr, occ_pair, src_ptr, tgt,
                     tgt_ptr, null, n_tgt):
    """The E-step of :func:`estep` without a token-pair index, in place:
    ``theta`` (aligned with ``tgt_of``) is overwritten by the counts.

    Pass 1, word by word: scatter the word's theta into a dense array over
    the target vocabulary and add it to the denominator of every target
    token of every pair that contains the word.  Pass 2, word by word: sum
    ``1 / denominator`` per target word over the same pairs, then multiply
    the word's theta by it.  Extra memory: one float64 per target token and
    per target word.  Same bits as :func:`estep`: a pair's slots are visited
    in slot order (words ascending, occurrences by position), and ``r[k]``
    by pair, slot, target position.
    """
    n = tgt_ptr.shape[0] - 1
    denom = np.zeros(tgt.shape[0], dtype=np.float64)
    dense = np.zeros(n_tgt, dtype=np.float64)
    n_words = src_words.shape[0]
    for g in range(n_words):
        s = src_words[g]
        for k in range(seg_ptr[g], seg_ptr[g + 1]):
            dense[tgt_of[k]] = theta[k]
        lo, hi = _occurrence_range(s, n, occ_ptr)
        for o in range(lo, hi):
            p = _occurrence_pair(o, s, occ_pair)
            for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
                denom[j] += dense[tgt[j]]
    ll = 0.0
    for p in range(n):
        width = src_ptr[p + 1] - src_ptr[p] + null
        if width == 0:
            continue
        log_width = np.log(width)
        for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
            ll += np.log(denom[j]) - log_width
            denom[j] = 1.0 / denom[j]
    for g in range(n_words):
        s = src_words[g]
        for k in range(seg_ptr[g], seg_ptr[g + 1]):
            dense[tgt_of[k]] = 0.0
        lo, hi = _occurrence_range(s, n, occ_ptr)
        for o in range(lo, hi):
            p = _occurrence_pair(o, s, occ_pair)
            for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
                dense[tgt[j]] += denom[j]
        for k in range(seg_ptr[g], seg_ptr[g + 1]):
            theta[k] *= dense[tgt_of[k]]
    return ll


@njit(cache=True)
def estep_word_major_f32(theta, src_words, seg_ptr, tgt_of, occ_ptr, occ_pair, src_ptr, tgt,
                         tgt_ptr, null, n_tgt, chunk_tokens):
    """The word-major E-step for a float32 ``theta``, in place (float32 counts).

    Same visiting order as :func:`estep_low_memory`, but every long sum is
    float64 and rounded to float32 once: a target token's denominator is the
    float64 sum of its slots' theta (slot order), stored as the float32 of
    its inverse; a parameter's ``r[k]`` is the float64 sum of those float32
    inverses (pair, slot, target position), and its count is
    ``float32(theta[k] * r[k])``.  The log-likelihood is the float64 sum over
    tokens of ``log(denominator) - log(width)`` with the float64 denominators.

    A float64 denominator per target token would cost 8 bytes per token, so
    pass 1 runs over blocks of consecutive pairs of at most ``chunk_tokens``
    target tokens (or one longer pair): a float64 buffer of one block holds
    its denominators while every word with occurrences in the block adds to
    them (a cursor per word walks its pair-sorted occurrences).  A word's
    theta is scattered once per block it occurs in, so the work grows by
    about one scatter of theta per block.  Extra memory: 4 bytes per target
    token, 8 per token of one block, 8 per target word.
    """
    n = tgt_ptr.shape[0] - 1
    n_words = src_words.shape[0]
    n_tok = tgt.shape[0]
    inv = np.empty(n_tok, dtype=np.float32)
    longest = 0
    for p in range(n):
        longest = max(longest, tgt_ptr[p + 1] - tgt_ptr[p])
    acc = np.empty(max(min(chunk_tokens, n_tok), longest), dtype=np.float64)
    dense = np.zeros(n_tgt, dtype=np.float64)
    cursor = np.empty(n_words, dtype=np.int64)
    for g in range(n_words):
        lo, hi = _occurrence_range(src_words[g], n, occ_ptr)
        cursor[g] = lo
    ll = 0.0
    p0 = 0
    while p0 < n:
        j0 = tgt_ptr[p0]
        p1 = p0 + 1
        while p1 < n and tgt_ptr[p1 + 1] - j0 <= chunk_tokens:
            p1 += 1
        j1 = tgt_ptr[p1]
        acc[:j1 - j0] = 0.0
        for g in range(n_words):
            s = src_words[g]
            o = cursor[g]
            lo, hi = _occurrence_range(s, n, occ_ptr)
            stop = o
            while stop < hi and _occurrence_pair(stop, s, occ_pair) < p1:
                stop += 1
            if stop == o:
                continue
            for k in range(seg_ptr[g], seg_ptr[g + 1]):
                dense[tgt_of[k]] = theta[k]
            for x in range(o, stop):
                p = _occurrence_pair(x, s, occ_pair)
                for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
                    acc[j - j0] += dense[tgt[j]]
            cursor[g] = stop
        for p in range(p0, p1):
            width = src_ptr[p + 1] - src_ptr[p] + null
            if width == 0:
                continue
            log_width = np.log(width)
            for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
                d = acc[j - j0]
                ll += np.log(d) - log_width
                inv[j] = 1.0 / d
        p0 = p1
    for g in range(n_words):
        s = src_words[g]
        for k in range(seg_ptr[g], seg_ptr[g + 1]):
            dense[tgt_of[k]] = 0.0
        lo, hi = _occurrence_range(s, n, occ_ptr)
        for o in range(lo, hi):
            p = _occurrence_pair(o, s, occ_pair)
            for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
                dense[tgt[j]] += inv[j]
        for k in range(seg_ptr[g], seg_ptr[g + 1]):
            theta[k] = theta[k] * dense[tgt_of[k]]
    return ll


@njit(cache=True)
def segment_sums(values, seg_ptr):
    """Sums of ``values[seg_ptr[g]:seg_ptr[g+1]]`` for every segment g.

    With parameters sorted by key ``s * n_tgt + t``, the segments are the
    source words, and this yields the redundant totals eta_s = sum_t eta_st.
    """
    n = seg_ptr.shape[0] - 1
    out = np.zeros(n, dtype=np.float64)
    for g in range(n):
        acc = 0.0
        for k in range(seg_ptr[g], seg_ptr[g + 1]):
            acc += values[k]
        out[g] = acc
    return out


@njit(cache=True)
def viterbi(theta, src_words, seg_ptr, tgt_of, occ_ptr, occ_pair, occ_pos, tgt_ptr, tgt, n_tgt):
    """Most probable source position for every target token.

    Returns an int32 array parallel to the target tokens: the 0-based source
    position, or -1 when NULL wins (or the pair has no source slot).  Ties
    go to the earliest position, NULL first, so the result is deterministic.
    Word by word like :func:`estep_low_memory` (no token-pair index needed).
    """
    n = tgt_ptr.shape[0] - 1
    best = np.full(tgt.shape[0], -1.0)
    out = np.full(tgt.shape[0], -1, dtype=np.int32)
    dense = np.zeros(n_tgt, dtype=np.float64)
    for g in range(src_words.shape[0]):
        s = src_words[g]
        for k in range(seg_ptr[g], seg_ptr[g + 1]):
            dense[tgt_of[k]] = theta[k]
        lo, hi = _occurrence_range(s, n, occ_ptr)
        for o in range(lo, hi):
            p = _occurrence_pair(o, s, occ_pair)
            i = -1 if s == 0 else occ_pos[o]
            for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
                v = dense[tgt[j]]
                if v > best[j] or (v == best[j] and i < out[j]):
                    best[j] = v
                    out[j] = i
    return out


@njit(cache=True)
def mstep_segments(eta_st, eta_s, seg_ptr, out):
    """``out[k] = eta_st[k] / eta_s[g]`` for the parameters k of segment g."""
    for g in range(seg_ptr.shape[0] - 1):
        d = eta_s[g]
        for k in range(seg_ptr[g], seg_ptr[g + 1]):
            out[k] = eta_st[k] / d


# ---------------------------------------------------------------- tree routing
# Holders of a key are given in CSR form (``ptr``, ``ranks``).  A key's
# Steiner subtree (the ranks that carry it in a junction tree) is the union
# of the tree paths between its holders taken in DFS (``tin``) order; edges
# are named by their lower endpoint v (the edge v - parent[v]).

@njit(cache=True)
def _tin_sorted(ranks, lo, hi, tin, buf):
    """Holders ranks[lo:hi] sorted by DFS entry time, into buf[:hi-lo]."""
    c = hi - lo
    if c <= 32:
        for x in range(c):
            v = ranks[lo + x]
            y = x
            while y > 0 and tin[buf[y - 1]] > tin[v]:
                buf[y] = buf[y - 1]
                y -= 1
            buf[y] = v
    else:
        keys = np.empty(c, dtype=np.int64)
        for x in range(c):
            keys[x] = tin[ranks[lo + x]]
        order = np.argsort(keys)
        for x in range(c):
            buf[x] = ranks[lo + order[x]]
    return c


@njit(cache=True)
def steiner_edges(ptr, ranks, keep, parent, depth, tin, count_only):
    """Edges of every kept key's Steiner subtree.

    Walks the path between DFS-consecutive holders (cost: at most twice the
    subtree's size), stamping each edge once per key.  Returns
    ``(n_edges_per_key, key_of_entry, edge_of_entry)``; with ``count_only``
    the last two are empty.
    """
    size = parent.shape[0]
    stamp = np.full(size, -1, dtype=np.int64)
    buf = np.empty(size, dtype=np.int64)
    n_keys = ptr.shape[0] - 1
    per_key = np.zeros(n_keys, dtype=np.int64)
    for g in range(n_keys):
        if not keep[g]:
            continue
        c = _tin_sorted(ranks, ptr[g], ptr[g + 1], tin, buf)
        n = 0
        for x in range(c - 1):
            a = buf[x]
            b = buf[x + 1]
            while a != b:
                if depth[a] < depth[b]:
                    a, b = b, a
                if stamp[a] != g:
                    stamp[a] = g
                    n += 1
                a = parent[a]
        per_key[g] = n
    if count_only:
        return per_key, np.empty(0, np.int64), np.empty(0, np.int64)
    total = 0
    for g in range(n_keys):
        total += per_key[g]
    key_of = np.empty(total, dtype=np.int64)
    edge_of = np.empty(total, dtype=np.int64)
    stamp[:] = -1
    w = 0
    for g in range(n_keys):
        if per_key[g] == 0:
            continue
        c = _tin_sorted(ranks, ptr[g], ptr[g + 1], tin, buf)
        for x in range(c - 1):
            a = buf[x]
            b = buf[x + 1]
            while a != b:
                if depth[a] < depth[b]:
                    a, b = b, a
                if stamp[a] != g:
                    stamp[a] = g
                    key_of[w] = g
                    edge_of[w] = a
                    w += 1
                a = parent[a]
    return per_key, key_of, edge_of


@njit(cache=True)
def _lca(a, b, up, depth):
    if depth[a] < depth[b]:
        a, b = b, a
    diff = depth[a] - depth[b]
    j = 0
    while diff:
        if diff & 1:
            a = up[j, a]
        diff >>= 1
        j += 1
    if a == b:
        return a
    for j in range(up.shape[0] - 1, -1, -1):
        if up[j, a] != up[j, b]:
            a = up[j, a]
            b = up[j, b]
    return up[0, a]


@njit(cache=True)
def edge_key_tags(ptr, ranks, keep, up, depth, tin, tags):
    """Add to ``tags`` (per rank) +1 per holder and -1 at the LCA of each pair
    of DFS-consecutive holders and at the LCA of all holders, for every kept
    key.  The subtree sum of ``tags`` below v is then the number of keys whose
    Steiner subtree contains edge v - parent[v] (1 iff v's subtree holds some
    but not all of a key's holders), in time independent of the paths' length.
    """
    buf = np.empty(depth.shape[0], dtype=np.int64)
    for g in range(ptr.shape[0] - 1):
        if not keep[g]:
            continue
        c = _tin_sorted(ranks, ptr[g], ptr[g + 1], tin, buf)
        for x in range(c):
            tags[buf[x]] += 1
        for x in range(c - 1):
            tags[_lca(buf[x], buf[x + 1], up, depth)] -= 1
        tags[_lca(buf[0], buf[c - 1], up, depth)] -= 1


@njit(cache=True)
def pair_counts(ptr, ranks, keep, size):
    """m[a, b] += 1 for every ordered pair a != b of holders of each kept key."""
    m = np.zeros((size, size), dtype=np.int64)
    for g in range(ptr.shape[0] - 1):
        if not keep[g]:
            continue
        for x in range(ptr[g], ptr[g + 1]):
            a = ranks[x]
            for y in range(ptr[g], ptr[g + 1]):
                if y != x:
                    m[a, ranks[y]] += 1
    return m


@njit(cache=True)
def segment_sums_into(values, seg_ptr, out):
    """:func:`segment_sums` written into ``out`` (same summation order).

    The accumulator is float64 whatever the type of ``values``, so with
    float32 statistics each total is a float64 sum rounded once into ``out``."""
    for g in range(seg_ptr.shape[0] - 1):
        acc = 0.0
        for k in range(seg_ptr[g], seg_ptr[g + 1]):
            acc += values[k]
        out[g] = acc


@njit(cache=True)
def segment_keys(src_words, seg_ptr, tgt_of, n_tgt, out):
    """Parameter keys ``s * n_tgt + t`` from the per-word runs of targets."""
    for g in range(seg_ptr.shape[0] - 1):
        base = src_words[g] * n_tgt
        for k in range(seg_ptr[g], seg_ptr[g + 1]):
            out[k] = base + tgt_of[k]


# ---------------------------------------------------------------- planning
@njit(cache=True)
def group_by_owner(values, owner, size):
    """``values`` grouped by ``owner`` (0..size-1), stable: returns ``(out,
    cuts)``, the entries for rank q being ``out[cuts[q]:cuts[q+1]]``.  A
    counting sort: one copy of ``values`` and no index array (an argsort
    would add 8 bytes per entry and a gather)."""
    cuts = np.zeros(size + 1, dtype=np.int64)
    for i in range(owner.shape[0]):
        cuts[owner[i] + 1] += 1
    for q in range(size):
        cuts[q + 1] += cuts[q]
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
