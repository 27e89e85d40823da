"""IBM Model 1 model math, independent of MPI.

IBM Model 1 (Brown et al. 1993) models p(target | source) with translation
probabilities theta_st = p(t | s), a uniform alignment distribution over the
source positions and an optional NULL source word (id 0).  EM maximises the
likelihood of the target sentences given the source sentences.

Following Wolfe, Haghighi & Klein, "Fully Distributed EM for Very Large
Datasets" (ICML 2008), a rank holds theta only for the (s, t) pairs that
co-occur in its own sentence pairs (NULL included), and the E-step also emits
the redundant totals eta_s = sum_t eta_st, so the M-step theta_st = eta_st /
eta_s needs only statistics the rank itself holds once they are complete.

Key spaces (:class:`mpiml.em.keys.KeySpace`, shared with the planner): a
parameter (s, t) has the int64 key ``s * n_tgt + t``; the total of source
word s has the key ``n_src * n_tgt + s``, above every parameter key, so both
kinds of statistic can travel in one sorted key list.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..partition import block_range
from . import kernels
from .keys import KeySpace  # noqa: F401  (the key space; importable from here too)

NULL_ID = 0


@dataclass
class LocalParams:
    """The parameters one rank holds and the index arrays the kernels need.

    Attributes
    ----------
    space : KeySpace
    null : bool
        Whether the NULL source word takes part.
    keys : int64 array, sorted
        Parameter keys ``s * n_tgt + t`` of every co-occurring pair.
    idx : int32 array
        Position in ``keys`` of every token pair (kernel layout).
    src_words : int64 array, sorted
        Source words among ``keys``; ``seg_ptr`` delimits their key runs.
    """

    space: KeySpace
    null: bool
    keys: np.ndarray
    idx: np.ndarray
    src_words: np.ndarray
    seg_ptr: np.ndarray
    stat: np.ndarray | None = None    # stat_keys, when keys is a view of its front

    @property
    def n_params(self) -> int:
        return int(self.keys.size)

    @property
    def param_src(self) -> np.ndarray:
        """Position in ``src_words`` of each parameter's source word (built on demand)."""
        return np.repeat(np.arange(self.src_words.size, dtype=np.int64), np.diff(self.seg_ptr))

    @property
    def stat_keys(self) -> np.ndarray:
        """Sorted keys of every statistic this rank holds: eta_st then eta_s."""
        if self.stat is not None:
            return self.stat
        return np.concatenate([self.keys, self.space.total_key(self.src_words)])

    def split_stats(self, stats: np.ndarray):
        """Split an array aligned with :attr:`stat_keys` into (eta_st, eta_s)."""
        return stats[:self.n_params], stats[self.n_params:]


def build_local_params(corpus, null: bool = True) -> LocalParams:
    """Local parameter set and kernel indices for ``corpus`` (one rank's pairs).

    ``corpus`` needs ``src, src_ptr, tgt, tgt_ptr`` (CSR, ids) and the global
    vocabulary sizes ``n_src`` (NULL included) and ``n_tgt``.  Linear in the
    token pairs (:func:`mpiml.em.kernels.local_params`); no key array per
    token pair is ever built.
    """
    space = KeySpace(corpus.n_src, corpus.n_tgt)
    nul = 1 if null else 0
    tp_ptr = kernels.token_pair_ptr(corpus.src_ptr, corpus.tgt_ptr, nul)
    src_words, seg_ptr, tgt_of, idx = kernels.local_params(
        corpus.src, corpus.src_ptr, corpus.tgt, corpus.tgt_ptr, space.n_src, space.n_tgt, nul,
        tp_ptr)
    if tgt_of.size >= 2 ** 31:
        raise ValueError("more than 2**31 local parameters on one rank; use more ranks")
    stat = np.empty(tgt_of.size + src_words.size, dtype=np.int64)
    kernels.segment_keys(src_words, seg_ptr, tgt_of, space.n_tgt, stat[:tgt_of.size])
    del tgt_of
    stat[stat.size - src_words.size:] = space.total_key(src_words)
    return LocalParams(space, bool(null), stat[:stat.size - src_words.size], idx, src_words,
                       seg_ptr, stat)


def slice_lines(corpus, lo: int, hi: int):
    """The pairs of ``corpus`` on global lines ``[lo, hi)`` (shares the vocabulary).

    With :func:`mpiml.partition.block_range` over ``corpus.n_lines`` this is
    exactly what the reader gives each rank, so a whole corpus read on one
    process can stand in for many simulated ranks.
    """
    a, b = np.searchsorted(corpus.line_index, [lo, hi])
    sub = copy.copy(corpus)
    sub.src = corpus.src[corpus.src_ptr[a]:corpus.src_ptr[b]]
    sub.src_ptr = corpus.src_ptr[a:b + 1] - corpus.src_ptr[a]
    sub.tgt = corpus.tgt[corpus.tgt_ptr[a]:corpus.tgt_ptr[b]]
    sub.tgt_ptr = corpus.tgt_ptr[a:b + 1] - corpus.tgt_ptr[a]
    sub.line_index = corpus.line_index[a:b]
    sub.line_lo, sub.line_hi = int(lo), int(hi)
    return sub


def simulated_stat_keys(corpus, size: int, null: bool = True) -> list:
    """Statistic keys of each of ``size`` simulated ranks (input of :func:`plan.make_plan`)."""
    out = []
    for r in range(size):
        lo, hi = block_range(corpus.n_lines, size, r)
        out.append(build_local_params(slice_lines(corpus, lo, hi), null).stat_keys)
    return out


def uniform_theta(params: LocalParams) -> np.ndarray:
    """Initial theta_st = 1 / n_tgt (uniform over the whole target vocabulary)."""
    return np.full(params.n_params, 1.0 / params.space.n_tgt)


def estep(params: LocalParams, corpus, theta: np.ndarray):
    """Local E-step: returns ``(eta_st, eta_s, loglik)`` for this rank's pairs."""
    counts = np.zeros(params.n_params)
    ll = kernels.estep(theta, params.idx, corpus.src_ptr, corpus.tgt_ptr,
                       1 if params.null else 0, counts)
    return counts, kernels.segment_sums(counts, params.seg_ptr), float(ll)


def estep_stats(params: LocalParams, corpus, theta: np.ndarray):
    """Local E-step into one array aligned with :attr:`LocalParams.stat_keys`
    (eta_st then eta_s, no concatenation copy); returns ``(stats, loglik)``."""
    stats = np.zeros(params.n_params + params.src_words.size)
    counts = stats[:params.n_params]
    ll = kernels.estep(theta, params.idx, corpus.src_ptr, corpus.tgt_ptr,
                       1 if params.null else 0, counts)
    kernels.segment_sums_into(counts, params.seg_ptr, stats[params.n_params:])
    return stats, float(ll)


def mstep(eta_st: np.ndarray, eta_s: np.ndarray, params: LocalParams, out=None) -> np.ndarray:
    """theta_st = eta_st / eta_s, with global eta_st and eta_s for own keys.

    ``out`` may be ``eta_st`` itself (each entry is read once, then written)."""
    # The kernel indexes without bounds checks: a wrongly shaped input would
    # read past the array (a segfault), so check the shapes here.
    n_words = params.seg_ptr.size - 1
    if eta_st.shape != (params.n_params,) or eta_s.shape != (n_words,):
        raise ValueError(f"mstep: eta_st {eta_st.shape} / eta_s {eta_s.shape}, expected "
                         f"({params.n_params},) / ({n_words},)")
    if out is None:
        out = np.empty(params.n_params)
    kernels.mstep_segments(eta_st, eta_s, params.seg_ptr, out)
    return out


def viterbi(params: LocalParams, corpus, theta: np.ndarray) -> np.ndarray:
    """Best source position per target token (-1 = NULL), parallel to ``corpus.tgt``."""
    return kernels.viterbi(theta, params.idx, corpus.src_ptr, corpus.tgt_ptr,
                           1 if params.null else 0)


def pharaoh_lines(corpus, best: np.ndarray) -> list[str]:
    """Pharaoh ``i-j`` lines (0-based source-target) for the rank's line range.

    One string per corpus line in ``[corpus.line_lo, corpus.line_hi)``;
    pairs skipped by the reader (empty lines) give an empty string, so the
    output stays line-parallel with the input.
    """
    out = [""] * (corpus.line_hi - corpus.line_lo)
    tp = corpus.tgt_ptr
    for n, line in enumerate(corpus.line_index):
        b = best[tp[n]:tp[n + 1]]
        out[int(line) - corpus.line_lo] = " ".join(
            f"{i}-{j}" for j, i in enumerate(b.tolist()) if i >= 0)
    return out


def topk_entries(keys: np.ndarray, theta: np.ndarray, n_tgt: int, k: int):
    """Top-``k`` targets per source word among the given entries.

    Returns ``(s, t, prob)`` sorted by source id, then probability
    descending, then target id (a deterministic order).  Duplicate keys
    (the same parameter from several ranks) are kept once.
    """
    keys = np.asarray(keys, dtype=np.int64)
    theta = np.asarray(theta, dtype=np.float64)
    keys, first = np.unique(keys, return_index=True)
    theta = theta[first]
    s, t = keys // n_tgt, keys % n_tgt
    order = np.lexsort((t, -theta, s))
    s, t, theta = s[order], t[order], theta[order]
    if s.size == 0:
        return s, t, theta
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    rank_in_group = np.arange(s.size) - np.repeat(starts, np.diff(np.r_[starts, s.size]))
    keep = rank_in_group < k
    return s[keep], t[keep], theta[keep]


def format_ttable(s, t, prob, src_vocab, tgt_vocab) -> str:
    """TSV lines ``source<TAB>target<TAB>probability`` (probability as %.8g)."""
    return "".join(f"{src_vocab[a]}\t{tgt_vocab[b]}\t{p:.8g}\n"
                   for a, b, p in zip(s.tolist(), t.tolist(), prob.tolist()))


class IBM1:
    """Serial IBM Model 1 trained by EM on one process (no communication).

    Parameters
    ----------
    n_iter : int
        EM iterations.
    null : bool
        Include the NULL source word.

    Attributes
    ----------
    params_ : LocalParams
    theta_ : ndarray, aligned with ``params_.keys``
    loglik_ : list of float, log-likelihood under theta before each update
    """

    def __init__(self, n_iter: int = 5, null: bool = True):
        self.n_iter = n_iter
        self.null = null

    def fit(self, corpus) -> "IBM1":
        """The distributed iteration (:class:`mpiml.em.distributed.DistributedIBM1`)
        on a one-rank communicator: no plan messages, the same kernels."""
        from ..comm.serial import SerialComm
        from .distributed import DistributedIBM1
        model = DistributedIBM1(SerialComm(), "allpairs", null=self.null).setup(corpus)
        self.loglik_ = [model.iterate().loglik for _ in range(self.n_iter)]
        self.params_, self.theta_ = model.params_, model.theta_
        return self

    def align(self, corpus) -> list[str]:
        """Viterbi alignments as Pharaoh lines (corpus must match the fit)."""
        return pharaoh_lines(corpus, viterbi(self.params_, corpus, self.theta_))
