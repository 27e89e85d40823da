"""The low-memory E-step (no token-pair index) gives the indexed E-step's bits;
compact parameter storage; int32 index limits are clear errors."""

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em import ibm1
from mpiml.errors import InputError
from mpiml.io.corpus import encode_pairs
from tests.naive.ibm1 import ibm1_dense
from tests.unit.em.test_kernels import dense_at, hand_corpus


def corpora():
    src, tgt = hand_corpus()
    yield "hand", src, tgt
    sp = synthetic_parallel(120, n_words=40, seed=3, p_spurious=0.3)
    # repeated source and target words inside sentences
    yield "synthetic", [s + s[:2] for s in sp.src_sents], [t + t[-1:] for t in sp.tgt_sents]


@pytest.mark.parametrize("null", [True, False])
@pytest.mark.parametrize("name,src,tgt", list(corpora()))
def test_low_memory_estep_is_bit_identical_and_matches_reference(name, src, tgt, null):
    corpus = encode_pairs(src, tgt)
    n_iter = 5
    si, ti, thetas, lls = ibm1_dense(src, tgt, n_iter, null=null)
    full = ibm1.build_local_params(corpus, null)
    low = ibm1.build_local_params(corpus, null, low_memory=True)
    assert low.idx is None and full.idx is not None
    assert np.array_equal(full.keys, low.keys) and np.array_equal(full.seg_ptr, low.seg_ptr)
    th_full, th_low = ibm1.uniform_theta(full), ibm1.uniform_theta(low)
    for it in range(n_iter):
        s_full, ll_full = ibm1.estep_stats(full, corpus, th_full)
        s_low, ll_low = ibm1.estep_stats(low, corpus, th_low)
        assert ll_full == ll_low
        assert np.array_equal(s_full, s_low)
        # the low-memory E-step wrote its counts into theta's own storage
        assert np.shares_memory(s_low, th_low)
        n = full.n_params
        th_full = ibm1.mstep(s_full[:n], s_full[n:], full, out=s_full[:n])
        th_low = ibm1.mstep(s_low[:n], s_low[n:], low, out=s_low[:n])
        assert np.array_equal(th_full, th_low)
        np.testing.assert_allclose(th_low, dense_at(corpus, low.keys, si, ti, thetas[it]),
                                   rtol=1e-12, atol=0)
        assert ll_low == pytest.approx(lls[it], rel=1e-12)
    assert np.array_equal(ibm1.viterbi(full, corpus, th_full), ibm1.viterbi(low, corpus, th_low))


def test_low_memory_estep_copies_a_theta_without_room():
    # e.g. theta restored from a checkpoint: a plain array of n_params values
    src, tgt = hand_corpus()
    corpus = encode_pairs(src, tgt)
    low = ibm1.build_local_params(corpus, low_memory=True)
    theta = np.linspace(0.1, 0.9, low.n_params)
    keep = theta.copy()
    stats, ll = ibm1.estep_stats(low, corpus, theta)
    assert np.array_equal(theta, keep)             # not overwritten: it had no room for totals
    full = ibm1.build_local_params(corpus)
    want, ll_want = ibm1.estep_stats(full, corpus, theta)
    assert ll == ll_want and np.array_equal(stats, want)


def test_parameters_are_stored_compactly():
    sp = synthetic_parallel(60, n_words=30, seed=2)
    corpus = encode_pairs(sp.src_sents, sp.tgt_sents)
    for low in (False, True):
        p = ibm1.build_local_params(corpus, low_memory=low)
        # a vocabulary below 65,536 words: 2 bytes per parameter
        assert p.tgt_of.dtype == np.uint16 and p.tgt_of.flags.owndata
        assert p.idx is None or p.idx.dtype == np.int32
        keys = p.keys
        assert keys.dtype == np.int64 and np.all(np.diff(keys) > 0)
        assert np.array_equal(keys % corpus.n_tgt, p.tgt_of)
        assert np.array_equal(p.stat_keys[:p.n_params], keys)
        assert np.array_equal(p.stat_keys[p.n_params:], p.space.total_key(p.src_words))
        # every co-occurring (s, t) and nothing else (NULL co-occurs with every target)
        want = {(0, t) for t in corpus.tgt.tolist()}
        for n in range(corpus.n_pairs):
            for s in corpus.src[corpus.src_ptr[n]:corpus.src_ptr[n + 1]].tolist():
                for t in corpus.tgt[corpus.tgt_ptr[n]:corpus.tgt_ptr[n + 1]].tolist():
                    want.add((s, t))
        assert sorted(want) == list(zip((keys // corpus.n_tgt).tolist(), p.tgt_of.tolist()))


@pytest.mark.parametrize("low", [False, True])
def test_int32_targets_give_the_same_bits(monkeypatch, low):
    # vocabularies above the uint16 limit store int32 targets: same keys,
    # theta, log-likelihoods and alignments as the uint16 layout
    sp = synthetic_parallel(80, n_words=40, seed=5)
    corpus = encode_pairs(sp.src_sents, sp.tgt_sents)
    narrow = ibm1.build_local_params(corpus, low_memory=low)
    monkeypatch.setattr(ibm1, "UINT16_TARGETS", corpus.n_tgt - 1)
    wide = ibm1.build_local_params(corpus, low_memory=low)
    assert narrow.tgt_of.dtype == np.uint16 and wide.tgt_of.dtype == np.int32
    assert np.array_equal(narrow.keys, wide.keys) and np.array_equal(narrow.tgt_of, wide.tgt_of)
    if not low:
        assert np.array_equal(narrow.idx, wide.idx)
    th = [ibm1.uniform_theta(narrow), ibm1.uniform_theta(wide)]
    for _ in range(3):
        out = [ibm1.estep_stats(p, corpus, t) for p, t in zip((narrow, wide), th)]
        assert out[0][1] == out[1][1] and np.array_equal(out[0][0], out[1][0])
        n = narrow.n_params
        th = [ibm1.mstep(s[:n], s[n:], p, out=s[:n]) for (s, _), p in zip(out, (narrow, wide))]
    assert np.array_equal(ibm1.viterbi(narrow, corpus, th[0]), ibm1.viterbi(wide, corpus, th[1]))


@pytest.mark.parametrize("low", [False, True])
def test_index_overflow_is_a_clear_error(monkeypatch, low):
    sp = synthetic_parallel(40, n_words=30, seed=1)
    corpus = encode_pairs(sp.src_sents, sp.tgt_sents, line_lo=10, n_lines=60)
    corpus.paths = ("corpus.e", "corpus.f")
    n_params = ibm1.build_local_params(corpus).n_params
    assert n_params > 200
    monkeypatch.setattr(ibm1, "INDEX_LIMIT", n_params - 1)
    with pytest.raises(InputError, match=rf"^corpus.e: this rank's sentence pairs \(lines 11-50\) have "
                                         rf"more than {n_params - 1} parameters .*int32.*use more ranks"):
        ibm1.build_local_params(corpus, low_memory=low)
    monkeypatch.setattr(ibm1, "INDEX_LIMIT", n_params)     # exactly at the limit: fine
    assert ibm1.build_local_params(corpus, low_memory=low).n_params == n_params
    monkeypatch.setattr(ibm1, "INDEX_LIMIT", corpus.n_src - 1)
    with pytest.raises(InputError, match=rf"have {corpus.n_src} source words: int32 indices hold at "
                                         rf"most {corpus.n_src - 1}"):
        ibm1.build_local_params(corpus, low_memory=low)


@pytest.mark.parametrize("low", [False, True])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_theta_is_a_numerical_error(low, bad):
    from mpiml.comm.serial import SerialComm
    from mpiml.em.distributed import DistributedIBM1
    from mpiml.errors import NumericalError
    src, tgt = hand_corpus()
    m = DistributedIBM1(SerialComm(), "allpairs", low_memory=low).setup(encode_pairs(src, tgt))
    m.iterate()
    m.theta_[3] = bad
    with pytest.raises(NumericalError, match="non-finite theta after iteration 2"):
        m.iterate()


@pytest.mark.parametrize("long_sentence", [False, True])
def test_word_major_model_holds_compact_corpus_and_aligns_like_indexed(long_sentence):
    """The default (word-major) model keeps uint16 target ids and no source ids
    (positions as uint8, or uint16 past 256 tokens), leaves the caller's corpus
    alone, and gives the indexed model's theta and alignments bit for bit."""
    from mpiml.comm.serial import SerialComm
    from mpiml.em.distributed import DistributedIBM1
    sp = synthetic_parallel(60, n_words=30, seed=4)
    src, tgt = list(sp.src_sents), list(sp.tgt_sents)
    if long_sentence:
        src[7] = (list(src[7]) * 80)[:300]
        assert len(src[7]) == 300
    corpus = encode_pairs(src, tgt)
    keep = (corpus.src.copy(), corpus.tgt.copy(), corpus.tgt.dtype)
    low = DistributedIBM1(SerialComm(), "allpairs").fit(corpus, 3)
    full = DistributedIBM1(SerialComm(), "allpairs", low_memory=False).fit(corpus, 3)
    assert np.array_equal(corpus.src, keep[0]) and np.array_equal(corpus.tgt, keep[1])
    assert corpus.tgt.dtype == keep[2]
    assert low.corpus_.src is None and full.corpus_.src is not None
    assert low.corpus_.tgt.dtype == np.uint16 and low.params_.idx is None
    assert low.params_.occ[2].dtype == (np.uint16 if long_sentence else np.uint8)
    assert np.array_equal(low.theta_, full.theta_)
    assert [r.loglik for r in low.records_] == [r.loglik for r in full.records_]
    assert low.alignment_lines() == full.alignment_lines()
    # consume: the caller's corpus itself is compacted; the same bits
    mine = encode_pairs(src, tgt)
    used = DistributedIBM1(SerialComm(), "allpairs").setup(mine, consume=True)
    assert used.corpus_ is mine and mine.src is None and mine.tgt.dtype == np.uint16
    for _ in range(3):
        used.iterate()
    assert np.array_equal(used.theta_, full.theta_)
    assert used.alignment_lines() == full.alignment_lines()
    # and both equal Viterbi on the caller's (uncompacted) corpus
    assert low.alignment_lines() == ibm1.pharaoh_lines(corpus, ibm1.viterbi(
        ibm1.build_local_params(corpus), corpus, full.theta_))
