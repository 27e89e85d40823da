"""Held-out perplexity by document completion (Wallach, Murray, Salakhutdinov,
Mimno 2009): the tokens of each held-out document are split alternately into
an observed half (even positions) and an evaluated half (odd positions);
θ_d is estimated on the observed half by Gibbs sampling with the trained
φ fixed (``--fold-in`` sweeps, a fixed uniform stream), and the perplexity is
``exp(-sum log sum_k θ_dk φ_kw / N)`` over the evaluated tokens.
"""

from __future__ import annotations

import numpy as np

from . import kernels, streams


class HeldOut:
    """A rank's held-out documents, split for document completion."""

    def __init__(self, corpus, K: int, seed: int, rank: int):
        lens = np.diff(corpus.doc_ptr)
        doc_of = np.repeat(np.arange(lens.size), lens)
        pos = np.arange(corpus.words.size) - np.repeat(corpus.doc_ptr[:-1], lens)
        obs = pos % 2 == 0
        self.obs_words = np.ascontiguousarray(corpus.words[obs], dtype=np.int32)
        self.obs_doc = np.ascontiguousarray(doc_of[obs], dtype=np.int32)
        self.ev_words = np.ascontiguousarray(corpus.words[~obs], dtype=np.int32)
        self.ev_doc = np.ascontiguousarray(doc_of[~obs], dtype=np.int32)
        self.obs_len = np.bincount(self.obs_doc, minlength=lens.size).astype(np.int64)
        self.n_docs_local = lens.size
        self.K, self.seed, self.rank = K, seed, rank
        self.z0 = streams.valid_init(seed, rank, self.obs_words.size, K)
        self.corpus = corpus

    def perplexity(self, comm, nkw, nk, alpha: float, beta: float, n_sweeps: int) -> float:
        """Collective.  Document-completion perplexity under counts ``nkw``, ``nk``."""
        V = nkw.shape[0]
        phi = ((nkw + beta) / (nk + V * beta)).T.copy()
        z = self.z0.copy()
        ndk = np.zeros((self.n_docs_local, self.K), dtype=np.int64)
        np.add.at(ndk, (self.obs_doc, z), 1)
        u = streams.fold_uniforms(self.seed, self.rank, n_sweeps * z.size)
        kernels.fold_in(self.obs_words, self.obs_doc, z, ndk, phi, alpha, u, n_sweeps, np.empty(self.K))
        ll = kernels.completion_loglik(self.ev_words, self.ev_doc, ndk, self.obs_len, phi, alpha)
        tot = comm.allreduce(np.array([ll, float(self.ev_words.size)]), kind="lda:valid")
        return float(np.exp(-tot[0] / max(tot[1], 1.0)))
