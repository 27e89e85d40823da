"""Numba kernels for IBM Model 1 EM (Brown et al. 1993) as used by fully
distributed EM (Wolfe, Haghighi & Klein, ICML 2008).

Every kernel works on one rank's sentence pairs in CSR form:

* ``src[src_ptr[n]:src_ptr[n+1]]`` are the source word ids of pair ``n``
  (NULL, id 0, is *not* stored; it is implied when ``null`` is true),
* ``tgt[tgt_ptr[n]:tgt_ptr[n+1]]`` are its target word ids,
* the *token-pair* arrays (``keys``, ``idx``) hold, for pair ``n``, target
  position ``j`` and source slot ``i`` (slot 0 is NULL when ``null``), the
  entry ``tp_ptr[n] + j * width_n + i`` with ``width_n = len_src + null``.

``idx`` maps each token pair to its parameter's position in the rank's local,
sorted parameter array, so the E-step touches only that array (never a
vocabulary-squared table) and does no hashing in the hot loop.

Kernels take and return numpy arrays and scalars only.
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
def pair_keys(src, src_ptr, tgt, tgt_ptr, n_tgt, null, tp_ptr):
    """Parameter key ``s * n_tgt + t`` of every token pair (NULL is s = 0)."""
    n = src_ptr.shape[0] - 1
    keys = np.empty(tp_ptr[n], dtype=np.int64)
    for p in range(n):
        s0 = src_ptr[p]
        ls = src_ptr[p + 1] - s0
        out = tp_ptr[p]
        for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
            t = tgt[j]
            if null:
                keys[out] = t  # NULL row: 0 * n_tgt + t
                out += 1
            for i in range(ls):
                keys[out] = src[s0 + i] * n_tgt + t
                out += 1
    return keys


@njit(cache=True)
def estep(theta, idx, src_ptr, tgt_ptr, null, counts):
    """IBM1 E-step: add expected counts into ``counts`` (aligned with theta).

    For each target token t_j the alignment posterior over the ``width``
    source slots is theta[s_i, t_j] / sum_i' theta[s_i', t_j]; these are
    accumulated into ``counts`` (the paper's eta_st).

    Returns the log-likelihood sum_j log(sum_i theta[s_i, t_j] / width)
    under the *current* theta (uniform alignment prior 1/width, no length
    model), which EM never decreases.
    """
    n = src_ptr.shape[0] - 1
    ll = 0.0
    pos = 0
    for p in range(n):
        width = src_ptr[p + 1] - src_ptr[p] + null
        lt = tgt_ptr[p + 1] - tgt_ptr[p]
        if width == 0 or lt == 0:
            continue
        log_width = np.log(width)
        for _j in range(lt):
            denom = 0.0
            for i in range(width):
                denom += theta[idx[pos + i]]
            inv = 1.0 / denom
            for i in range(width):
                k = idx[pos + i]
                counts[k] += theta[k] * inv
            ll += np.log(denom) - log_width
            pos += width
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
def viterbi(theta, idx, src_ptr, tgt_ptr, null):
    """Most probable source position for every target token.

    Returns an int32 array parallel to the target tokens: the 0-based source
    position, or -1 when NULL wins.  Ties go to the earliest slot (NULL
    first), so the result is deterministic.
    """
    n = src_ptr.shape[0] - 1
    out = np.empty(tgt_ptr[n], dtype=np.int32)
    pos = 0
    for p in range(n):
        width = src_ptr[p + 1] - src_ptr[p] + null
        for j in range(tgt_ptr[p], tgt_ptr[p + 1]):
            best = -1.0
            arg = null - 1  # -1 (unaligned) if the pair has no source slot
            for i in range(width):
                v = theta[idx[pos + i]]
                if v > best:
                    best = v
                    arg = i
            out[j] = arg - null
            pos += width
    return out
