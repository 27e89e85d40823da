"""C-step plans: every rank ends with the global counts of its keys."""

import itertools

import numpy as np
import pytest

from mpiml.em.cstep import CStep
from mpiml.em.distplan import build_rank_plan
from mpiml.em.ibm1 import KeySpace
from mpiml.em.plan import (TOPOLOGIES, RootedTree, check_running_intersection, holders_from_key_sets,
                           intersection_matrix, make_plan, spanning_tree, validate_tree)
from mpiml.errors import ConfigError
from mpiml.partition import hash_owner
from tests.fakecomm import run_ranks
from tests.unit.em.simulate import apply_plan_messages

SPACE = KeySpace(n_src=24, n_tgt=12)


def random_key_sets(size, seed, n_pairs=40):
    """Statistic keys as IBM1 makes them: (s, t) pairs plus the totals of their s.

    Uneven on purpose: rank r draws about n_pairs / (r + 1) pairs; frequent
    sources are shared widely, and rank 0 gets source 23, which no other
    rank sees (a word on one rank only).  With size >= 4 rank 2 is empty.
    """
    rng = np.random.default_rng(seed)
    out = []
    for r in range(size):
        n = 0 if (size >= 4 and r == 2) else max(1, n_pairs // (r + 1))
        s = np.minimum(rng.zipf(1.5, n), 22)
        t = rng.integers(0, SPACE.n_tgt, n)
        if r == 0:
            s, t = np.r_[s, 23], np.r_[t, 5]
        keys = np.unique(SPACE.param_key(s, t))
        out.append(np.union1d(keys, SPACE.total_key(np.unique(SPACE.source_of(keys)))))
    return out


def tree_kwargs(topology, size):
    if topology == "tree":   # a chain: the longest schedule
        return {"tree_edges": [(r, r + 1) for r in range(size - 1)]}
    return {}


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("size", range(1, 9))
def test_plan_gives_global_counts(topology, size):
    key_sets = random_key_sets(size, seed=size)
    rng = np.random.default_rng(100 + size)
    # integer-valued counts: sums are exact in any order
    local = [{int(k): float(rng.integers(1, 1000)) for k in ks} for ks in key_sets]
    glob = {}
    for d in local:
        for k, v in d.items():
            glob[k] = glob.get(k, 0.0) + v
    plan = make_plan(key_sets, topology, space=SPACE, **tree_kwargs(topology, size))
    if topology == "allreduce":
        assert plan.union_keys.tolist() == sorted(glob)
        for r in range(size):
            rp = plan.rank_plan(r)
            assert np.array_equal(plan.union_keys[rp.union_pos], key_sets[r])
        return
    final = apply_plan_messages(plan, local)
    for r in range(size):
        for k in key_sets[r].tolist():
            if topology == "mapreduce" and SPACE.is_total(k):
                continue  # totals stay at the reducer; theta carries them back
            assert final[r][k] == glob[k], (r, k)
    if topology == "mapreduce":
        reducer = hash_owner(SPACE.source_of(np.array(sorted(glob))), size)
        for k, o in zip(sorted(glob), reducer.tolist()):
            assert final[o][k] == glob[k]
        assert plan.n_rounds <= 2
    if topology == "allpairs":
        assert plan.n_rounds <= 1


@pytest.mark.parametrize("size", [2, 3, 5, 8, 12])
@pytest.mark.parametrize("seed", range(5))
def test_junction_tree_running_intersection(size, seed):
    key_sets = random_key_sets(size, seed=1000 * seed + size, n_pairs=60)
    plan = make_plan(key_sets, "junction-tree")
    work = [plan.rank_plan(r).work_keys for r in range(size)]
    assert check_running_intersection(plan.tree.edges, key_sets, work) == []
    # messages on an edge carry exactly the keys carried on both sides
    m = plan.messages
    for a, b in plan.tree.edges.tolist():
        on_edge = m.key[((m.src == a) & (m.dst == b)) | ((m.src == b) & (m.dst == a))]
        assert set(on_edge.tolist()) == set(np.intersect1d(work[a], work[b]).tolist())


def test_running_intersection_checker_catches_violations():
    # chain 0-1-2; ranks 0 and 2 share key 7, rank 1 must carry it
    key_sets = [np.array([7]), np.array([1]), np.array([7])]
    edges = [(0, 1), (1, 2)]
    assert check_running_intersection(edges, key_sets, [np.array([7]), np.array([1, 7]),
                                                       np.array([7])]) == []
    assert check_running_intersection(edges, key_sets, [np.array([7]), np.array([1]),
                                                       np.array([7])])
    # a needless carrier (leaf of the key's subtree that does not hold it)
    assert check_running_intersection(edges, [np.array([7]), np.array([7]), np.array([1])],
                                      [np.array([7]), np.array([7]), np.array([1, 7])])


def test_junction_tree_routes_through_non_holders():
    key_sets = [np.array([1, 2, 3]), np.array([1, 2, 3, 4]), np.array([4, 5])]
    plan = make_plan(key_sets, "tree", tree_edges=[(0, 2), (2, 1)])
    assert set(plan.rank_plan(2).work_keys.tolist()) == {1, 2, 3, 4, 5}
    plan = make_plan(key_sets, "junction-tree")
    assert sorted(map(tuple, plan.tree.edges.tolist())) == [(0, 1), (1, 2)]


def _prufer_trees(n):
    for seq in itertools.product(range(n), repeat=n - 2):
        degree = [1] * n
        for x in seq:
            degree[x] += 1
        edges, seq = [], list(seq)
        for x in seq:
            leaf = min(i for i in range(n) if degree[i] == 1)
            edges.append((leaf, x))
            degree[leaf] -= 1
            degree[x] -= 1
        u, v = [i for i in range(n) if degree[i] == 1]
        edges.append((u, v))
        yield edges


@pytest.mark.parametrize("size", [2, 3, 4, 5])
def test_spanning_tree_is_maximum(size):
    key_sets = random_key_sets(size, seed=7 * size, n_pairs=50)
    w = intersection_matrix(holders_from_key_sets(key_sets), size)
    for r in range(size):
        for q in range(size):
            expect = np.intersect1d(key_sets[r], key_sets[q]).size
            assert w[r, q] == expect
    best = max(sum(w[a, b] for a, b in t) for t in _prufer_trees(size))
    assert sum(w[a, b] for a, b in spanning_tree(w).tolist()) == best


def test_spanning_tree_spans_disconnected_intersections():
    key_sets = [np.array([1]), np.array([2]), np.array([3]), np.array([3])]
    w = intersection_matrix(holders_from_key_sets(key_sets), 4)
    assert spanning_tree(w).shape == (3, 2)


@pytest.mark.parametrize("edges", [[(0, 1)], [(0, 1), (1, 0), (2, 3)], [(0, 1), (1, 2), (2, 4)],
                                   [(0, 0), (1, 2), (2, 3)]])
def test_bad_user_tree(edges):
    with pytest.raises(ConfigError):
        validate_tree(edges, 4)


def test_tree_schedule_rounds():
    tree = RootedTree.build([(0, 1), (1, 2), (2, 3), (3, 4)], 5)
    assert tree.root == 2 and tree.n_collect == 2
    key_sets = [np.array([9])] * 5
    plan = make_plan(key_sets, "tree", tree_edges=tree.edges)
    assert plan.n_rounds == 4
    assert plan.bytes_total == 8 * 2 * 4


def test_unknown_topology():
    with pytest.raises(ConfigError):
        make_plan([np.array([1])], "ring")


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_distributed_plan_and_cstep(topology, size):
    """build_rank_plan (sharded, collective) == make_plan; CStep completes counts."""
    key_sets = random_key_sets(size, seed=50 + size)
    kw = tree_kwargs(topology, size)
    pure = make_plan(key_sets, topology, space=SPACE, **kw)
    rng = np.random.default_rng(size)
    local = [rng.integers(1, 100, ks.size).astype(float) for ks in key_sets]
    glob = {}
    for ks, v in zip(key_sets, local):
        for k, x in zip(ks.tolist(), v.tolist()):
            glob[k] = glob.get(k, 0.0) + x

    def body(comm):
        rp, info = build_rank_plan(comm, key_sets[comm.rank], topology, SPACE, **kw)
        out = CStep(comm, rp, SPACE).run(local[comm.rank])
        return rp, info, out

    results = run_ranks(size, body)
    for r, (rp, info, out) in enumerate(results):
        ref = pure.rank_plan(r)
        assert np.array_equal(rp.work_keys, ref.work_keys)
        assert [(s.round, s.op) for s in rp.steps] == [(s.round, s.op) for s in ref.steps]
        for s, t in zip(rp.steps, ref.steps):
            assert s.sends.keys() == t.sends.keys() and s.recvs.keys() == t.recvs.keys()
            assert all(np.array_equal(s.sends[q], t.sends[q]) for q in s.sends)
            assert all(np.array_equal(s.recvs[q], t.recvs[q]) for q in s.recvs)
        assert (info.bytes_total, info.bytes_max_rank, info.n_rounds) == \
            (pure.bytes_total, pure.bytes_max_rank, pure.n_rounds)
        ks = key_sets[r]
        if topology == "mapreduce":
            params = ks[~SPACE.is_total(ks)]
            src = SPACE.source_of(params)
            theta = [glob[k] / glob[int(SPACE.total_key(s))] for k, s in zip(params.tolist(), src)]
            np.testing.assert_allclose(out, theta, rtol=1e-15)
        else:
            assert out.tolist() == [glob[k] for k in ks.tolist()]
