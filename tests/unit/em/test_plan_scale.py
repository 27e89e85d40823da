"""The counting planner at 256 simulated ranks on a generated 20k-pair corpus."""

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em.ibm1 import KeySpace, simulated_stat_keys
from mpiml.em.plan import TOPOLOGIES, holders_from_key_sets
from mpiml.em.plan_cost import intersection_weights, plan_cost
from mpiml.io.corpus import encode_pairs


@pytest.mark.timeout(600)
def test_plan_256_ranks_finishes_and_is_consistent():
    sp = synthetic_parallel(20000, n_words=3000, min_len=3, max_len=10, seed=4)
    c = encode_pairs(sp.src_sents, sp.tgt_sents)
    size = 256
    keys = simulated_stat_keys(c, size)
    space = KeySpace(c.n_src, c.n_tgt)
    w = intersection_weights(keys)
    rows = {t: plan_cost(keys, t, space=space, weights=w,
                         tree_edges=[(r, r + 1) for r in range(size - 1)] if t == "tree" else None)
            for t in TOPOLOGIES}
    h = holders_from_key_sets(keys)
    cnt = h.counts
    # independent figures: allpairs sends each shared key to its other holders
    assert rows["allpairs"]["bytes_total"] == 8 * int(np.sum(cnt * (cnt - 1)))
    assert rows["allreduce"]["bytes_max_rank"] == round(2 * (size - 1) / size * 8 * h.keys.size)
    assert len({r["shared_keys"] for r in rows.values()}) == 1
    assert rows["junction-tree"]["messages"] <= 2 * (size - 1)
    assert rows["tree"]["rounds"] <= 2 * (size - 1)
    # a tree edge carries every key shared across it at least once in each direction
    assert rows["junction-tree"]["bytes_total"] >= 16 * int(np.count_nonzero(cnt >= 2))
    assert np.array_equal(np.diag(w), [k.size for k in keys])
