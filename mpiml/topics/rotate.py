"""Model-parallel LDA: word blocks rotating among ranks (STRADS / LightLDA style).

The vocabulary is cut into ``P`` word blocks of about equal token counts
(:func:`~mpiml.topics.blocks.word_blocks`).  Like DSGD's column blocks, the
blocks of ``n_kw`` rows travel between ranks following a stratum schedule of
:mod:`mpiml.mf.schedule` (documents play the rows, word blocks the columns):
in sub-epoch ``s`` of epoch ``e`` rank ``r`` holds block ``stratum(e, s)[r]``
and resamples only its tokens of that block's words, then sends the block's
rows point to point to the rank that holds it next.  One epoch (``P``
sub-epochs) resamples every token once: one sweep.

Staleness.  ``n_kw`` is never stale: a block's rows are held and changed by
one rank at a time.  ``n_dk`` is local.  Only ``n_k`` is shared: a rank
starts each sub-epoch with the exact ``n_k`` (one Allreduce of the previous
sub-epoch's changes) and sees its own changes immediately, but not the other
ranks' changes of the current sub-epoch, so ``n_k`` is stale by at most one
sub-epoch.  On one rank this is exactly serial collapsed Gibbs.
"""

from __future__ import annotations

import time

import numpy as np

from ..mf.schedule import Schedule
from ..consistency import STALE_BINS
from . import kernels
from .blocks import tokens_by_block, word_blocks


class RotateScheme:
    """Collective constructor."""

    name = "rotate"

    def __init__(self, comm, local, n_words: int, n_topics: int, order: str, seed: int):
        self.V, self.K, self.P = int(n_words), int(n_topics), comm.size
        freq = comm.allreduce(np.bincount(local.words, minlength=self.V).astype(np.int64), kind="lda:setup")
        self.offsets = word_blocks(freq, self.P)
        self.by_block = tokens_by_block(local.words, self.offsets)
        self.schedule = Schedule(order, self.P, 1, seed)
        self.clocks_per_sweep = self.P
        self.nkw = np.zeros((self.V, self.K), dtype=np.int64)
        self.nk = np.zeros(self.K, dtype=np.int64)
        self.dkw = np.zeros((self.V, self.K), dtype=np.int64)   # unused changes of n_kw
        self.dk = np.zeros(self.K, dtype=np.int64)
        self.p_ = np.empty(self.K)
        self.clock_ = 0
        self.held_ = 0

    def describe(self) -> str:
        return f"rotate ({self.P} word blocks, {self.schedule.order})"

    def start(self, comm, nkw, nk, sweeps_done: int) -> None:
        """Collective.  Exact global counts; this rank keeps the rows of the
        block it holds at the start of epoch ``sweeps_done``."""
        self.nkw[:] = 0
        self.held_ = self.schedule.held(sweeps_done, 0, comm.rank)[0]
        lo, hi = self.offsets[self.held_], self.offsets[self.held_ + 1]
        self.nkw[lo:hi] = nkw[lo:hi]
        self.nk[:] = nk
        self.clock_ = sweeps_done * self.P

    def sweep(self, comm, local, sweep: int, u, alpha: float, beta: float, straggler, after_clock):
        rank, P, K = comm.rank, self.P, self.K
        changed, pos = 0, 0
        for s in range(P):
            straggler.begin_iteration()
            b = self.schedule.held(sweep, s, rank)[0]
            assert b == self.held_, "rotation schedule and held block disagree"
            idx = self.by_block[b]
            self.dk[:] = 0
            nk0 = self.nk.copy()
            t0 = time.perf_counter()
            changed += kernels.sweep(idx, u[pos:pos + idx.size], local.words, local.doc_of, local.z,
                                     local.ndk, self.nkw, self.nk, self.dkw, self.dk, alpha, beta,
                                     self.V * beta, self.p_)
            straggler.delay(time.perf_counter() - t0)
            pos += idx.size
            self.nk[:] = nk0 + comm.allreduce(self.dk, kind="lda:nk")
            self._move(comm, sweep, s, b)
            self.clock_ += 1
            after_clock()
        self.dkw[:] = 0
        hist = np.zeros(STALE_BINS, dtype=np.int64)
        return changed, hist

    def _move(self, comm, epoch: int, sub: int, b: int) -> None:
        """Collective.  Send the held block's rows to their next holder."""
        m = self.schedule.moves(epoch, sub, comm.rank)
        K, off = self.K, self.offsets
        sends = {dst: self.nkw[off[blocks[0]]:off[blocks[0] + 1]].reshape(-1)
                 for dst, blocks in m.sends.items()}
        recv = {src: (int(off[blocks[0] + 1] - off[blocks[0]]) * K, np.int64)
                for src, blocks in m.recvs.items()}
        got = comm.exchange(sends, recv, kind="lda:rotate")
        for dst in m.sends:
            self.nkw[off[b]:off[b + 1]] = 0
        for src, buf in got.items():
            nb = m.recvs[src][0]
            self.nkw[off[nb]:off[nb + 1]] = buf.reshape(-1, K)
            self.held_ = nb
        if not m.sends and not m.recvs:
            self.held_ = b

    def global_counts(self, comm):
        """Collective.  Every block's rows from its holder (one Allreduce)."""
        lo, hi = self.offsets[self.held_], self.offsets[self.held_ + 1]
        part = np.zeros((self.V, self.K), dtype=np.int64)
        part[lo:hi] = self.nkw[lo:hi]
        return comm.allreduce(part, kind="lda:gather"), self.nk.copy()

    @property
    def clock(self) -> int:
        return self.clock_

    def close(self) -> None:
        pass
