"""Slow, obviously-correct serial IBM Model 1 EM on a dense table.

A reference for the fast, sparse, distributed implementation: theta is a
dense (n_src + NULL) x n_tgt table indexed by words, and every quantity is
computed with plain loops, straight from the definition (Brown et al. 1993):

    posterior(i | j) = theta[s_i, t_j] / sum_i' theta[s_i', t_j]
    eta[s, t]        = sum over pairs, target positions j with t_j = t,
                       source slots i with s_i = s of posterior(i | j)
    theta[s, t]      = eta[s, t] / sum_t' eta[s, t']
    loglik           = sum_j log( sum_i theta[s_i, t_j] / n_slots )

Initialisation: theta = 1 / n_tgt everywhere.
"""

from __future__ import annotations

import math

import numpy as np

NULL = "<NULL>"


def ibm1_dense(src_sents, tgt_sents, n_iter: int, null: bool = True):
    """Run EM; return (src_index, tgt_index, thetas, logliks).

    ``src_index``/``tgt_index`` map words to rows/columns (NULL is row 0);
    ``thetas[k]`` is the table after iteration k + 1; ``logliks[k]`` is the
    log-likelihood under the table used by iteration k + 1.
    """
    src_words = sorted({w for s in src_sents for w in s})
    tgt_words = sorted({w for t in tgt_sents for w in t})
    src_index = {NULL: 0}
    for w in src_words:
        src_index[w] = len(src_index)
    tgt_index = {w: j for j, w in enumerate(tgt_words)}
    theta = np.full((len(src_index), len(tgt_index)), 1.0 / len(tgt_index))
    thetas, logliks = [], []
    for _ in range(n_iter):
        counts = np.zeros_like(theta)
        ll = 0.0
        for s_sent, t_sent in zip(src_sents, tgt_sents):
            rows = ([0] if null else []) + [src_index[w] for w in s_sent]
            for w in t_sent:
                col = tgt_index[w]
                denom = 0.0
                for r in rows:
                    denom += theta[r, col]
                ll += math.log(denom) - math.log(len(rows))
                for r in rows:
                    counts[r, col] += theta[r, col] / denom
        new = np.zeros_like(theta)
        for r in range(theta.shape[0]):
            total = counts[r].sum()
            if total > 0:
                new[r] = counts[r] / total
        theta = new
        thetas.append(theta.copy())
        logliks.append(ll)
    return src_index, tgt_index, thetas, logliks


def viterbi_dense(src_sents, tgt_sents, src_index, tgt_index, theta, null: bool = True):
    """Pharaoh lines: for each target word the first source slot of maximal theta."""
    out = []
    for s_sent, t_sent in zip(src_sents, tgt_sents):
        rows = ([0] if null else []) + [src_index[w] for w in s_sent]
        links = []
        for j, w in enumerate(t_sent):
            vals = [theta[r, tgt_index[w]] for r in rows]
            best = max(range(len(rows)), key=lambda i: (vals[i], -i))
            if null:
                best -= 1
            if best >= 0:
                links.append(f"{best}-{j}")
        out.append(" ".join(links))
    return out


def ibm1_dense_f32(src_sents, tgt_sents, n_iter: int, null: bool = True, src_index=None,
                   tgt_index=None):
    """EM with a float32 table: the reference of ``--dtype float32``.

    The rule: theta and the statistics are stored as float32, every sum is
    taken in float64 and rounded once when it is stored.  Per target token,
    the denominator is the float64 sum of its slots' theta and its inverse is
    stored as float32; r[s, t] is the float64 sum of those inverses over the
    token pairs of (s, t); eta[s, t] = float32(theta[s, t] * r[s, t]);
    eta_s = float32(sum_t eta[s, t]) (float64 sum); theta = float32(eta / eta_s).
    The log-likelihood is the float64 sum of log(denominator / n_slots).

    The float64 sums are taken in a fixed order, so that a fast path adding
    in the same order gives the same bits: a pair's slots NULL first, then its
    source tokens by (row, position); r by pair, slot, target position;
    eta_s over the columns in order.  ``src_index``/``tgt_index`` give rows
    and columns (default: sorted words, NULL row 0, as :func:`ibm1_dense`);
    pass the fast path's vocabulary ids to reproduce its order.
    Returns (src_index, tgt_index, thetas, logliks) like :func:`ibm1_dense`.
    """
    if src_index is None:
        src_index = {NULL: 0}
        for w in sorted({w for s in src_sents for w in s}):
            src_index[w] = len(src_index)
    if tgt_index is None:
        tgt_index = {w: j for j, w in enumerate(sorted({w for t in tgt_sents for w in t}))}
    n_rows = max(src_index.values()) + 1
    n_cols = max(tgt_index.values()) + 1
    theta = np.full((n_rows, n_cols), np.float32(1.0 / n_cols), dtype=np.float32)
    thetas, logliks = [], []
    for _ in range(n_iter):
        r_sum = np.zeros((n_rows, n_cols))     # float64
        ll = 0.0
        for s_sent, t_sent in zip(src_sents, tgt_sents):
            slots = sorted((src_index[w], i) for i, w in enumerate(s_sent))
            rows = ([0] if null else []) + [row for row, _ in slots]
            cols = [tgt_index[w] for w in t_sent]
            inv = []
            for col in cols:
                denom = 0.0
                for row in rows:
                    denom += float(theta[row, col])
                ll += math.log(denom) - math.log(len(rows))
                inv.append(float(np.float32(1.0 / denom)))
            for row in rows:
                for j, col in enumerate(cols):
                    r_sum[row, col] += inv[j]
        counts = np.zeros_like(theta)
        for row in range(n_rows):
            for col in range(n_cols):
                counts[row, col] = np.float32(float(theta[row, col]) * r_sum[row, col])
        new = np.zeros_like(theta)
        for row in range(n_rows):
            total = 0.0
            for col in range(n_cols):
                total += float(counts[row, col])
            total = float(np.float32(total))
            if total > 0:
                for col in range(n_cols):
                    new[row, col] = np.float32(float(counts[row, col]) / total)
        theta = new
        thetas.append(theta.copy())
        logliks.append(ll)
    return src_index, tgt_index, thetas, logliks
