"""The numba sweep equals the plain serial collapsed-Gibbs reference exactly,
and the pure helpers (word blocks, streams) behave."""

import numpy as np

from mpiml.topics import kernels, streams
from mpiml.topics.blocks import block_of_words, tokens_by_block, word_blocks
from tests.naive.lda import gibbs_tokens, loglik


def random_state(seed, D=15, V=25, K=7, n=300):
    rng = np.random.default_rng(seed)
    words = rng.integers(0, V, n).astype(np.int32)
    doc_of = np.sort(rng.integers(0, D, n)).astype(np.int32)
    z = rng.integers(0, K, n).astype(np.int32)
    ndk = np.zeros((D, K), np.int64)
    nkw = np.zeros((V, K), np.int64)
    nk = np.zeros(K, np.int64)
    kernels.count(words, doc_of, z, ndk, nkw, nk)
    return words, doc_of, z, ndk, nkw, nk


def test_sweep_equals_naive_bit_for_bit():
    for seed in range(3):
        words, doc_of, z, ndk, nkw, nk = random_state(seed)
        V, K = nkw.shape
        u = streams.sweep_uniforms(seed, 0, 0, words.size)
        order = np.random.default_rng(seed).permutation(words.size).astype(np.int64)
        ref = [a.copy() for a in (z, ndk, nkw, nk)]
        gibbs_tokens(order, u, words, doc_of, *ref, 0.3, 0.05, V)
        dkw, dk = np.zeros_like(nkw), np.zeros_like(nk)
        before_kw, before_k = nkw.copy(), nk.copy()
        kernels.sweep(order, u, words, doc_of, z, ndk, nkw, nk, dkw, dk, 0.3, 0.05, V * 0.05, np.empty(K))
        assert np.array_equal(z, ref[0]) and np.array_equal(ndk, ref[1])
        assert np.array_equal(nkw, ref[2]) and np.array_equal(nk, ref[3])
        assert np.array_equal(dkw, nkw - before_kw) and np.array_equal(dk, nk - before_k)
        assert (z != random_state(seed)[2]).any()   # the sweep did something


def test_loglik_kernels_equal_reference():
    words, doc_of, z, ndk, nkw, nk = random_state(4)
    V, K = nkw.shape
    lens = np.bincount(doc_of, minlength=ndk.shape[0])
    from math import lgamma
    got = (kernels.loglik_words(nkw, 0, V, 0.05) + kernels.loglik_docs(ndk, lens, 0.3)
           + K * lgamma(V * 0.05) - sum(lgamma(V * 0.05 + n) for n in nk))
    assert np.isclose(got, loglik(nkw, [ndk], [lens], 0.3, 0.05), rtol=1e-12)


def test_word_blocks_balance_tokens():
    counts = np.array([50, 1, 1, 1, 20, 20, 1, 1, 5, 5])
    off = word_blocks(counts, 3)
    assert off[0] == 0 and off[-1] == 10 and (np.diff(off) >= 1).all()
    per = [counts[off[b]:off[b + 1]].sum() for b in range(3)]
    assert max(per) == 50       # the heavy word alone; the others share the rest
    blk = block_of_words(off, 10)
    words = np.array([9, 0, 4, 0, 5, 2])
    parts = tokens_by_block(words, off)
    assert sorted(np.concatenate(parts).tolist()) == list(range(6))
    for b, idx in enumerate(parts):
        assert (blk[words[idx]] == b).all() and (np.diff(idx) > 0).all()
    assert (np.diff(word_blocks(np.zeros(4, int), 4)) == 1).all()


def test_streams_are_pure():
    a = streams.sweep_uniforms(1, 2, 3, 10)
    assert np.array_equal(a, streams.sweep_uniforms(1, 2, 3, 10))
    assert not np.array_equal(a, streams.sweep_uniforms(1, 2, 4, 10))
    assert not np.array_equal(a, streams.sweep_uniforms(1, 3, 3, 10))
