"""Latent Dirichlet allocation by collapsed Gibbs sampling over MPI ranks.

Model: LDA (Blei, Ng, Jordan 2003) with symmetric priors α (document-topic)
and β (topic-word) and K topics.  Collapsed Gibbs sampling (Griffiths &
Steyvers 2004) resamples each token's topic from
``p(z = k) ∝ (n_dk + α)(n_kw + β)/(n_k + Vβ)`` (:mod:`.kernels`).  The
objective reported is the complete-data log-likelihood log p(w, z) (as the
`lda` package's ``loglikelihood()``); the progress table shows it per token.

Documents are partitioned by rank (each reads its byte range); ``n_dk`` stays
local.  Two ways to share ``n_kw`` and ``n_k``:

``--schedule tables`` (:mod:`.tables`)
    data-parallel, on a parameter table under ``--consistency bsp|ssp|essp|async``.
``--schedule rotate`` (:mod:`.rotate`)
    model-parallel word blocks rotating among ranks; only ``n_k`` is shared.

Randomness: initial topics and one uniform per token per sweep, as pure
functions of ``(seed, rank, sweep)`` (:mod:`.streams`).  A checkpoint holds
the assignments (a distributed array in global token order), the counts and
the sweep counter, which is the whole RNG position; resuming at the same rank
count under ``bsp`` or ``rotate`` continues bit for bit, and at another rank
count the assignments are re-read by token offset.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, MpimlError
from ..io.bow import read_bow
from ..io.checkpoint import State
from ..partition import block_range
from ..runtime.algorithm import Algorithm
from . import kernels, streams
from .settings import LDASettings


class CountsViolation(MpimlError):
    """A count invariant failed (a bug): raised by ``--debug-counts``."""


class LocalDocs:
    """A rank's documents and their sampler state."""

    def __init__(self, corpus, K: int):
        self.corpus = corpus
        self.words = np.ascontiguousarray(corpus.words, dtype=np.int32)
        self.doc_len = np.diff(corpus.doc_ptr).astype(np.int64)
        self.doc_of = np.repeat(np.arange(self.doc_len.size, dtype=np.int32), self.doc_len)
        self.z = np.zeros(self.words.size, dtype=np.int32)
        self.ndk = np.zeros((self.doc_len.size, K), dtype=np.int64)
        self.K = K

    def set_topics(self, z, V: int):
        """Assignments -> local ``n_dk`` and this rank's share of ``n_kw``, ``n_k``."""
        self.z[:] = z
        self.ndk[:] = 0
        nkw = np.zeros((V, self.K), dtype=np.int64)
        nk = np.zeros(self.K, dtype=np.int64)
        kernels.count(self.words, self.doc_of, self.z, self.ndk, nkw, nk)
        return nkw, nk


class LDA(Algorithm):
    """Distributed collapsed Gibbs LDA (see the module docstring).

    Parameters
    ----------
    settings : :class:`~mpiml.topics.settings.LDASettings` or its fields as keywords.
    """

    name = "lda"
    schema = 1
    Settings = LDASettings
    partition_what = "documents"
    columns = (("ll_token", "logp/token", "{:.4f}"), ("va_perplexity", "va_ppl", "{:.2f}"),
               ("changed", "changed", "{:.3f}"), ("clock", "clock", "{:d}"),
               ("stale_mean", "stale_mean", "{:.2f}"), ("stale_var", "stale_var", "{:.2f}"),
               ("stale_max", "stale_max", "{:d}"), ("stale_hist", "staleness histogram", "{}"))

    # ------------------------------------------------------------------ setup
    def setup(self, comm) -> int:
        K = self.topics
        self.corpus_ = read_bow(comm, self.data, self.format, self.vocab)
        c = self.corpus_
        if c.n_tokens == 0:
            raise ConfigError(f"{self.data}: the corpus has no tokens")
        self.V_ = c.n_words
        self.local_ = LocalDocs(c, K)
        self.valid_ = None
        if self.valid:
            from .evaluate import HeldOut
            vc = read_bow(comm, self.valid, self.format, c.vocab if c.vocab is not None else self.vocab,
                          n_words=self.V_)
            self.valid_ = HeldOut(vc, K, self.seed, comm.rank)
        if self.schedule == "rotate":
            from .rotate import RotateScheme
            self.scheme_ = RotateScheme(comm, self.local_, self.V_, K, self.order, self.seed)
        else:
            from .tables import TableScheme
            self.scheme_ = TableScheme(comm, self.local_, self.V_, K, self.settings.consistency, self.staleness,
                                       self.clock_tokens, self.debug_staleness)
        # the class attribute "consistency" (banner text) shadows the setting of that name
        self.consistency = self.scheme_.describe()
        self.sweeps_ = 0
        self.ll_ = float("nan")
        return c.n_local_docs

    def _start(self, comm, z) -> None:
        nkw, nk = self.local_.set_topics(z, self.V_)
        nkw = comm.allreduce(nkw, kind="lda:init")
        nk = comm.allreduce(nk, kind="lda:init")
        self.scheme_.start(comm, nkw, nk, self.sweeps_)
        self.nkw_, self.nk_ = nkw, nk

    def initialize(self, comm) -> None:
        self._start(comm, streams.init_topics(self.seed, comm.rank, self.local_.words.size, self.topics))

    # ------------------------------------------------------------- iteration
    def step(self, comm, iteration: int, straggler) -> dict:
        loc, s = self.local_, self.sweeps_
        u = streams.sweep_uniforms(self.seed, comm.rank, s, loc.words.size)
        after = (lambda: self.check_counts(comm)) if self.debug_counts else (lambda: None)
        changed, hist = self.scheme_.sweep(comm, loc, s, u, self.alpha, self.beta, straggler, after)
        self.sweeps_ = s + 1
        stats = comm.allreduce(np.concatenate([[changed], hist]).astype(np.int64), kind="lda:stats")
        hist = stats[1:]
        out = {"changed": float(stats[0]) / self.corpus_.n_tokens, "clock": self.scheme_.clock,
               **staleness_summary(hist)}
        if self.sweeps_ % self.eval_every == 0 or np.isnan(self.ll_):
            self.nkw_, self.nk_ = self.scheme_.global_counts(comm)
            self.ll_ = self.loglik(comm)
            out["ll_token"] = self.ll_ / self.corpus_.n_tokens
            if self.valid_ is not None:
                out["va_perplexity"] = self.valid_.perplexity(comm, self.nkw_, self.nk_, self.alpha,
                                                              self.beta, self.fold_in)
        out["objective"] = -self.ll_
        return out

    def loglik(self, comm) -> float:
        """Collective.  log p(w, z) from the exact global counts ``self.nkw_``."""
        V, K, b = self.V_, self.topics, self.beta
        lo, hi = block_range(V, comm.size, comm.rank)
        part = kernels.loglik_words(self.nkw_, lo, hi, b)
        part += kernels.loglik_docs(self.local_.ndk, self.local_.doc_len, self.alpha)
        if comm.rank == 0:
            from math import lgamma
            part += K * lgamma(V * b) - sum(lgamma(V * b + float(n)) for n in self.nk_)
        return float(comm.allreduce_scalar(part, kind="lda:loglik"))

    def check_counts(self, comm) -> None:
        """Collective.  The count invariants: ``sum_k n_dk`` = document length,
        ``sum_w n_kw = n_k``, nothing negative, and the global tables equal
        the counts of every rank's assignments."""
        loc = self.local_
        nkw, nk = self.scheme_.global_counts(comm)
        mine_kw = np.zeros_like(nkw)
        mine_k = np.zeros_like(nk)
        ndk = np.zeros_like(loc.ndk)
        kernels.count(loc.words, loc.doc_of, loc.z, ndk, mine_kw, mine_k)
        true_kw = comm.allreduce(mine_kw, kind="lda:debug")
        problems = []
        if (loc.ndk.sum(axis=1) != loc.doc_len).any():
            problems.append("sum_k n_dk != document length")
        if (loc.ndk < 0).any() or (nkw < 0).any() or (nk < 0).any():
            problems.append("negative count")
        if not np.array_equal(nkw.sum(axis=0), nk):
            problems.append("sum_w n_kw != n_k")
        if not np.array_equal(ndk, loc.ndk):
            problems.append("n_dk differs from the counts of the assignments")
        if not np.array_equal(true_kw, nkw):
            problems.append("global n_kw differs from the counts of all assignments")
        if problems:
            raise CountsViolation(f"count invariants broken at clock {self.scheme_.clock}: "
                                  + "; ".join(problems))

    def finish(self, comm) -> dict:
        self.nkw_, self.nk_ = self.scheme_.global_counts(comm)
        self.ll_ = self.loglik(comm)
        self.scheme_.close()      # the final checkpoint, written after finish, uses nkw_ / nk_
        self.closed_ = True
        if self.phi_out and comm.rank == 0:
            np.save(self.phi_out, phi(self.nkw_, self.nk_, self.beta))
        c = self.corpus_
        return {"loglik": self.ll_, "ll_token": self.ll_ / c.n_tokens, "n_docs": c.n_docs,
                "n_tokens": c.n_tokens, "n_words": self.V_, "topics": self.topics,
                "sweeps": self.sweeps_, "scheme": self.consistency}

    # ------------------------------------------------------------ checkpoint
    def state(self, comm, iteration: int) -> State:
        c, loc = self.corpus_, self.local_
        nkw, nk = (self.nkw_, self.nk_) if getattr(self, "closed_", False) else self.scheme_.global_counts(comm)
        tok_off = comm.exscan_sum(loc.words.size, "lda:ckpt")
        rep = {"word_topic": nkw, "topic_counts": nk}
        if c.vocab is not None:
            rep["vocab"] = np.frombuffer("\n".join(c.vocab).encode("utf-8"), dtype=np.uint8)
        return State(iteration=iteration, replicated=rep,
                     distributed={"z": (loc.z, tok_off, c.n_tokens),
                                  "doc_topic": (loc.ndk, c.doc_offset, c.n_docs),
                                  "doc_ids": (c.doc_ids, c.doc_offset, c.n_docs)},
                     meta={"sweeps": int(self.sweeps_), "loglik": float(self.ll_), "alpha": self.alpha,
                           "beta": self.beta, "n_words": int(self.V_), "n_tokens": int(c.n_tokens),
                           "clock": int(self.scheme_.clock)})

    def restore(self, comm, ckpt) -> None:
        c = self.corpus_
        if int(ckpt.meta.get("n_tokens", -1)) != c.n_tokens or int(ckpt.meta.get("n_words", -1)) != self.V_:
            raise ConfigError(f"{ckpt.dir}: checkpoint has {ckpt.meta.get('n_tokens')} tokens over "
                              f"{ckpt.meta.get('n_words')} words, the corpus {c.n_tokens} over {self.V_}")
        tok_off = comm.exscan_sum(self.local_.words.size, "lda:ckpt")
        z = ckpt.read_rows("z", tok_off, tok_off + self.local_.words.size).astype(np.int32)
        if z.size and (z.min() < 0 or z.max() >= self.topics):
            raise ConfigError(f"{ckpt.dir}: assignments outside 0..{self.topics - 1}")
        self.sweeps_ = int(ckpt.meta.get("sweeps", ckpt.iteration))
        self.ll_ = float(ckpt.meta.get("loglik", float("nan")))
        self._start(comm, z)

    def warm_start(self, comm, ckpt) -> None:
        self.restore(comm, ckpt)
        self.sweeps_ = 0
        self.scheme_.start(comm, self.nkw_, self.nk_, 0)


def phi(nkw, nk, beta) -> np.ndarray:
    """Topic-word probabilities ``(n_kw + β) / (n_k + Vβ)``, K x V."""
    V = nkw.shape[0]
    return ((nkw + beta) / (nk + V * beta)).T.copy()


def theta(ndk, alpha) -> np.ndarray:
    """Document-topic probabilities ``(n_dk + α) / (n_d + Kα)``."""
    K = ndk.shape[1]
    return (ndk + alpha) / (ndk.sum(axis=1, keepdims=True) + K * alpha)


def staleness_summary(hist) -> dict:
    """Mean, variance (the ε_m, ε_v of Dai et al. 2015), maximum and a compact
    text form of a staleness histogram."""
    hist = np.asarray(hist, dtype=np.int64)
    n = int(hist.sum())
    v = np.arange(hist.size, dtype=np.float64)
    mean = float((hist * v).sum() / n) if n else 0.0
    var = float((hist * (v - mean) ** 2).sum() / n) if n else 0.0
    nz = np.flatnonzero(hist)
    return {"stale_mean": mean, "stale_var": var, "stale_max": int(nz.max()) if nz.size else 0,
            "stale_reads": n, "stale_hist": " ".join(f"{int(s)}:{int(hist[s])}" for s in nz),
            "staleness": {str(int(s)): int(hist[s]) for s in nz}}
