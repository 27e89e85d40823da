"""IBM1 kernels and model math against the dense serial reference."""

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em import ibm1
from mpiml.io.corpus import encode_pairs
from tests.naive.ibm1 import ibm1_dense, viterbi_dense


def dense_at(corpus, keys, src_index, tgt_index, table):
    n_tgt = corpus.n_tgt
    rows = [src_index[corpus.src_vocab[s]] for s in (keys // n_tgt).tolist()]
    cols = [tgt_index[corpus.tgt_vocab[t]] for t in (keys % n_tgt).tolist()]
    return table[rows, cols]


def hand_corpus():
    # repeated words inside a sentence and a word ("z") in one pair only
    src = [["a", "b"], ["a", "c", "a"], ["b"], ["z", "a"]]
    tgt = [["x", "y"], ["x", "w", "w"], ["y", "y", "x"], ["v"]]
    return src, tgt


@pytest.mark.parametrize("null", [True, False])
@pytest.mark.parametrize("which", ["hand", "synthetic"])
def test_em_matches_dense_reference_every_iteration(null, which):
    if which == "hand":
        src, tgt = hand_corpus()
    else:
        sp = synthetic_parallel(80, n_words=40, seed=11, p_spurious=0.2)
        src, tgt = sp.src_sents, sp.tgt_sents
    corpus = encode_pairs(src, tgt)
    n_iter = 6
    si, ti, thetas, lls = ibm1_dense(src, tgt, n_iter, null=null)
    params = ibm1.build_local_params(corpus, null)
    theta = ibm1.uniform_theta(params)
    for it in range(n_iter):
        eta_st, eta_s, ll = ibm1.estep(params, corpus, theta)
        theta = ibm1.mstep(eta_st, eta_s, params)
        ref = dense_at(corpus, params.keys, si, ti, thetas[it])
        np.testing.assert_allclose(theta, ref, rtol=1e-12, atol=0)
        assert ll == pytest.approx(lls[it], rel=1e-12)
        # the local keys carry all the mass of every source row
        np.testing.assert_allclose(np.bincount(params.param_src, weights=theta), 1.0, rtol=1e-12)
        np.testing.assert_allclose(eta_s, np.bincount(params.param_src, weights=eta_st),
                                   rtol=1e-12)
    assert np.all(np.diff(lls) >= -1e-9 * np.abs(lls[:-1]))
    # the dense table has no mass outside the co-occurring pairs
    assert np.count_nonzero(thetas[-1]) == params.n_params


@pytest.mark.parametrize("null", [True, False])
def test_viterbi_matches_reference(null):
    sp = synthetic_parallel(50, n_words=30, seed=5)
    corpus = encode_pairs(sp.src_sents, sp.tgt_sents)
    model = ibm1.IBM1(n_iter=4, null=null).fit(corpus)
    si, ti, _, _ = ibm1_dense(sp.src_sents, sp.tgt_sents, 1, null=null)
    table = np.zeros((len(si), len(ti)))
    keys = model.params_.keys
    rows = [si[corpus.src_vocab[s]] for s in (keys // corpus.n_tgt).tolist()]
    cols = [ti[corpus.tgt_vocab[t]] for t in (keys % corpus.n_tgt).tolist()]
    table[rows, cols] = model.theta_
    assert model.align(corpus) == viterbi_dense(sp.src_sents, sp.tgt_sents, si, ti, table, null)


def test_loglik_non_decreasing_long_run():
    sp = synthetic_parallel(300, n_words=100, seed=2, p_spurious=0.3)
    model = ibm1.IBM1(n_iter=15).fit(encode_pairs(sp.src_sents, sp.tgt_sents))
    ll = np.array(model.loglik_)
    assert np.all(np.diff(ll) >= -1e-10 * np.abs(ll[:-1]))
    assert ll[-1] > ll[0]


def test_topk_entries_and_format():
    keys = np.array([0 * 3 + 1, 0 * 3 + 2, 1 * 3 + 0, 1 * 3 + 1, 1 * 3 + 2, 1 * 3 + 0])
    theta = np.array([0.5, 0.5, 0.2, 0.7, 0.1, 0.2])
    s, t, p = ibm1.topk_entries(keys, theta, 3, 2)
    assert list(zip(s.tolist(), t.tolist(), p.tolist())) == [(0, 1, .5), (0, 2, .5), (1, 1, .7),
                                                              (1, 0, .2)]
    text = ibm1.format_ttable(s, t, p, ["<NULL>", "a"], ["x", "y", "z"])
    assert text.splitlines()[2] == "a\ty\t0.7"


def test_key_space():
    sp = ibm1.KeySpace(5, 7)
    k = np.r_[sp.param_key([0, 4], [6, 3]), sp.total_key([2, 4])]
    assert sp.source_of(k).tolist() == [0, 4, 2, 4]
    assert sp.is_total(k).tolist() == [False, False, True, True]
    assert np.all(np.diff(k) > 0)


def test_simulated_key_sets_match_reader_split():
    src, tgt = hand_corpus()
    src, tgt = src + [["q"]], tgt + [["r"]]
    whole = encode_pairs(src, tgt)
    keys = ibm1.simulated_stat_keys(whole, 3)
    for r, (lo, hi) in enumerate([(0, 2), (2, 4), (4, 5)]):
        part = encode_pairs(src[lo:hi], tgt[lo:hi], whole.src_vocab[1:], whole.tgt_vocab)
        assert np.array_equal(keys[r], ibm1.build_local_params(part).stat_keys)
