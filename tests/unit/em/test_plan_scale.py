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
    # (the same count for every topology, and the one the holders give)
    assert {r["shared_keys"] for r in rows.values()} == {int(np.count_nonzero(cnt >= 2))}
    assert rows["junction-tree"]["messages"] <= 2 * (size - 1)
    assert rows["tree"]["rounds"] <= 2 * (size - 1)
    # a tree edge carries every key shared across it at least once in each direction
    assert rows["junction-tree"]["bytes_total"] >= 16 * int(np.count_nonzero(cnt >= 2))
    assert np.array_equal(np.diag(w), [k.size for k in keys])


# ------------------------------------------------------------------ plan_scale.plan_costs
from mpiml.em import plan_scale as ps            # noqa: E402
from mpiml.em.plan import make_plan              # noqa: E402
from mpiml.em.topology import RootedTree, _center  # noqa: E402
from tests.unit.em.test_plan import SPACE, random_key_sets  # noqa: E402


def _random_tree(size, seed):
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(0, i)), i) for i in range(1, size)]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8, 13, 31])
@pytest.mark.parametrize("tree", ["chain", "random"])
def test_plan_costs_equal_make_plan(size, tree):
    """Every topology at once, with key ranges cut small, equals the listing planner."""
    key_sets = random_key_sets(size, seed=70 + size, n_pairs=150)
    edges = [(r, r + 1) for r in range(size - 1)] if tree == "chain" else _random_tree(size, size)
    h = holders_from_key_sets(key_sets)
    shared = int(np.count_nonzero(h.counts >= 2))
    for entries in (None, 37):
        got = ps.plan_costs(key_sets, TOPOLOGIES, space=SPACE, tree_edges=edges, range_entries=entries)
        if entries:
            assert len(ps.key_ranges(key_sets, entries)) >= 3
        for t in TOPOLOGIES:
            want = make_plan(key_sets, t, space=SPACE, tree_edges=edges if t == "tree" else None).summary()
            assert got[t] == {**want, "shared_keys": shared}, (t, entries)


def test_plan_costs_subset_root_and_errors():
    key_sets = random_key_sets(9, seed=3, n_pairs=100)
    edges = _random_tree(9, 4)
    got = ps.plan_costs(key_sets, ["tree", "allreduce"], space=SPACE, tree_edges=edges, root=5)
    assert list(got) == ["tree", "allreduce"]
    assert got["tree"] == {**make_plan(key_sets, "tree", space=SPACE, tree_edges=edges, root=5).summary(),
                           "shared_keys": got["allreduce"]["shared_keys"]}
    with pytest.raises(Exception, match="needs an edge list"):
        ps.plan_costs(key_sets, ["tree"], space=SPACE)
    with pytest.raises(Exception, match="unknown topology"):
        ps.plan_costs(key_sets, ["ring"], space=SPACE)
    with pytest.raises(ValueError, match="rank 1 is not sorted"):
        ps.plan_costs([np.array([1, 2]), np.array([5, 3])], ["allreduce"])


def test_tree_centre_is_the_lowest_node_of_least_eccentricity():
    for size in range(1, 70):
        edges = _random_tree(size, 1000 + size)
        adj = [[] for _ in range(size)]
        for a, b in edges:
            adj[a].append(b)
            adj[b].append(a)
        ecc = []
        for s in range(size):       # brute force: a BFS from every node
            dist, frontier = {s: 0}, [s]
            while frontier:
                frontier = [u for v in frontier for u in adj[v] if u not in dist
                            and not dist.setdefault(u, dist[v] + 1) is None]
            ecc.append(max(dist.values()))
        assert _center(adj) == int(np.argmin(ecc)), size
        assert RootedTree.build(edges, size).root == int(np.argmin(ecc))


@pytest.mark.timeout(600)
def test_plan_costs_256_ranks_equal_the_counting_planner():
    """On the generated 20k-pair corpus at 256 ranks the one-pass planner gives
    plan_cost's figures for every topology (plan_cost equals make_plan at the
    sizes make_plan can list, and the MPI test ties both to measured bytes)."""
    sp = synthetic_parallel(20000, n_words=3000, min_len=3, max_len=10, seed=4)
    c = encode_pairs(sp.src_sents, sp.tgt_sents)
    size = 256
    keys = ps.simulated_key_sets(c, size)
    assert all(np.array_equal(a, b) for a, b in zip(keys, simulated_stat_keys(c, size)))
    space = KeySpace(c.n_src, c.n_tgt)
    chain = [(r, r + 1) for r in range(size - 1)]
    got = ps.plan_costs(keys, TOPOLOGIES, space=space, tree_edges=chain, range_entries=200_000)
    w = intersection_weights(keys)
    for t in TOPOLOGIES:
        assert got[t] == plan_cost(keys, t, space=space, weights=w,
                                   tree_edges=chain if t == "tree" else None), t
