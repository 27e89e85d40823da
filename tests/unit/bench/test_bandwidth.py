"""The scaling report's bandwidth curves count exactly what the planner plans."""

import numpy as np
import pytest

from mpiml.bench.bandwidth import TOPOLOGIES, planner_curves, sent_bytes
from mpiml.em.plan import make_plan
from tests.unit.em.test_plan import SPACE, random_key_sets


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 40])
def test_counts_equal_the_planner(size):
    key_sets = random_key_sets(size, seed=300 + size, n_pairs=60)
    got = sent_bytes(key_sets, SPACE)
    for t in TOPOLOGIES:
        assert np.array_equal(got[t], make_plan(key_sets, t, space=SPACE).sent_bytes), t


def test_curves_grow_with_ranks():
    c = planner_curves([2, 4, 16], pairs_per_rank=20, n_words=300)
    assert c["ranks"] == [2, 4, 16]
    for t in TOPOLOGIES:
        assert len(c["mean"][t]) == 3 and all(m <= x for m, x in zip(c["mean"][t], c["max"][t]))
    # allreduce reduces the union of all statistics on every rank: it grows with the ranks
    assert c["mean"]["allreduce"][2] > c["mean"]["allreduce"][0]
