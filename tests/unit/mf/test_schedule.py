"""Stratum schedules: the stratum property, epoch coverage and H-block moves."""

import itertools

import numpy as np
import pytest

from mpiml.errors import ConfigError
from mpiml.mf.schedule import ORDERS, Schedule

SHAPES = [(1, 1), (2, 1), (3, 1), (4, 1), (2, 2), (3, 2), (1, 3), (2, 3)]


def _all(order, P, b, seed=5):
    return Schedule(order, P, b, seed)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("P,b", SHAPES)
def test_stratum_property(order, P, b):
    sch = _all(order, P, b)
    for e in range(3):
        for s in range(sch.n_sub):
            rows, cols = [], []
            for r in range(P):
                for i, j in sch.work(e, s, r):
                    assert i // b == r            # a rank only touches its own row blocks
                    rows.append(i)
                    cols.append(j)
            assert sorted(rows) == list(range(sch.d))
            assert sorted(cols) == list(range(sch.d)), "two ranks share a column block"


@pytest.mark.parametrize("order", ["SEQ", "RSEQ", "WOR", "COWOR"])
@pytest.mark.parametrize("P,b", SHAPES)
def test_epoch_covers_every_block_once(order, P, b):
    sch = _all(order, P, b)
    for e in range(3):
        seen = [(i, j) for s in range(sch.n_sub) for r in range(P) for i, j in sch.work(e, s, r)]
        assert sorted(seen) == list(itertools.product(range(sch.d), range(sch.d)))


def test_seq_is_base_latin_square():
    sch = Schedule("SEQ", 3, 2)
    for e, s in itertools.product(range(2), range(6)):
        assert sch.stratum(e, s).tolist() == [(i + s) % 6 for i in range(6)]


def test_wr_draws_strata_of_the_base_square_with_replacement():
    sch = Schedule("WR", 4, 1, seed=1)
    shifts = []
    for e in range(10):
        for s in range(4):
            st = sch.stratum(e, s)
            shift = int(st[0])
            assert st.tolist() == [(i + shift) % 4 for i in range(4)]
            shifts.append(shift)
        if len(set(shifts[-4:])) < 4:
            break
    else:
        pytest.fail("WR never repeated a stratum within an epoch in 10 epochs")


def test_wor_reshuffles_each_epoch_and_is_seeded():
    a, b = Schedule("WOR", 4, 1, seed=1), Schedule("WOR", 4, 1, seed=2)
    ep = lambda sch, e: [sch.stratum(e, s).tolist() for s in range(4)]
    assert ep(a, 0) == ep(Schedule("WOR", 4, 1, seed=1), 0)       # pure
    assert any(ep(a, e) != ep(a, 0) for e in range(1, 5))
    assert any(ep(a, e) != ep(b, e) for e in range(5))


def test_rseq_repeats_every_epoch():
    sch = Schedule("RSEQ", 3, 2, seed=9)
    for s in range(6):
        assert sch.stratum(0, s).tolist() == sch.stratum(4, s).tolist()


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("P,b", SHAPES)
def test_moves_deliver_exactly_the_next_blocks(order, P, b):
    sch = _all(order, P, b)
    have = {r: set(sch.held(0, 0, r)) for r in range(P)}
    pos = (0, 0)
    for _ in range(3 * sch.n_sub):
        moves = {r: sch.moves(*pos, r) for r in range(P)}
        for r, m in moves.items():
            for dst, js in m.sends.items():
                assert dst != r and set(js) <= have[r]
                assert moves[dst].recvs[r] == js          # both sides agree on what moves
            for src, js in m.recvs.items():
                assert moves[src].sends[r] == js
        for r, m in moves.items():
            for js in m.sends.values():
                have[r] -= set(js)
        for r, m in moves.items():
            for js in m.recvs.values():
                have[r] |= set(js)
        pos = sch.next_position(*pos)
        for r in range(P):
            assert have[r] == set(sch.held(*pos, r))


@pytest.mark.parametrize("order", ["WOR", "WR"])
def test_partner_is_a_permutation_not_always_a_ring(order):
    P = 4
    sch = Schedule(order, P, 1, seed=3)
    non_ring = False
    for e in range(3):
        for s in range(P):
            pairs = [sch.partner(e, s, r) for r in range(P)]
            dests = [d for d, _ in pairs]
            assert sorted(dests) == list(range(P))
            for r, (dst, src) in enumerate(pairs):
                assert pairs[dst][1] == r
                non_ring |= dst not in (r, (r - 1) % P)
    assert non_ring


def test_cowor_moves_whole_groups_at_visit_boundaries_only():
    P, b = 3, 2
    sch = Schedule("COWOR", P, b, seed=4)
    for e in range(2):
        for s in range(sch.n_sub):
            for r in range(P):
                m = sch.moves(e, s, r)
                if s % b != b - 1:
                    assert not m.sends and not m.recvs
                else:
                    assert len(m.sends) <= 1
                    for js in m.sends.values():
                        assert len(js) == b and js[0] // b == js[-1] // b


def test_bad_order_and_position():
    with pytest.raises(ConfigError):
        Schedule("RANDOM", 2)
    with pytest.raises(ValueError):
        Schedule("SEQ", 2).stratum(0, 2)
    with pytest.raises(ValueError):
        Schedule("SEQ", 2, 2).partner(0, 0, 0)


def test_holders_match_work():
    sch = Schedule("WOR", 3, 2, seed=0)
    h = sch.holders(1, 2)
    for r in range(3):
        for _, j in sch.work(1, 2, r):
            assert h[j] == r
    assert np.array_equal(np.sort(np.bincount(h)), [2, 2, 2])
