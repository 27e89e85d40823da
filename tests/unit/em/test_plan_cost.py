"""The counting planner (plan_cost) gives make_plan's figures without messages."""

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em import plan_cost as pc
from mpiml.em.ibm1 import KeySpace, simulated_stat_keys
from mpiml.em.plan import TOPOLOGIES, holders_from_key_sets, intersection_matrix, make_plan
from mpiml.io.corpus import encode_pairs
from tests.unit.em.test_plan import SPACE, random_key_sets, tree_kwargs


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_plan_cost_equals_make_plan(topology, size):
    key_sets = random_key_sets(size, seed=40 + size, n_pairs=120)
    kw = tree_kwargs(topology, size)
    want = make_plan(key_sets, topology, space=SPACE, **kw).summary()
    got = pc.plan_cost(key_sets, topology, space=SPACE, **kw)
    assert {k: got[k] for k in want} == want


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_plan_cost_key_ranges(monkeypatch, topology):
    """Cutting the key space into ranges changes nothing (a corpus, 24 ranks)."""
    sp = synthetic_parallel(600, n_words=300, seed=5)
    corpus = encode_pairs(sp.src_sents, sp.tgt_sents)
    space = KeySpace(corpus.n_src, corpus.n_tgt)
    keys = simulated_stat_keys(corpus, 24)
    kw = tree_kwargs(topology, 24)
    whole = pc.plan_cost(keys, topology, space=space, **kw)
    monkeypatch.setattr(pc, "_RANGE_ENTRIES", 997)
    assert len(pc._key_ranges(keys)) > 10
    assert pc.plan_cost(keys, topology, space=space, **kw) == whole
    assert whole == {**make_plan(keys, topology, space=space, **kw).summary(),
                     "shared_keys": whole["shared_keys"]}


def test_intersection_matrix_dense_and_pair_paths_agree():
    rng = np.random.default_rng(3)
    size = 40
    # a few keys held by nearly everyone (dense path), many by a few ranks
    key_sets = []
    for r in range(size):
        few = rng.choice(5000, 300, replace=False)
        wide = np.flatnonzero(rng.random(200) < 0.9) + 10000
        key_sets.append(np.unique(np.r_[few, wide]).astype(np.int64))
    h = holders_from_key_sets(key_sets)
    m = intersection_matrix(h, size)
    ref = np.array([[np.intersect1d(a, b).size for b in key_sets] for a in key_sets])
    assert np.array_equal(m, ref)
    assert (h.counts > max(32, size // 16)).any()     # the dense path ran
