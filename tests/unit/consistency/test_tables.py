"""The tables' contract, without MPI: random interleavings of get/inc/clock
driven from one thread and checked against the serial SSP specification;
threaded runs with random delays; BSP and averaging against references."""

import time

import numpy as np
import pytest

from mpiml.consistency import StalenessViolation, make_table
from mpiml.consistency.asynchronous import AsyncTable
from mpiml.consistency.essp import ESSPTable
from mpiml.consistency.ssp import SSPTable
from mpiml.errors import CollectiveError, ConfigError
from tests.fakecomm import run_ranks
from tests.naive.linear import SSPSpec, bsp_table_reads
from tests.unit.consistency.fakerma import RMAWorld, Serial, with_rma

N_ROWS, WIDTH = 7, 3


def make(kind, comm, s, debug=True):
    if kind == "ssp":
        return SSPTable(comm, N_ROWS, WIDTH, s, debug=debug)
    if kind == "essp":
        return ESSPTable(comm, N_ROWS, WIDTH, s, debug=debug)
    return AsyncTable(comm, N_ROWS, WIDTH, debug=debug)


def non_blocking(table):
    """With every worker in one thread nobody may block: the wait at the end
    of clock() is skipped and the scheduler keeps the worker off the CPU
    until the spec says it may continue."""
    table._wait_for = lambda target: None
    return table


CASES = [("ssp", 0), ("ssp", 1), ("ssp", 3), ("essp", 0), ("essp", 2), ("async", None)]


@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("kind,s", CASES)
def test_random_interleavings_meet_the_ssp_contract(kind, s, size):
    rng = np.random.default_rng([size, 0 if s is None else s + 1, len(kind)])
    world = RMAWorld()
    tables = [non_blocking(make(kind, Serial(world, r, size), s)) for r in range(size)]
    spec = SSPSpec(size, N_ROWS, WIDTH, s)
    T = 12
    n_reads = 0
    while min(spec.clock) < T:
        w = int(rng.integers(size))
        if spec.clock[w] >= T or spec.blocked(w):
            continue
        action = rng.random()
        if action < 0.4:
            rows = rng.choice(N_ROWS, size=int(rng.integers(1, N_ROWS + 1)), replace=False)
            got = tables[w].get(rows)
            least, most = spec.bounds(w, rows)
            assert np.all(got >= least) and np.all(got <= most), (kind, s, w, spec.clock)
            if s == 0:
                assert np.array_equal(got, least), "s = 0 must return exactly the BSP value"
            n_reads += 1
        elif action < 0.75:
            rows = rng.integers(0, N_ROWS, size=3)
            deltas = rng.integers(0, 5, size=(3, WIDTH)).astype(float)
            tables[w].inc(rows, deltas)
            spec.inc(w, rows, deltas)
        elif action > 0.85:
            tables[w].clock()
            spec.do_clock(w)
    assert n_reads >= T // 2
    for t in tables:
        if s is not None:
            assert t.max_staleness_ <= s
    for t in tables:
        t.sync()
    total = sum(sum(f, np.zeros((N_ROWS, WIDTH))) for f in spec.flushed)
    for t in tables:
        assert np.array_equal(t.snapshot(), total)
        t.close()
    assert world.open == 0


@pytest.mark.parametrize("kind", ["ssp", "essp", "async"])
def test_read_my_writes_within_and_across_clocks(kind):
    world = RMAWorld()
    a, b = (non_blocking(make(kind, Serial(world, r, 2), 2)) for r in range(2))
    a.inc([1], [[1.0, 2.0, 3.0]])
    assert np.array_equal(a.get([1]), [[1.0, 2.0, 3.0]])
    a.inc([1, 1], [[1.0, 0, 0], [1.0, 0, 0]])
    assert np.array_equal(a.get([1, 0]), [[3.0, 2.0, 3.0], [0, 0, 0]])
    a.clock()
    assert np.array_equal(a.get([1]), [[3.0, 2.0, 3.0]])
    a.inc([1], [[0, 0, 1.0]])
    assert np.array_equal(a.get([1]), [[3.0, 2.0, 4.0]])
    b.inc([1], [[5.0, 0, 0]])
    got = b.get([1])[0]
    assert got[0] in (5.0, 8.0) and got[1] in (0.0, 2.0)   # own update always, a's maybe
    for t in (a, b):
        t.close()


def test_bad_rows_and_shapes():
    world = RMAWorld()
    t = make("ssp", Serial(world, 0, 1), 1)
    with pytest.raises(IndexError):
        t.get([N_ROWS])
    with pytest.raises(ValueError):
        t.inc([0], np.zeros((1, WIDTH + 1)))
    t.close()


def _ops(size, T, seed):
    rng = np.random.default_rng(seed)
    return [[(rng.integers(0, N_ROWS, size=4), rng.integers(-3, 4, size=(4, WIDTH)).astype(float),
              rng.choice(N_ROWS, size=3, replace=False)) for _ in range(size)] for _ in range(T)]


def _run_ops(kind, s, ops, sleeps=0.0, seed=0, every=1):
    world = RMAWorld()

    def fn(comm):
        t = make_table(comm, kind, N_ROWS, WIDTH, staleness=s, every=every, debug=True)
        rng = np.random.default_rng([seed, comm.rank])
        reads = []
        for step in ops:
            rows, deltas, read_rows = step[comm.rank]
            reads.append(t.get(read_rows))
            t.inc(rows, deltas)
            if sleeps:
                time.sleep(rng.random() * sleeps)
            t.clock()
        snap = t.snapshot()
        t.close()
        return reads, snap

    return run_ranks(len(ops[0]), with_rma(fn, world), timeout=60), world


@pytest.mark.parametrize("size", [1, 3, 4])
@pytest.mark.parametrize("kind", ["bsp", "ssp", "essp"])
def test_staleness_zero_equals_bsp_under_random_delays(kind, size):
    ops = _ops(size, 8, seed=size)
    ref = bsp_table_reads(N_ROWS, WIDTH, ops)
    out, world = _run_ops(kind, 0, ops, sleeps=0.002, seed=size)
    for r, (reads, snap) in enumerate(out):
        for t in range(len(ops)):
            assert np.array_equal(reads[t], ref[t][r]), (kind, r, t)
        total = np.zeros((N_ROWS, WIDTH))
        for step in ops:
            for rows, deltas, _ in step:
                np.add.at(total, rows, deltas)
        assert np.array_equal(snap, total)
    assert world.open == 0


@pytest.mark.parametrize("s", [1, 3])
def test_bound_holds_with_threads_and_random_delays(s):
    world = RMAWorld()
    size, T = 3, 10

    def fn(comm):
        t = make_table(comm, "ssp", 4, size, staleness=s, debug=True)
        rng = np.random.default_rng(comm.rank)
        for c in range(T):
            got = t.get(np.arange(4))
            assert np.all(got[:, comm.rank] == c)
            others = np.delete(got, comm.rank, axis=1)
            assert np.all(others >= c - s) and np.all(others <= c + s + 1)
            t.inc(np.arange(4), np.tile(np.eye(size)[comm.rank], (4, 1)))
            time.sleep(rng.random() * 0.003 * (1 + comm.rank))
            t.clock()
        m = t.max_staleness_
        t.close()
        return m

    assert max(run_ranks(size, with_rma(fn, world), timeout=60)) <= s


def test_debug_mode_catches_a_table_that_does_not_wait():
    class Broken(SSPTable):
        def _wait_for(self, target):
            pass

    world = RMAWorld()

    def fn(comm):
        t = Broken(comm, 2, 2, 1, debug=True)
        try:
            with comm.agree("clocks"):
                for c in range(6):
                    t.get([0, 1])
                    t.inc([0], [[1.0, 1.0]])
                    if comm.rank == 1:
                        time.sleep(0.05)
                    t.clock()
        finally:
            t.close()

    with pytest.raises(CollectiveError, match="StalenessViolation|stale"):
        run_ranks(2, with_rma(fn, world), timeout=30)


def test_averaging_matches_the_mean_of_local_models():
    size, every = 3, 2
    ops = _ops(size, 6, seed=9)
    out, _ = _run_ops("average", None, ops, every=every)
    # replicas: local += size * delta; averaged after clocks 2, 4, 6
    reps = [np.zeros((N_ROWS, WIDTH)) for _ in range(size)]
    for t, step in enumerate(ops):
        for r, (rows, deltas, read_rows) in enumerate(step):
            assert np.allclose(out[r][0][t], reps[r][read_rows], rtol=0, atol=1e-12)
            np.add.at(reps[r], rows, size * deltas)
        if (t + 1) % every == 0:
            mean = sum(reps) / size
            reps = [mean.copy() for _ in range(size)]
    for r in range(size):
        assert np.allclose(out[r][1], reps[0], atol=1e-12)


def test_make_table_rejects_bad_settings():
    world = RMAWorld()
    c = Serial(world, 0, 1)
    with pytest.raises(ConfigError, match="--consistency: expected one of bsp, ssp, essp, async, average"):
        make_table(c, "eventual", 2, 2)
    with pytest.raises(ConfigError, match="staleness"):
        make_table(c, "ssp", 2, 2, staleness=-1)
    with pytest.raises(ConfigError, match="every"):
        make_table(c, "average", 2, 2, every=0)


def test_staleness_histogram_and_violation_in_bookkeeping():
    world = RMAWorld()
    t = make("ssp", Serial(world, 0, 1), 0)
    t.get([0])
    t.clock()
    t.get([0, 1])
    h = t.pop_staleness()
    assert h[0] == 2 and h.sum() == 2 and t.pop_staleness().sum() == 0
    with pytest.raises(StalenessViolation):
        t._record(1)
    t.close()
