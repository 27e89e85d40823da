"""Numba kernels of collapsed Gibbs sampling for LDA.

The collapsed conditional of token ``t`` (word ``w`` in document ``d``) given
every other assignment is (Griffiths & Steyvers 2004)

    p(z_t = k | rest)  ∝  (n_dk + α) (n_kw + β) / (n_k + Vβ)

with the counts excluding ``t``.  :func:`sweep` removes the token, forms the
K unnormalised weights in order ``k = 0 .. K-1`` as a running sum, draws
``k`` = the first index whose running sum exceeds ``u · total`` for the next
uniform ``u`` of a pre-drawn stream, and adds the token back.  The same
arithmetic, in the same order, is spelled out in tests/naive/lda.py, so a
sweep is reproducible bit for bit from the stream.  ``1 / (n_k + Vβ)`` is
kept per topic and recomputed only for the two topics a token moves between.

Counts are int64: ``ndk`` (local documents x K), ``nkw`` (V x K, word-major
so a word's row is contiguous, like a parameter-table row), ``nk`` (K).
``dkw``/``dk`` accumulate this sweep's changes (the deltas a data-parallel
worker sends to the shared tables).  Kernels take arrays and nothing else.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def sweep(idx, u, words, doc_of, z, ndk, nkw, nk, dkw, dk, alpha, beta, vbeta, p):
    """Resample the tokens ``idx`` in order, consuming ``u[j]`` for ``idx[j]``.

    ``p`` is a work vector of K doubles.  Returns the number of tokens whose
    topic changed.
    """
    K = nk.shape[0]
    inv = np.empty(K)
    for k in range(K):
        inv[k] = 1.0 / (nk[k] + vbeta)
    changed = 0
    for j in range(idx.shape[0]):
        t = idx[j]
        w = words[t]
        d = doc_of[t]
        old = z[t]
        ndk[d, old] -= 1
        nkw[w, old] -= 1
        nk[old] -= 1
        dkw[w, old] -= 1
        dk[old] -= 1
        inv[old] = 1.0 / (nk[old] + vbeta)
        total = 0.0
        for k in range(K):
            total += (ndk[d, k] + alpha) * (nkw[w, k] + beta) * inv[k]
            p[k] = total
        r = u[j] * total
        new = 0
        while new < K - 1 and p[new] <= r:
            new += 1
        z[t] = new
        ndk[d, new] += 1
        nkw[w, new] += 1
        nk[new] += 1
        dkw[w, new] += 1
        dk[new] += 1
        inv[new] = 1.0 / (nk[new] + vbeta)
        if new != old:
            changed += 1
    return changed


@njit(cache=True)
def count(words, doc_of, z, ndk, nkw, nk):
    """Add every token's assignment to the counts (zeroed by the caller)."""
    for t in range(words.shape[0]):
        k = z[t]
        ndk[doc_of[t], k] += 1
        nkw[words[t], k] += 1
        nk[k] += 1


@njit(cache=True)
def loglik_words(nkw, lo, hi, beta):
    """``sum_{w in [lo, hi), k} [lgamma(n_kw + β) - lgamma(β)]`` over non-zero counts."""
    lg = math.lgamma(beta)
    s = 0.0
    for w in range(lo, hi):
        for k in range(nkw.shape[1]):
            c = nkw[w, k]
            if c > 0:
                s += math.lgamma(c + beta) - lg
    return s


@njit(cache=True)
def loglik_docs(ndk, doc_len, alpha):
    """Document part of log p(z): ``sum_d [lgamma(Kα) - lgamma(n_d + Kα)
    + sum_k (lgamma(n_dk + α) - lgamma(α))]``."""
    K = ndk.shape[1]
    lg = math.lgamma(alpha)
    lk = math.lgamma(K * alpha)
    s = 0.0
    for d in range(ndk.shape[0]):
        s += lk - math.lgamma(doc_len[d] + K * alpha)
        for k in range(K):
            c = ndk[d, k]
            if c > 0:
                s += math.lgamma(c + alpha) - lg
    return s


@njit(cache=True, nogil=True)
def fold_in(words, doc_of, z, ndk, phi, alpha, u, n_sweeps, p):
    """Gibbs sampling of held-out tokens' topics with the topic-word
    distributions ``phi`` (K x V) fixed: ``p(z=k) ∝ (n_dk + α) φ_kw``.
    ``u`` holds ``n_sweeps x len(words)`` uniforms; ``ndk`` must hold the
    counts of the initial ``z``."""
    K = phi.shape[0]
    n = words.shape[0]
    for s in range(n_sweeps):
        for t in range(n):
            w = words[t]
            d = doc_of[t]
            ndk[d, z[t]] -= 1
            total = 0.0
            for k in range(K):
                total += (ndk[d, k] + alpha) * phi[k, w]
                p[k] = total
            r = u[s * n + t] * total
            new = 0
            while new < K - 1 and p[new] <= r:
                new += 1
            z[t] = new
            ndk[d, new] += 1


@njit(cache=True)
def completion_loglik(words, doc_of, ndk, doc_len, phi, alpha):
    """``sum_t log sum_k θ_dk φ_kw`` with ``θ_dk = (n_dk + α) / (n_d + Kα)``
    (document completion: ``ndk``/``doc_len`` from the observed half)."""
    K = phi.shape[0]
    s = 0.0
    for t in range(words.shape[0]):
        d = doc_of[t]
        w = words[t]
        denom = doc_len[d] + K * alpha
        acc = 0.0
        for k in range(K):
            acc += (ndk[d, k] + alpha) / denom * phi[k, w]
        s += math.log(acc)
    return s
