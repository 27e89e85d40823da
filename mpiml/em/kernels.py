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


from .params.kernels import (  # noqa: F401  (re-exported: the kernels of one rank's data)
    _occurrence_pair, _occurrence_range, local_params, pair_targets, param_bound,
    source_occurrences, token_pair_ptr)
from .planning.kernels import (  # noqa: F401  (re-exported: the planner's linear-time helpers)
    group_by_owner, merge_key_sets, pack_keys_by_owner, sorted_positions, unpack_keys)


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


@njit(cache=True, inline="always")
def _counts_from_inverses(theta, src_words, seg_ptr, tgt_of, occ_ptr, occ_pair, tgt, tgt_ptr, inv, dense):
    """Pass 2 of the word-major E-steps, word by word: ``r`` per target word
    is the sum of ``inv[j]`` (a target token's inverse denominator) over the
    word's pairs in pair, slot, target-position order, summed in ``dense``'s
    type (float64); then ``theta[k] = theta[k] * r``, rounded to theta's type."""
    n = tgt_ptr.shape[0] - 1
    for g in range(src_words.shape[0]):
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
    _counts_from_inverses(theta, src_words, seg_ptr, tgt_of, occ_ptr, occ_pair, tgt, tgt_ptr, denom, dense)
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
    _counts_from_inverses(theta, src_words, seg_ptr, tgt_of, occ_ptr, occ_pair, tgt, tgt_ptr, inv, dense)
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
