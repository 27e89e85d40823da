"""Synthetic corpus: determinism, and EM recovers the generating lexicon."""

from collections import Counter

import numpy as np

from mpiml.datasets.corpus import synthetic_parallel, zipf_probabilities
from mpiml.em.aer import Alignments, score
from mpiml.em.ibm1 import IBM1
from mpiml.io.corpus import encode_pairs


def test_seeded_and_consistent():
    a = synthetic_parallel(30, seed=4)
    b = synthetic_parallel(30, seed=4)
    assert a.src_sents == b.src_sents and a.tgt_sents == b.tgt_sents
    assert synthetic_parallel(30, seed=5).src_sents != a.src_sents
    for s, t, al in zip(a.src_sents, a.tgt_sents, a.alignments):
        assert len(al) == len(s) <= len(t)
        assert all(t[j] == a.lexicon[s[i]] for i, j in al)
    p = zipf_probabilities(5, 1.0)
    assert np.isclose(p.sum(), 1) and np.all(np.diff(p) < 0)


def test_em_recovers_lexicon_and_alignments():
    sp = synthetic_parallel(1500, n_words=150, seed=0, p_spurious=0.1)
    corpus = encode_pairs(sp.src_sents, sp.tgt_sents)
    model = IBM1(n_iter=10).fit(corpus)
    keys, theta = model.params_.keys, model.theta_
    src, tgt = keys // corpus.n_tgt, keys % corpus.n_tgt
    best = {}
    for s, t, v in zip(src.tolist(), tgt.tolist(), theta.tolist()):
        if s and v > best.get(s, (-1, None))[0]:
            best[s] = (v, t)
    freq = Counter(w for s in sp.src_sents for w in s)
    frequent = [w for w, c in freq.items() if c >= 10]
    right = sum(corpus.tgt_vocab[best[corpus.src_vocab.index(w)][1]] == sp.lexicon[w]
                for w in frequent)
    assert len(frequent) > 50 and right / len(frequent) >= 0.95
    # Model 1 cannot tell repeated source words apart: any copy is possible
    possible = [{(k, j) for i, j in a for k, w in enumerate(src) if w == src[i]}
                for a, src in zip(sp.alignments, sp.src_sents)]
    gold = Alignments([set(a) for a in sp.alignments], possible)
    pred = [{tuple(map(int, x.split("-"))) for x in line.split()} for line in model.align(corpus)]
    assert score(gold, Alignments(pred, pred)).aer < 0.15
