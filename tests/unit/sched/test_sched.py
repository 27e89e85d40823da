"""The STRADS scheduler pieces, without MPI: sampling law, dependency check,
dispatch, and that schedules are pure functions of (seed, round, priorities)."""

import numpy as np
import pytest

from mpiml.sched import (ConflictGraph, Scheduler, balance, by_owner, initial_priorities,
                         round_rng, sample_weighted, update_priorities)
from mpiml.sched.dispatch import imbalance


def test_weighted_sampling_follows_the_weights():
    w = np.array([1.0, 2.0, 3.0, 4.0, 0.0])
    counts = np.zeros(5)
    for t in range(20000):
        counts[sample_weighted(round_rng(1, t), w, 1)[0]] += 1
    freq = counts / counts.sum()
    # binomial std of a frequency near 0.3 over 20000 draws is ~0.003
    assert np.allclose(freq, w / w.sum(), atol=0.015), freq
    assert counts[4] == 0


def test_weighted_sampling_without_replacement_is_successive_draws():
    # P(first = 0) = 0.5 and P(second = 1 | first = 0) = 0.3 / 0.5 for weights (5, 3, 2)
    w = np.array([5.0, 3.0, 2.0])
    pairs = [tuple(sample_weighted(round_rng(7, t), w, 2)) for t in range(20000)]
    assert all(len(set(p)) == 2 for p in pairs)
    first0 = [p for p in pairs if p[0] == 0]
    assert abs(len(first0) / len(pairs) - 0.5) < 0.015
    assert abs(sum(p[1] == 1 for p in first0) / len(first0) - 0.6) < 0.02


def test_zero_weights_are_never_drawn_even_if_m_is_larger():
    got = sample_weighted(round_rng(0, 0), np.array([0.0, 1.0, 0.0, 1.0]), 4)
    assert sorted(got.tolist()) == [1, 3]


def test_priorities():
    p = initial_priorities([0.0, 2.0, -1.0], eta=0.5)
    assert p.tolist() == [0.5, 4.5, 1.5]
    update_priorities(p, [2], [3.0], eta=0.5)
    assert p.tolist() == [0.5, 4.5, 9.5]


def test_conflict_graph_select_keeps_no_conflicting_pair():
    g = ConflictGraph.from_pairs(6, [(0, 1), (1, 2), (3, 4), (4, 3), (5, 5)])
    assert g.n_edges == 3 and sorted(g.neighbours(1).tolist()) == [0, 2]
    kept, rej = g.select([1, 0, 2, 3, 4, 5], limit=10)
    assert kept.tolist() == [1, 3, 5] and rej == 3
    kept, rej = g.select([0, 2, 1, 3], limit=2)     # stops once the limit is reached
    assert kept.tolist() == [0, 2] and rej == 0
    # a fresh call does not see the previous call's marks
    kept, rej = g.select([1, 4], limit=5)
    assert kept.tolist() == [1, 4] and rej == 0


@pytest.mark.parametrize("kind", ["sap", "random", "cyclic"])
def test_rounds_are_pure_functions_of_seed_round_priorities(kind):
    n = 40
    rng = np.random.default_rng(3)
    pairs = rng.integers(0, n, size=(30, 2))
    g = ConflictGraph.from_pairs(n, pairs)
    prio = rng.random(n) + 0.01
    a = Scheduler(kind, n, 8, seed=11, conflicts=g)
    b = Scheduler(kind, n, 8, seed=11, conflicts=g)
    forward = [a.plan(t, prio).selected.tolist() for t in range(10)]
    backward = [b.plan(t, prio).selected.tolist() for t in reversed(range(10))][::-1]
    assert forward == backward
    c = Scheduler(kind, n, 8, seed=12, conflicts=g)
    if kind != "cyclic":
        assert forward != [c.plan(t, prio).selected.tolist() for t in range(10)]
    for sel in forward:
        assert len(set(sel)) == len(sel) <= 8
        if kind == "sap":
            for j in sel:
                assert not set(g.neighbours(j).tolist()) & set(sel)


def test_sap_prefers_high_priority_and_reports_rejections():
    n = 100
    prio = np.full(n, 1e-9)
    prio[:10] = 1.0                         # ten hot parameters
    g = ConflictGraph.from_pairs(n, [(0, 1), (2, 3), (4, 5)])
    s = Scheduler("sap", n, 6, seed=0, conflicts=g, candidates=10)
    r = s.plan(0, prio)
    assert set(r.selected.tolist()) <= set(range(10)) and r.selected.size == 6
    assert r.n_candidates == 10 and r.n_rejected >= 0
    tot = sum(s.plan(t, prio).n_rejected for t in range(50))
    assert tot > 0      # pairs among the hot ten are drawn together often


def test_cyclic_covers_every_parameter_once_per_sweep():
    s = Scheduler("cyclic", 10, 3)
    m = s.plan_many(0, 4)
    assert m.reshape(-1).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    with pytest.raises(ValueError):
        Scheduler("sap", 10, 3).plan_many(0, 2)


def test_random_is_uniform():
    s = Scheduler("random", 20, 5, seed=4)
    counts = np.bincount(s.plan_many(0, 4000).reshape(-1), minlength=20)
    assert np.allclose(counts / counts.sum(), 1 / 20, atol=0.005)


def test_dispatch_by_owner_and_balance():
    owner = np.arange(10) % 3
    parts = by_owner([9, 1, 4, 3], owner, 3)
    assert [p.tolist() for p in parts] == [[9, 3], [1, 4], []]
    cost = np.array([5.0, 4, 3, 3, 2, 1])
    parts = balance(np.arange(6), cost, 2)
    assert [sorted(p.tolist()) for p in parts] == [[0, 3, 5], [1, 2, 4]]   # 9 vs 9
    assert imbalance(parts, cost) == 1.0
    assert imbalance([np.arange(3), np.arange(1)]) == 1.5


def test_cyclic_column_partition_tiles_and_handles_more_ranks_than_items():
    from mpiml.partition import cyclic_indices, cyclic_owner
    for n, size in [(10, 3), (2, 4), (0, 2), (7, 7)]:
        parts = [cyclic_indices(n, size, r) for r in range(size)]
        assert sorted(np.concatenate(parts).tolist()) == list(range(n))
        for r, p in enumerate(parts):
            assert (cyclic_owner(p, size) == r).all()
    assert cyclic_indices(2, 4, 3).size == 0
