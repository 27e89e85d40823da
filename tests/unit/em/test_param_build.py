"""The parameter-set build (kernels.pair_targets, local_params) against Python sets."""

from types import SimpleNamespace

import numpy as np
import pytest

from mpiml.em import ibm1, kernels


def random_corpus(n_pairs, n_src, n_tgt, seed, max_len=12, everything=False):
    """CSR corpus with repeats inside sentences and empty sides; with
    ``everything`` source word 1 co-occurs with every target word (a set of
    exactly n_tgt targets, the bit set's and the scratch buffer's limit)."""
    rng = np.random.default_rng(seed)
    src, tgt = [], []
    for n in range(n_pairs):
        ls, lt = rng.integers(0, max_len, 2)
        s = rng.zipf(1.3, ls) % (n_src - 1) + 1     # frequent words, repeated in a pair
        t = rng.zipf(1.3, lt) % n_tgt
        if n % 7 == 3:
            s = np.r_[s, s[:2]]                    # the same word twice more
        src.append(s)
        tgt.append(t)
    if everything:
        src.append(np.array([1, 1]))
        tgt.append(np.arange(n_tgt)[::-1])
    ptr = lambda xs: np.r_[0, np.cumsum([x.size for x in xs])].astype(np.int64)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.empty(0, dt)
    return SimpleNamespace(src=cat(src, np.int32), src_ptr=ptr(src), tgt=cat(tgt, np.int32),
                           tgt_ptr=ptr(tgt), n_src=n_src, n_tgt=n_tgt, line_index=None, paths=())


def reference_sets(c, null):
    sets = {}
    for n in range(c.src_ptr.size - 1):
        targets = set(c.tgt[c.tgt_ptr[n]:c.tgt_ptr[n + 1]].tolist())
        words = set(c.src[c.src_ptr[n]:c.src_ptr[n + 1]].tolist()) | ({0} if null else set())
        for s in words:
            sets.setdefault(s, set()).update(targets)
    return {s: sorted(t) for s, t in sorted(sets.items()) if t}


def test_pair_targets_first_appearance_order():
    c = random_corpus(200, 30, 50, seed=1)
    tu, uptr = kernels.pair_targets(c.tgt, c.tgt_ptr, c.n_tgt)
    assert tu.dtype == c.tgt.dtype
    for n in range(c.src_ptr.size - 1):
        row = c.tgt[c.tgt_ptr[n]:c.tgt_ptr[n + 1]].tolist()
        assert tu[uptr[n]:uptr[n + 1]].tolist() == list(dict.fromkeys(row))


# vocabularies below one 64-bit word, across several words of the second
# level (64 * 64 = 4096 targets each), uint16 and int32 target ids
@pytest.mark.parametrize("n_tgt", [5, 64, 130, 9000, 70_001])
@pytest.mark.parametrize("null", [True, False])
@pytest.mark.parametrize("low_memory", [True, False])
def test_parameter_sets_equal_python_sets(n_tgt, null, low_memory):
    c = random_corpus(300, 40, n_tgt, seed=n_tgt, everything=n_tgt <= 9000)
    c.tgt = c.tgt.astype(ibm1.target_dtype(n_tgt))
    p = ibm1.build_local_params(c, null, low_memory=low_memory)
    ref = reference_sets(c, null)
    assert p.src_words.tolist() == list(ref)
    assert p.tgt_of.dtype == ibm1.target_dtype(n_tgt)
    got = {int(s): p.tgt_of[p.seg_ptr[g]:p.seg_ptr[g + 1]].tolist()
           for g, s in enumerate(p.src_words)}
    assert got == ref
    if n_tgt <= 9000:
        assert got[1] == list(range(n_tgt))
    if not low_memory:
        # the index names, for every (slot, target token) pair, its parameter
        keys = p.keys
        nul = int(null)
        pos = 0
        for n in range(c.src_ptr.size - 1):
            s_row = c.src[c.src_ptr[n]:c.src_ptr[n + 1]]
            slots = ([0] if null else []) + sorted(s_row.tolist())
            t_row = c.tgt[c.tgt_ptr[n]:c.tgt_ptr[n + 1]].tolist()
            assert len(slots) == s_row.size + nul
            for s in slots:
                for t in t_row:
                    assert keys[p.idx[pos]] == s * n_tgt + t
                    pos += 1
        assert pos == p.idx.size


def test_bound_covers_the_parameters():
    c = random_corpus(400, 25, 300, seed=3)
    occ_ptr, occ_pair, _ = kernels.source_occurrences(c.src, c.src_ptr, c.n_src)
    _, uptr = kernels.pair_targets(c.tgt, c.tgt_ptr, c.n_tgt)
    n = ibm1.build_local_params(c, True, low_memory=True).n_params
    tight = kernels.param_bound(occ_ptr, occ_pair, uptr, c.n_tgt, 1)
    loose = kernels.param_bound(occ_ptr, occ_pair, c.tgt_ptr, c.n_tgt, 1)
    assert n <= tight <= loose
