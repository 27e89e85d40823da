"""Data-parallel LDA on a parameter table (Petuum / YahooLDA style).

The word-topic counts ``n_kw`` (one table row per word, ``K`` wide) and the
topic totals ``n_k`` (one more row) live in one table of
:mod:`mpiml.consistency`; the document-topic counts stay with the rank that
holds the document.  At every clock a rank reads the rows of the words of its
documents (and ``n_k``) under the table's read rule, resamples its next chunk
of tokens against that view plus its own changes (read-my-writes), and
increments the table by its count changes.  Under ``bsp`` every clock starts
from the exact global counts (AD-LDA, Newman et al. 2009); under ``ssp`` /
``essp`` the view misses at most the other workers' changes of the last
``s`` clocks (Ho et al. 2013; Dai et al. 2015); ``async`` has no bound.

A view is never negative: per element, the table holds a prefix of each
worker's per-clock changes (each is flushed before the next), i.e. that
worker's counts at some clock, plus all of this rank's own changes; so the
token being removed is always counted in its own row.
"""

from __future__ import annotations

import time

import numpy as np

from ..consistency import STALE_BINS, make_table
from . import kernels


class TableScheme:
    """Collective constructor.  ``local``: the rank's :class:`~mpiml.topics.lda.LocalDocs`."""

    name = "tables"

    def __init__(self, comm, local, n_words: int, n_topics: int, kind: str, staleness: int,
                 clock_tokens: int, debug: bool):
        self.V, self.K = int(n_words), int(n_topics)
        self.kind = kind
        self.table = make_table(comm, kind, self.V + 1, self.K, staleness=staleness, debug=debug,
                                name="lda:counts")
        # One contiguous range of rows (from the smallest to the largest local
        # word id) plus the n_k row: the tables then move each clock's rows
        # with one RMA operation per owner instead of one per run of words.
        lo = int(local.words.min()) if local.words.size else 0
        hi = int(local.words.max()) + 1 if local.words.size else 0
        self.words_ = np.arange(lo, hi, dtype=np.int64)
        self.rows_ = np.concatenate([self.words_, [self.V]])
        sub = getattr(self.table, "subscribe", None)
        if sub is not None:   # ESSP pushes only the rows a rank reads
            sub(self.rows_)
        n_max = comm.allreduce_scalar(local.words.size, "max", kind="lda:setup")
        self.step_ = int(clock_tokens) if clock_tokens else max(int(n_max), 1)
        self.clocks_per_sweep = max(1, -(-int(n_max) // self.step_))
        self.nkw = np.zeros((self.V, self.K), dtype=np.int64)
        self.nk = np.zeros(self.K, dtype=np.int64)
        self.dkw = np.zeros((self.V, self.K), dtype=np.int64)
        self.dk = np.zeros(self.K, dtype=np.int64)
        self.p_ = np.empty(self.K)

    def describe(self) -> str:
        return self.table.describe() if self.kind != "bsp" else "bsp"

    def start(self, comm, nkw, nk, sweeps_done: int) -> None:
        """Collective.  Load the exact global counts; the clock is the number of
        clocks of ``sweeps_done`` sweeps."""
        values = np.vstack([nkw, nk[None, :]]).astype(np.float64)
        self.table.load(values, clock=sweeps_done * self.clocks_per_sweep)

    def sweep(self, comm, local, sweep: int, u, alpha: float, beta: float, straggler, after_clock):
        """One sweep over the local tokens in ``clocks_per_sweep`` clocks;
        ``after_clock()`` runs after each clock (debug checks).  Returns
        (tokens changed, staleness histogram)."""
        t, V, K = self.table, self.V, self.K
        hist = np.zeros(STALE_BINS, dtype=np.int64)
        changed = 0
        n = local.words.size
        w = slice(int(self.words_[0]), int(self.words_[-1]) + 1) if self.words_.size else slice(0, 0)
        for c in range(self.clocks_per_sweep):
            straggler.begin_iteration()
            lo, hi = min(c * self.step_, n), min((c + 1) * self.step_, n)
            view = t.get(self.rows_)
            self.nkw[w] = view[:-1].astype(np.int64)
            self.nk[:] = view[-1].astype(np.int64)
            self.dkw[w] = 0
            self.dk[:] = 0
            t0 = time.perf_counter()
            changed += kernels.sweep(np.arange(lo, hi, dtype=np.int64), u[lo:hi], local.words, local.doc_of,
                                     local.z, local.ndk, self.nkw, self.nk, self.dkw, self.dk,
                                     alpha, beta, V * beta, self.p_)
            straggler.delay(time.perf_counter() - t0)
            touched = np.flatnonzero(self.dkw[w].any(axis=1)) + w.start
            if touched.size:
                span = np.arange(touched[0], touched[-1] + 1)
                t.inc(span, self.dkw[span].astype(np.float64))
            if self.dk.any():
                t.inc([V], self.dk[None, :].astype(np.float64))
            t.poll()
            t.clock()
            hist += t.pop_staleness()
            after_clock()
        return changed, hist

    def global_counts(self, comm):
        """Collective.  The exact global ``(n_kw, n_k)`` (every update so far)."""
        snap = self.table.snapshot()
        return snap[:-1].astype(np.int64), snap[-1].astype(np.int64)

    @property
    def clock(self) -> int:
        return int(self.table.clock_)

    def close(self) -> None:
        self.table.close()
