"""Plain serial collapsed Gibbs sampling for LDA, and serial replays of the
distributed schedules (BSP data-parallel, word-block rotation).

Everything is Python loops over tokens with the arithmetic of
:func:`mpiml.topics.kernels.sweep` in the same order, so with the same uniform
stream the results agree bit for bit.  Streams and the rotation schedule come
from the pure modules :mod:`mpiml.topics.streams`, :mod:`mpiml.topics.blocks`
and :mod:`mpiml.mf.schedule` (they define what each rank draws and holds).
"""

from __future__ import annotations

import numpy as np

from mpiml.mf.schedule import Schedule
from mpiml.topics import streams
from mpiml.topics.blocks import tokens_by_block, word_blocks


def gibbs_tokens(order, u, words, doc_of, z, ndk, nkw, nk, alpha, beta, V):
    """Resample tokens ``order`` in turn (u[j] for order[j]); counts in place."""
    K = nk.shape[0]
    vbeta = V * beta
    inv = [1.0 / (float(nk[k]) + vbeta) for k in range(K)]
    for j, t in enumerate(order):
        w, d, old = int(words[t]), int(doc_of[t]), int(z[t])
        ndk[d, old] -= 1
        nkw[w, old] -= 1
        nk[old] -= 1
        inv[old] = 1.0 / (float(nk[old]) + vbeta)
        cum, total = [], 0.0
        for k in range(K):
            total += (float(ndk[d, k]) + alpha) * (float(nkw[w, k]) + beta) * inv[k]
            cum.append(total)
        r = float(u[j]) * total
        new = 0
        while new < K - 1 and cum[new] <= r:
            new += 1
        z[t] = new
        ndk[d, new] += 1
        nkw[w, new] += 1
        nk[new] += 1
        inv[new] = 1.0 / (float(nk[new]) + vbeta)


class Part:
    """One rank's documents: ``words`` and ``doc_ptr`` (CSR)."""

    def __init__(self, words, doc_ptr, K, V, seed, rank):
        self.words = np.asarray(words, dtype=np.int64)
        self.doc_ptr = np.asarray(doc_ptr, dtype=np.int64)
        self.doc_of = np.repeat(np.arange(self.doc_ptr.size - 1), np.diff(self.doc_ptr))
        self.z = streams.init_topics(seed, rank, self.words.size, K).astype(np.int64)
        self.ndk = np.zeros((self.doc_ptr.size - 1, K), dtype=np.int64)
        for t in range(self.words.size):
            self.ndk[self.doc_of[t], self.z[t]] += 1


def global_counts(parts, K, V):
    nkw = np.zeros((V, K), dtype=np.int64)
    for p in parts:
        for t in range(p.words.size):
            nkw[p.words[t], p.z[t]] += 1
    return nkw, nkw.sum(axis=0)


def replay_bsp(parts, K, V, alpha, beta, seed, sweeps, clock_tokens=0):
    """Data-parallel BSP: at every clock each rank samples its next chunk of
    tokens from the global counts at the clock's start plus its own changes;
    the changes are summed at the clock's end.  Returns ``(parts, nkw, nk)``."""
    nkw, nk = global_counts(parts, K, V)
    n_max = max(p.words.size for p in parts)
    step = clock_tokens if clock_tokens else max(n_max, 1)
    n_clocks = max(1, -(-n_max // step))
    for s in range(sweeps):
        us = [streams.sweep_uniforms(seed, r, s, p.words.size) for r, p in enumerate(parts)]
        for c in range(n_clocks):
            new_kw, new_k = nkw.copy(), nk.copy()
            for r, p in enumerate(parts):
                lo, hi = min(c * step, p.words.size), min((c + 1) * step, p.words.size)
                kw, k = nkw.copy(), nk.copy()
                gibbs_tokens(range(lo, hi), us[r][lo:hi], p.words, p.doc_of, p.z, p.ndk, kw, k,
                             alpha, beta, V)
                new_kw += kw - nkw
                new_k += k - nk
            nkw, nk = new_kw, new_k
    return parts, nkw, nk


def replay_rotate(parts, K, V, alpha, beta, seed, sweeps, order="WOR"):
    """Word-block rotation: in sub-epoch ``s`` of epoch ``e`` rank ``r`` samples
    its tokens of word block ``stratum[r]`` with that block's exact n_kw and
    the n_k of the sub-epoch's start plus its own changes."""
    P = len(parts)
    nkw, nk = global_counts(parts, K, V)
    offsets = word_blocks(np.bincount(np.concatenate([p.words for p in parts]), minlength=V), P)
    by_block = [tokens_by_block(p.words, offsets) for p in parts]
    sched = Schedule(order, P, 1, seed)
    for e in range(sweeps):
        us = [streams.sweep_uniforms(seed, r, e, p.words.size) for r, p in enumerate(parts)]
        pos = [0] * P
        for s in range(P):
            held = [sched.held(e, s, r)[0] for r in range(P)]
            new_k = nk.copy()
            for r, p in enumerate(parts):
                idx = by_block[r][held[r]]
                k = nk.copy()
                gibbs_tokens(idx, us[r][pos[r]:pos[r] + idx.size], p.words, p.doc_of, p.z, p.ndk,
                             nkw, k, alpha, beta, V)
                pos[r] += idx.size
                new_k += k - nk
            nk = new_k
    return parts, nkw, nk


def loglik(nkw, ndk_list, doc_lens, alpha, beta):
    """log p(w, z), written out as in the `lda` package's loglikelihood()."""
    from math import lgamma
    V, K = nkw.shape
    nk = nkw.sum(axis=0)
    ll = K * lgamma(beta * V)
    for k in range(K):
        ll -= lgamma(beta * V + nk[k])
        for w in range(V):
            if nkw[w, k] > 0:
                ll += lgamma(beta + nkw[w, k]) - lgamma(beta)
    for ndk, lens in zip(ndk_list, doc_lens):
        for d in range(ndk.shape[0]):
            ll += lgamma(alpha * K) - lgamma(alpha * K + lens[d])
            for k in range(K):
                if ndk[d, k] > 0:
                    ll += lgamma(alpha + ndk[d, k]) - lgamma(alpha)
    return ll


def completion_perplexity(docs, nkw, nk, alpha, beta, z0, u, n_sweeps):
    """Document completion, written out: observed = even token positions,
    evaluated = odd; Gibbs on the observed half with phi fixed (uniforms u,
    consumed sweep by sweep over the observed tokens in order), then
    exp(-mean log sum_k theta_dk phi_kw) over the evaluated tokens."""
    from math import exp, log
    V, K = nkw.shape
    phi = [[(nkw[w, k] + beta) / (nk[k] + V * beta) for w in range(V)] for k in range(K)]
    obs = [(d, w) for d, doc in enumerate(docs) for i, w in enumerate(doc) if i % 2 == 0]
    ev = [(d, w) for d, doc in enumerate(docs) for i, w in enumerate(doc) if i % 2 == 1]
    z = [int(x) for x in z0]
    ndk = [[0] * K for _ in docs]
    for (d, _), k in zip(obs, z):
        ndk[d][k] += 1
    j = 0
    for _ in range(n_sweeps):
        for t, (d, w) in enumerate(obs):
            ndk[d][z[t]] -= 1
            cum, total = [], 0.0
            for k in range(K):
                total += (ndk[d][k] + alpha) * phi[k][w]
                cum.append(total)
            r = float(u[j]) * total
            j += 1
            new = 0
            while new < K - 1 and cum[new] <= r:
                new += 1
            z[t] = new
            ndk[d][new] += 1
    n_obs = [sum(row) for row in ndk]
    ll = 0.0
    for d, w in ev:
        ll += log(sum((ndk[d][k] + alpha) / (n_obs[d] + K * alpha) * phi[k][w] for k in range(K)))
    return exp(-ll / len(ev))
