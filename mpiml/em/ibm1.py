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

from ..errors import InputError
from ..partition import block_range
from . import kernels
from .keys import KeySpace  # noqa: F401  (the key space; importable from here too)

NULL_ID = 0


# int32 holds every position the kernels store (parameters, pairs, word ids);
# the limit is a module attribute so tests can lower it.
INDEX_LIMIT = 2 ** 31 - 1

# A parameter's target word is stored as uint16 when every target id fits
# (vocabularies of at most 65,536 words, usual for one side of a corpus):
# 2 bytes per parameter instead of 4.  A module attribute so tests can force
# the int32 layout; the kernels read either and give the same bits.
UINT16_TARGETS = 2 ** 16


# Floating types of theta and the statistics (``--dtype``).  float32 halves
# theta, the counts, the E-step's per-token buffer and the C-step messages;
# its long sums are float64, rounded once (see kernels.estep_word_major_f32).
FLOAT_TYPES = {"float64": np.float64, "float32": np.float32}

# Target tokens per block of the float32 word-major E-step's first pass (its
# float64 denominators: 4 MiB); a module attribute so tests can use small
# blocks.  Fewer, larger blocks scatter theta fewer times; at 300k pairs
# (6.7M target tokens) blocks of 2^18-2^20 tokens gave the same E-step CPU
# time within the machine's noise, 2^16 a slower one.
F32_BLOCK_TOKENS = 2 ** 19


def float_type(dtype) -> np.dtype:
    """``np.dtype`` of a ``--dtype`` name or type; ValueError for anything
    but float64 and float32."""
    dt = np.dtype(FLOAT_TYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype)
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"theta's type must be float64 or float32, not {dt}")
    return dt


def target_dtype(n_tgt: int):
    """Storage type of the parameters' target ids for a vocabulary of ``n_tgt``."""
    return np.uint16 if n_tgt <= UINT16_TARGETS else np.int32


def position_dtype(max_len: int):
    """Smallest type holding the positions 0..max_len-1 of a sentence's tokens."""
    return np.uint8 if max_len <= 2 ** 8 else np.uint16 if max_len <= 2 ** 16 else np.int32


def compact_corpus(corpus, in_place: bool = False):
    """``corpus`` with target ids as uint16 when the vocabulary fits
    (:data:`UINT16_TARGETS`): 2 bytes per target token instead of 4; the
    kernels read either type and give the same bits.  A shallow copy, or
    with ``in_place`` the same object (its old ids are freed at once)."""
    out = corpus if in_place else copy.copy(corpus)
    if corpus.n_tgt <= UINT16_TARGETS and corpus.tgt.dtype != np.uint16:
        out.tgt = corpus.tgt.astype(np.uint16)
    return out


@dataclass
class LocalParams:
    """The parameters one rank holds and the index arrays the kernels need.

    Parameters are stored per source word: word ``src_words[g]`` has the
    parameters ``seg_ptr[g]:seg_ptr[g+1]``, with target words ``tgt_of``
    (uint16 when the target vocabulary fits, else int32; :func:`target_dtype`),
    sorted within a word, i.e. key order ``s * n_tgt + t``.  The int64 keys
    are built on demand (:attr:`keys`, :attr:`stat_keys`), so a rank holds 2
    or 4 bytes per parameter for them, not 8.

    Attributes
    ----------
    space : KeySpace
    null : bool
        Whether the NULL source word takes part.
    src_words, seg_ptr : int64 arrays
    tgt_of : uint16 or int32 array
    idx : int32 array or None
        Position of every token pair's parameter (kernel layout); None with
        ``low_memory``.
    occ : (occ_ptr, occ_pair, occ_pos) or None
        The source tokens sorted by word (:func:`kernels.source_occurrences`),
        kept for the low-memory E-step; ``occ_pos`` (each token's position in
        its sentence, uint8 when sentences have at most 256 source tokens)
        holds what Viterbi needs, so the corpus' own source ids can be
        released (:class:`mpiml.em.distributed.DistributedIBM1` does).
    low_memory : bool
    """

    space: KeySpace
    null: bool
    src_words: np.ndarray
    seg_ptr: np.ndarray
    tgt_of: np.ndarray
    idx: np.ndarray | None = None
    occ: tuple | None = None
    low_memory: bool = False

    @property
    def n_params(self) -> int:
        return int(self.tgt_of.size)

    @property
    def n_words(self) -> int:
        return int(self.src_words.size)

    @property
    def keys(self) -> np.ndarray:
        """Sorted int64 parameter keys ``s * n_tgt + t`` (a new array)."""
        out = np.empty(self.n_params, dtype=np.int64)
        kernels.segment_keys(self.src_words, self.seg_ptr, self.tgt_of, self.space.n_tgt, out)
        return out

    @property
    def param_src(self) -> np.ndarray:
        """Position in ``src_words`` of each parameter's source word (built on demand)."""
        return np.repeat(np.arange(self.src_words.size, dtype=np.int64), np.diff(self.seg_ptr))

    @property
    def stat_keys(self) -> np.ndarray:
        """Sorted keys of every statistic this rank holds: eta_st then eta_s (a new array)."""
        out = np.empty(self.n_params + self.n_words, dtype=np.int64)
        kernels.segment_keys(self.src_words, self.seg_ptr, self.tgt_of, self.space.n_tgt,
                             out[:self.n_params])
        out[self.n_params:] = self.space.total_key(self.src_words)
        return out

    def split_stats(self, stats: np.ndarray):
        """Split an array aligned with :attr:`stat_keys` into (eta_st, eta_s)."""
        return stats[:self.n_params], stats[self.n_params:]

    def new_stats(self, dtype=np.float64) -> np.ndarray:
        """An uninitialised array (float64 or float32) aligned with :attr:`stat_keys`."""
        return np.empty(self.n_params + self.n_words, dtype=dtype)


def _index_error(corpus, what: str):
    lines = ""
    if getattr(corpus, "line_index", None) is not None and corpus.line_index.size:
        lines = f" (lines {int(corpus.line_index[0]) + 1}-{int(corpus.line_index[-1]) + 1})"
    paths = getattr(corpus, "paths", ())
    return InputError(f"this rank's sentence pairs{lines} have {what}: int32 indices hold at "
                      f"most {INDEX_LIMIT}; use more ranks",
                      paths[0] if paths else None)


def build_local_params(corpus, null: bool = True, low_memory: bool = False) -> LocalParams:
    """Local parameter set and kernel indices for ``corpus`` (one rank's pairs).

    ``corpus`` needs ``src, src_ptr, tgt, tgt_ptr`` (CSR, ids) and the global
    vocabulary sizes ``n_src`` (NULL included) and ``n_tgt``.  Linear in the
    token pairs (:func:`mpiml.em.kernels.local_params`); no key array per
    token pair is ever built.  With ``low_memory`` no token-pair index is
    built either; the sorted source tokens are kept instead (4 bytes per
    source token).  Raises InputError (naming the lines) when a count would
    not fit the int32 indices.
    """
    space = KeySpace(corpus.n_src, corpus.n_tgt)
    for what, n in (("source words", space.n_src), ("target words", space.n_tgt),
                    ("sentence pairs", corpus.src_ptr.size - 1)):
        if n > INDEX_LIMIT:
            raise _index_error(corpus, f"{n} {what}")
    nul = 1 if null else 0
    occ_ptr, occ_pair, occ_pos = kernels.source_occurrences(corpus.src, corpus.src_ptr, space.n_src)
    if low_memory:
        lens = np.diff(corpus.src_ptr)
        occ_pos = occ_pos.astype(position_dtype(int(lens.max()) if lens.size else 0))
    else:
        del occ_pos
    tp_ptr = (kernels.token_pair_ptr(corpus.src_ptr, corpus.tgt_ptr, nul) if not low_memory
              else np.zeros(1, np.int64))
    tu, uptr = kernels.pair_targets(corpus.tgt, corpus.tgt_ptr, space.n_tgt)
    # Capacity by an upper bound: pages of np.empty that are never written
    # are never resident, and resize() shrinks the block in place (realloc),
    # so neither a doubling buffer nor a final copy is paid.
    tgt_of = np.empty(kernels.param_bound(occ_ptr, occ_pair, uptr, space.n_tgt, nul),
                      dtype=target_dtype(space.n_tgt))
    src_words, seg_ptr, n_params, idx = kernels.local_params(
        corpus.src_ptr, corpus.tgt, corpus.tgt_ptr, space.n_tgt, nul, occ_ptr, occ_pair, tgt_of,
        tp_ptr, not low_memory, INDEX_LIMIT, tu, uptr)
    del tp_ptr, tu, uptr
    if n_params < 0:
        raise _index_error(corpus, f"more than {INDEX_LIMIT} parameters (co-occurring word pairs)")
    tgt_of.resize(int(n_params), refcheck=False)
    if low_memory:
        return LocalParams(space, bool(null), src_words, seg_ptr, tgt_of, None,
                           (occ_ptr, occ_pair, occ_pos), True)
    return LocalParams(space, bool(null), src_words, seg_ptr, tgt_of, idx)


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
        # keys only: no token-pair index (the same keys, 4 bytes less per token pair)
        out.append(build_local_params(slice_lines(corpus, lo, hi), null, low_memory=True).stat_keys)
    return out


def uniform_theta(params: LocalParams, dtype=np.float64) -> np.ndarray:
    """Initial theta_st = 1 / n_tgt (uniform over the whole target vocabulary),
    in ``dtype`` (float64 or float32: the float64 quotient rounded once).

    A view of the front of a :meth:`LocalParams.new_stats` array, so the
    low-memory E-step can write the totals behind it."""
    stats = params.new_stats(float_type(dtype))
    theta = stats[:params.n_params]
    theta.fill(1.0 / params.space.n_tgt)
    return theta


def _stats_behind(params: LocalParams, theta: np.ndarray) -> np.ndarray:
    """The stats array whose front ``theta`` is, or a new one holding a copy."""
    base = theta.base
    if (isinstance(base, np.ndarray) and base.dtype == theta.dtype and base.ndim == 1
            and base.size == params.n_params + params.n_words and base.flags.c_contiguous
            and theta.flags.c_contiguous and base.ctypes.data == theta.ctypes.data):
        return base
    stats = params.new_stats(theta.dtype)
    stats[:params.n_params] = theta
    return stats


def _estep_into(params: LocalParams, corpus, theta: np.ndarray):
    """(stats, loglik): eta_st then eta_s in one array, of theta's type.  The
    low-memory E-step overwrites ``theta`` (it is the front of the returned
    array).  With a float32 theta the counts and totals are float64 sums
    rounded once to float32, so both E-steps give the same bits in either type."""
    nul = 1 if params.null else 0
    f32 = float_type(theta.dtype) == np.float32
    if params.low_memory:
        stats = _stats_behind(params, theta)
        counts = stats[:params.n_params]
        occ_ptr, occ_pair = params.occ[:2]
        if f32:
            ll = kernels.estep_word_major_f32(counts, params.src_words, params.seg_ptr,
                                              params.tgt_of, occ_ptr, occ_pair, corpus.src_ptr,
                                              corpus.tgt, corpus.tgt_ptr, nul, params.space.n_tgt,
                                              F32_BLOCK_TOKENS)
        else:
            ll = kernels.estep_low_memory(counts, params.src_words, params.seg_ptr, params.tgt_of,
                                          occ_ptr, occ_pair, corpus.src_ptr, corpus.tgt,
                                          corpus.tgt_ptr, nul, params.space.n_tgt)
    else:
        stats = params.new_stats(theta.dtype)
        counts = stats[:params.n_params]
        # the indexed kernel adds into its counts: float64 for a float32
        # theta (a float32 running sum over many token pairs loses
        # increments), rounded once into the float32 statistics
        acc = counts if not f32 else np.zeros(params.n_params)
        acc.fill(0.0)
        ll = kernels.estep(theta, params.idx, corpus.src_ptr, corpus.tgt_ptr, nul, acc)
        if f32:
            counts[:] = acc
            del acc
    kernels.segment_sums_into(counts, params.seg_ptr, stats[params.n_params:])
    return stats, float(ll)


def estep(params: LocalParams, corpus, theta: np.ndarray):
    """Local E-step: returns ``(eta_st, eta_s, loglik)`` for this rank's pairs.

    With ``params.low_memory`` theta is overwritten by eta_st (and returned)."""
    stats, ll = _estep_into(params, corpus, theta)
    return stats[:params.n_params], stats[params.n_params:], ll


def estep_stats(params: LocalParams, corpus, theta: np.ndarray):
    """Local E-step into one array aligned with :attr:`LocalParams.stat_keys`
    (eta_st then eta_s, no concatenation copy); returns ``(stats, loglik)``.

    With ``params.low_memory`` the array is theta's own storage when theta
    came from :func:`uniform_theta` or :func:`mstep` on such an array (theta
    is overwritten), so a rank holds one float64 per statistic, not two."""
    return _estep_into(params, corpus, theta)


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
        out = np.empty(params.n_params, dtype=eta_st.dtype)
    kernels.mstep_segments(eta_st, eta_s, params.seg_ptr, out)
    return out


def viterbi(params: LocalParams, corpus, theta: np.ndarray) -> np.ndarray:
    """Best source position per target token (-1 = NULL), parallel to ``corpus.tgt``."""
    if theta.shape != (params.n_params,):
        raise ValueError(f"viterbi: theta {theta.shape}, expected ({params.n_params},)")
    if params.occ is not None:      # the low-memory layout keeps the positions
        occ_ptr, occ_pair, occ_pos = params.occ
    else:
        occ_ptr, occ_pair, occ_pos = kernels.source_occurrences(corpus.src, corpus.src_ptr,
                                                                params.space.n_src)
    return kernels.viterbi(theta, params.src_words, params.seg_ptr, params.tgt_of, occ_ptr,
                           occ_pair, occ_pos, corpus.tgt_ptr, corpus.tgt, params.space.n_tgt)


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
    dtype : {"float64", "float32"}
        Type of theta and the statistics.

    Attributes
    ----------
    params_ : LocalParams
    theta_ : ndarray, aligned with ``params_.keys``
    loglik_ : list of float, log-likelihood under theta before each update
    """

    def __init__(self, n_iter: int = 5, null: bool = True, dtype: str = "float64"):
        self.n_iter = n_iter
        self.null = null
        self.dtype = dtype

    def fit(self, corpus) -> "IBM1":
        """The distributed iteration (:class:`mpiml.em.distributed.DistributedIBM1`)
        on a one-rank communicator: no plan messages, the same kernels."""
        from ..comm.serial import SerialComm
        from .distributed import DistributedIBM1
        model = DistributedIBM1(SerialComm(), "allpairs", null=self.null,
                                dtype=self.dtype).setup(corpus)
        self.loglik_ = [model.iterate().loglik for _ in range(self.n_iter)]
        self.params_, self.theta_ = model.params_, model.theta_
        return self

    def align(self, corpus) -> list[str]:
        """Viterbi alignments as Pharaoh lines (corpus must match the fit)."""
        return pharaoh_lines(corpus, viterbi(self.params_, corpus, self.theta_))
