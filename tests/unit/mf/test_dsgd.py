"""DSGD/Fugue on simulated ranks equal the serial simulation bit for bit."""

import time

import numpy as np
import pytest

from mpiml.datasets.ratings import synthetic_ratings
from mpiml.errors import CollectiveError, InputError
from mpiml.mf.common import Triplets
from mpiml.mf.dsgd import DSGD
from tests.naive.mf import serial_dsgd
from tests.fakecomm import run_ranks

M, N = 37, 29
DATA = synthetic_ratings(M, N, rank=3, density=0.3, noise=0.1, offset=2.0, seed=11)
TRAIN = (DATA.users, DATA.items, DATA.values)
EMPTY = Triplets(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))


def _share(t, rank, size):
    """An arbitrary (strided) share of the triplets, not aligned to any block."""
    return Triplets(*(np.asarray(a)[rank::size] for a in t))


def _assemble(results, k):
    W = np.full((M, k), np.nan, np.float32)
    H = np.full((N, k), np.nan, np.float32)
    for lf in results:
        for lo, rows in lf["W"]:
            W[lo:lo + len(rows)] = rows
        for lo, rows in lf["H"]:
            H[lo:lo + len(rows)] = rows
    return W, H


def _run(P, n_epochs=3, valid=None, **kw):
    def fn(comm):
        m = DSGD(**kw).setup(comm, _share(TRAIN, comm.rank, comm.size), M, N,
                             None if valid is None else _share(valid, comm.rank, comm.size))
        for _ in range(n_epochs):
            m.run_epoch()
        return m.local_factors(), m.history_, m.extra_log_
    res = run_ranks(P, fn)
    W, H = _assemble([r[0] for r in res], kw.get("k", 32))
    return W, H, res[0][1], res[0][2]


@pytest.mark.parametrize("P", [1, 2, 3, 4])
def test_distributed_equals_serial_wor(P):
    kw = dict(k=4, lam=0.05, lr=0.02, seed=3, order="WOR")
    W, H, hist, _ = _run(P, **kw)
    Ws, Hs, recs = serial_dsgd(TRAIN, M, N, n_ranks=P, n_epochs=3, **kw)
    assert np.array_equal(W, Ws) and np.array_equal(H, Hs)
    assert [h["objective"] for h in hist] == [r["objective"] for r in recs]
    assert [h["lr"] for h in hist] == [r["lr"] for r in recs]


@pytest.mark.parametrize("order,P,b", [("SEQ", 2, 1), ("RSEQ", 3, 1), ("WR", 3, 1),
                                       ("WOR", 2, 2), ("COWOR", 2, 2), ("COWOR", 3, 2)])
def test_orders_and_blocks_per_rank_equal_serial(order, P, b):
    kw = dict(k=3, lam=0.02, lr=0.03, seed=8, order=order, blocks_per_rank=b)
    W, H, _, _ = _run(P, n_epochs=2, **kw)
    Ws, Hs, _ = serial_dsgd(TRAIN, M, N, n_ranks=P, n_epochs=2, **kw)
    assert np.array_equal(W, Ws) and np.array_equal(H, Hs)


@pytest.mark.parametrize("step", ["fixed", "decay"])
def test_step_rules(step):
    kw = dict(k=3, lam=0.02, lr=0.03, seed=1, step=step, decay=0.5)
    W, H, hist, _ = _run(2, **kw)
    Ws, _, recs = serial_dsgd(TRAIN, M, N, n_ranks=2, n_epochs=3, **kw)
    assert np.array_equal(W, Ws)
    want = [0.03] * 3 if step == "fixed" else [0.03 / (1 + 0.5 * e) for e in range(3)]
    assert [h["lr"] for h in hist] == pytest.approx(want)


def test_validation_rmse_equals_serial():
    va = synthetic_ratings(M, N, rank=3, density=0.05, noise=0.1, offset=2.0, seed=12)
    valid = (va.users, va.items, va.values)
    kw = dict(k=4, lam=0.05, lr=0.02, seed=3)
    _, _, hist, _ = _run(3, valid=valid, **kw)
    _, _, recs = serial_dsgd(TRAIN, M, N, n_ranks=3, n_epochs=3, valid=valid, **kw)
    assert [h["valid_rmse"] for h in hist] == [np.sqrt(r["valid_sse"] / va.users.size) for r in recs]


@pytest.mark.parametrize("P,b", [(2, 1), (3, 1), (2, 2)])
def test_fugue_fixed_extra_updates_equal_serial(P, b):
    kw = dict(k=4, lam=0.05, lr=0.02, seed=5, fugue=True, fugue_fixed=0.5, blocks_per_rank=b)
    W, H, hist, log = _run(P, **kw)
    assert all(lg.sum() > 0 for lg in log)
    assert hist[0]["extra_updates"].shape == (P * b, P)
    kw.pop("fugue"), kw.pop("fugue_fixed")
    Ws, Hs, _ = serial_dsgd(TRAIN, M, N, n_ranks=P, n_epochs=3, fugue_extra=log, **kw)
    assert np.array_equal(W, Ws) and np.array_equal(H, Hs)


def test_fugue_fast_ranks_work_while_a_straggler_sleeps():
    """Timing decides the counts; replaying the recorded counts serially gives the same model."""
    P = 3
    kw = dict(k=4, lam=0.05, lr=0.02, seed=6, fugue=True, fugue_chunk=16, fugue_cap=2.0)

    def fn(comm):
        m = DSGD(**kw).setup(comm, _share(TRAIN, comm.rank, comm.size), M, N)
        slow = (lambda dt: time.sleep(0.02)) if comm.rank == 1 else None
        for _ in range(2):
            m.run_epoch(straggle=slow)
        return m.local_factors(), m.history_, m.extra_log_

    res = run_ranks(P, fn)
    W, H = _assemble([r[0] for r in res], 4)
    hist, log = res[0][1], res[0][2]
    per_rank = sum(h["extra_updates"] for h in hist).sum(axis=0)
    assert per_rank[1] < min(per_rank[0], per_rank[2])
    assert per_rank[0] > 0 and per_rank[2] > 0
    kw.pop("fugue"), kw.pop("fugue_chunk"), kw.pop("fugue_cap")
    Ws, Hs, _ = serial_dsgd(TRAIN, M, N, n_ranks=P, n_epochs=2, fugue_extra=log, **kw)
    assert np.array_equal(W, Ws) and np.array_equal(H, Hs)


def _run_and_save(P, n_epochs, kw):
    """Per rank ``(state_dict, local_factors)`` after ``n_epochs`` on P fake ranks."""
    def first(comm):
        m = DSGD(**kw).setup(comm, _share(TRAIN, comm.rank, comm.size), M, N)
        for _ in range(n_epochs):
            m.run_epoch()
        return m.state_dict(), m.local_factors()
    return run_ranks(P, first)


def _resume_one_epoch(P, kw, state, rows):
    """Per rank ``(local_factors, epoch record)`` of one epoch after loading
    ``state`` with the row source ``rows(which, lo, hi)``."""
    def second(comm):
        m = DSGD(**kw).setup(comm, _share(TRAIN, comm.rank, comm.size), M, N)
        m.load_state(state, rows)
        rec = m.run_epoch()
        return m.local_factors(), rec
    return run_ranks(P, second)


def test_resume_is_bit_identical_at_same_rank_count():
    kw = dict(k=4, lam=0.05, lr=0.02, seed=3)
    W3, H3, hist3, _ = _run(2, n_epochs=3, **kw)
    saved = _run_and_save(2, 2, kw)
    W2, H2 = _assemble([s[1] for s in saved], 4)
    state = saved[0][0]

    res = _resume_one_epoch(2, kw, state, lambda which, lo, hi: (W2 if which == "W" else H2)[lo:hi])
    W, H = _assemble([r[0] for r in res], 4)
    assert np.array_equal(W, W3) and np.array_equal(H, H3)
    assert res[0][1]["objective"] == hist3[-1]["objective"] and res[0][1]["epoch"] == 3


def test_resume_on_another_rank_count_reblocks():
    kw = dict(k=4, lam=0.05, lr=0.02, seed=3)
    W2, H2, _, _ = _run(2, n_epochs=2, **kw)

    def second(comm):
        m = DSGD(**kw).setup(comm, _share(TRAIN, comm.rank, comm.size), M, N)
        m.load_state({"epoch": 2, "step": {"lr": 0.02, "prev": None}},
                     lambda which, lo, hi: (W2 if which == "W" else H2)[lo:hi])
        before = m.local_factors()
        m.run_epoch()
        return before
    W, H = _assemble(run_ranks(3, second), 4)
    assert np.array_equal(W, W2) and np.array_equal(H, H2)


def test_bad_ids_raise_on_every_rank():
    def fn(comm):
        bad = Triplets(np.array([M + 5 if comm.rank == 1 else 0]), np.array([0]), np.array([1.0]))
        try:
            DSGD(k=2).setup(comm, bad, M, N)
        except (CollectiveError, InputError) as exc:
            return type(exc).__name__, getattr(exc, "origin_rank", comm.rank)
        return None
    res = run_ranks(3, fn)
    assert all(r is not None and r[1] == 1 for r in res)


@pytest.mark.parametrize("fugue", [False, True])
def test_reaches_noise_level_on_synthetic_data(fugue):
    data = synthetic_ratings(300, 200, rank=3, density=0.5, noise=0.2, offset=3.0, seed=1)
    va = np.random.default_rng(0).random(data.users.size) < 0.1
    tr = (data.users[~va], data.items[~va], data.values[~va])
    vl = (data.users[va], data.items[va], data.values[va])

    def fn(comm):
        m = DSGD(k=4, lam=0.01, lr=0.01, seed=3, fugue=fugue, fugue_fixed=0.3 if fugue else None)
        m.setup(comm, _share(tr, comm.rank, comm.size), 300, 200, _share(vl, comm.rank, comm.size))
        for _ in range(30):
            rec = m.run_epoch()
        return rec
    rec = run_ranks(2, fn)[0]
    assert rec["valid_rmse"] < 1.1 * data.noise


ROW_STATE = [dict(step="adaptive", lr=0.1), dict(step="adaptive", lr=0.1, bias=True),
             dict(step="bold", lr=0.02, bias=True)]


@pytest.mark.parametrize("extra", ROW_STATE, ids=["adaptive", "adaptive-bias", "bold-bias"])
@pytest.mark.parametrize("P,b", [(1, 1), (2, 2), (3, 1), (4, 1)])
def test_adaptive_and_bias_equal_serial(P, b, extra):
    va = synthetic_ratings(M, N, rank=3, density=0.05, noise=0.1, offset=2.0, seed=12)
    valid = (va.users, va.items, va.values)
    kw = dict(k=6, lam=0.05, seed=3, order="WOR", blocks_per_rank=b, **extra)   # slow_dims(6) = 1: both parts
    W, H, hist, _ = _run(P, valid=valid, **kw)
    Ws, Hs, recs = serial_dsgd(TRAIN, M, N, n_ranks=P, n_epochs=3, valid=valid, **kw)
    assert np.array_equal(W, Ws) and np.array_equal(H, Hs)
    assert [h["objective"] for h in hist] == [r["objective"] for r in recs]
    assert [h["valid_rmse"] for h in hist] == [np.sqrt(r["valid_sse"] / va.users.size) for r in recs]


@pytest.mark.parametrize("extra", ROW_STATE[:2], ids=["adaptive", "adaptive-bias"])
@pytest.mark.parametrize("P,b", [(2, 1), (3, 2)])
def test_fugue_fixed_with_row_state_equals_serial(P, b, extra):
    kw = dict(k=6, lam=0.05, seed=5, fugue=True, fugue_fixed=0.5, blocks_per_rank=b, **extra)
    W, H, _, log = _run(P, **kw)
    kw.pop("fugue"), kw.pop("fugue_fixed")
    Ws, Hs, _ = serial_dsgd(TRAIN, M, N, n_ranks=P, n_epochs=3, fugue_extra=log, **kw)
    assert np.array_equal(W, Ws) and np.array_equal(H, Hs)
    # the extra updates changed the model (they are not silently skipped)
    W0, _, _ = serial_dsgd(TRAIN, M, N, n_ranks=P, n_epochs=3, **kw)
    assert not np.array_equal(W, W0)


def test_adaptive_bias_resume_is_bit_identical_and_moves_row_state():
    kw = dict(k=6, lam=0.05, lr=0.1, seed=3, step="adaptive", bias=True, blocks_per_rank=2)
    W3, H3, hist3, _ = _run(3, n_epochs=3, **kw)
    saved = _run_and_save(3, 2, kw)
    full = {}
    for name, n in (("W", M), ("H", N), ("GW", M), ("GH", N), ("BW", M), ("BH", N)):
        arr = np.full({"G": (n, 2), "B": n}.get(name[0], (n, 6)), np.nan, np.float32)
        for _, lf in saved:
            for lo, rows in lf[name]:
                arr[lo:lo + len(rows)] = rows
        assert not np.isnan(arr).any(), name        # every row's state is somewhere, once
        full[name] = arr
    state = saved[0][0]
    assert state["accumulators"] and state["bias"] and state["step_rule"] == "adaptive"

    res = _resume_one_epoch(3, kw, state, lambda which, lo, hi: full[which][lo:hi])
    W, H = _assemble([r[0] for r in res], 6)
    assert np.array_equal(W, W3) and np.array_equal(H, H3)
    assert res[0][1]["objective"] == hist3[-1]["objective"]


# Measured (20 epochs, valid RMSE / sigma): 1.05 with and without biases
# at k = 4 and 8, as the bold driver (1.04-1.07).
@pytest.mark.parametrize("fugue,bias,k", [(False, False, 4), (True, False, 8), (False, True, 4),
                                          (True, True, 8)])
def test_adaptive_default_reaches_noise_level(fugue, bias, k):
    data = synthetic_ratings(300, 200, rank=3, density=0.5, noise=0.2, offset=3.0, seed=1)
    va = np.random.default_rng(0).random(data.users.size) < 0.1
    tr = (data.users[~va], data.items[~va], data.values[~va])
    vl = (data.users[va], data.items[va], data.values[va])

    def fn(comm):
        m = DSGD(k=k, lam=0.01, lr=0.1, step="adaptive", seed=3, fugue=fugue, bias=bias,
                 fugue_fixed=0.3 if fugue else None)
        m.setup(comm, _share(tr, comm.rank, comm.size), 300, 200, _share(vl, comm.rank, comm.size))
        for _ in range(20):
            rec = m.run_epoch()
        return rec
    rec = run_ranks(2, fn)[0]
    assert rec["valid_rmse"] < 1.1 * data.noise
