"""Parameter tables on real MPI ranks: the staleness bound under random
delays, s = 0 is BSP, read-my-writes, async runs ahead, windows are freed,
a failure inside a clock ends the job cleanly, checkpoint and resume."""

import time

import numpy as np
import pytest

from mpiml.comm import rma
from mpiml.consistency import make_table
from mpiml.errors import CollectiveError
from tests.mpi.conftest import assert_all

N_ROWS = 5


def counting_run(comm, kind, s, T, delay, seed=0, debug=True):
    """Each worker adds 1 to its own column of every row per clock, with a
    random sleep; returns whether every read met the bound, and the table's
    largest observed staleness."""
    t = make_table(comm, kind, N_ROWS, comm.size, staleness=s, debug=debug, name=f"count-{kind}")
    rng = np.random.default_rng([seed, comm.rank])
    ok = True
    one = np.tile(np.eye(comm.size)[comm.rank], (N_ROWS, 1))
    try:
        with comm.agree("counting"):
            for c in range(T):
                got = t.get(np.arange(N_ROWS))
                others = np.delete(got, comm.rank, axis=1)
                ok &= bool(np.all(got[:, comm.rank] == c))              # read-my-writes
                if s is not None:
                    ok &= bool(np.all(others >= c - s) and np.all(others <= c + s + 1))
                if s == 0:
                    ok &= bool(np.all(others == c))
                t.inc(np.arange(N_ROWS), one)
                time.sleep(delay(rng, comm.rank))
                t.clock()
            snap = t.snapshot()
            ok &= bool(np.all(snap == T))
    finally:
        t.close()
    return ok, t.max_staleness_


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("kind", ["ssp", "essp"])
@pytest.mark.parametrize("s", [0, 1, 3])
def test_bound_never_violated_under_random_delays(comm, kind, s):
    ok, worst = counting_run(comm, kind, s, T=12, delay=lambda rng, r: rng.random() * 0.004, seed=s)
    assert_all(comm, ok and worst <= s, f"{kind} s={s}: worst staleness {worst}")


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("kind", ["ssp", "essp"])
def test_staleness_zero_equals_bsp_exactly(comm, kind):
    rng = np.random.default_rng(11)
    T, W = 8, 3
    # the same random integer increments on every table (rank r uses plan[t][r])
    plan = [[(rng.integers(0, N_ROWS, 4), rng.integers(-4, 5, (4, W)).astype(float))
             for _ in range(comm.size)] for _ in range(T)]
    results = {}
    for k in ("bsp", kind):
        t = make_table(comm, k, N_ROWS, W, staleness=0, debug=True, name=k)
        reads = []
        r_rng = np.random.default_rng(comm.rank)
        for step in plan:
            reads.append(t.get(np.arange(N_ROWS)))
            rows, deltas = step[comm.rank]
            t.inc(rows, deltas)
            time.sleep(r_rng.random() * 0.003)
            t.clock()
        results[k] = (reads, t.snapshot())
        t.close()
    same = all(np.array_equal(a, b) for a, b in zip(results["bsp"][0], results[kind][0]))
    assert_all(comm, same and np.array_equal(results["bsp"][1], results[kind][1]))


@pytest.mark.mpi(min_size=2)
def test_async_runs_ahead_of_a_straggler(comm):
    slow = comm.size - 1

    def delay(rng, r):
        return 0.03 if r == slow else 0.0

    ok, worst = counting_run(comm, "async", None, T=8, delay=delay)
    worst_all = comm.allreduce_scalar(worst, "max")
    assert_all(comm, ok and worst_all > 0, f"async observed staleness {worst_all}")
    ok, worst = counting_run(comm, "ssp", 1, T=8, delay=delay)
    assert_all(comm, ok and worst <= 1)


@pytest.mark.mpi(min_size=1)
def test_several_tables_at_once_and_every_window_freed(comm):
    before = rma.open_windows(comm)
    tables = [make_table(comm, k, 3, 2, staleness=1, every=2, name=f"t{i}")
              for i, k in enumerate(("ssp", "bsp", "essp", "async", "average"))]
    for c in range(4):
        for i, t in enumerate(tables):
            t.inc([i % 3], [[1.0, float(comm.rank)]])
            t.clock()
    snaps = [t.snapshot() for t in tables]
    during = rma.open_windows(comm)
    for t in tables:
        t.close()
    expect = np.zeros((3, 2))
    ok = True
    for i, s in enumerate(snaps):
        e = expect.copy()
        e[i % 3] = [4.0 * comm.size, 4.0 * sum(range(comm.size))]
        ok &= bool(np.allclose(s, e))
    # ssp, essp, async: rows and clocks windows each; essp also replica and pushed counters
    assert_all(comm, ok and during - before == 8 and rma.open_windows(comm) == before,
               f"windows before/during/after: {before}/{during}/{rma.open_windows(comm)}")


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("kind", ["ssp", "essp", "async", "bsp", "average"])
def test_rank_raising_inside_a_clock_fails_cleanly(comm, kind):
    bad = comm.size - 1
    t = make_table(comm, kind, N_ROWS, 2, staleness=1, every=2, name=f"fail-{kind}")
    t0 = time.monotonic()
    try:
        with pytest.raises(CollectiveError) as e:
            with comm.agree(f"clocks of {kind}"):
                for c in range(10):
                    t.get([0, 1])
                    t.inc([0], [[1.0, 1.0]])
                    if comm.rank == bad and c == 3:
                        raise RuntimeError("boom inside a clock")
                    t.clock()
    finally:
        t.close()
    assert_all(comm, e.value.origin_rank == bad and "boom inside a clock" in str(e.value)
               and time.monotonic() - t0 < 30, str(e.value))


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("kind", ["bsp", "ssp"])
def test_checkpoint_and_resume_of_a_table(comm, shared_tmp, kind):
    from mpiml.io.checkpoint import State, write
    from mpiml.io.ckpt_read import load
    rng = np.random.default_rng(5)
    plan = [[(rng.integers(0, N_ROWS, 3), rng.integers(0, 3, (3, 2)).astype(float))
             for _ in range(comm.size)] for _ in range(10)]

    def run(t, steps):
        for step in steps:
            rows, deltas = step[comm.rank]
            t.get(np.arange(N_ROWS))
            t.inc(rows, deltas)
            t.clock()

    ref = make_table(comm, kind, N_ROWS, 2, staleness=2, name="ref")
    run(ref, plan)
    want = ref.snapshot()
    ref.close()

    a = make_table(comm, kind, N_ROWS, 2, staleness=2, name="a")
    run(a, plan[:6])
    st = State(iteration=6, replicated={"table": a.snapshot()}, meta={"clock": a.clock_})
    root = shared_tmp / f"tab-{kind}"
    write(comm, root, st, algorithm="table-test", schema=1, config={}, provenance={})
    a.close()
    ck = load(comm, root, "table-test", 1)
    b = make_table(comm, kind, N_ROWS, 2, staleness=2, name="b")
    b.load(ck.replicated("table"), clock=ck.meta["clock"])
    resumed_clock = b.clock_
    run(b, plan[6:])
    got = b.snapshot()
    b.close()
    assert_all(comm, np.array_equal(got, want) and resumed_clock == 6 and b.clock_ == 10)


@pytest.mark.mpi(min_size=1)
def test_window_atomics_with_explicit_int64_and_double(comm):
    counters = rma.allocate(comm, 2, np.int64, "t-counters")
    values = rma.allocate(comm, 3, np.float64, "t-values")
    olds = [counters.fetch_add(0, 1, 1) for _ in range(5)]
    for r in range(comm.size):
        values.accumulate(r, 0, np.array([0.5, 1.0, float(comm.rank)]))
    values.flush()
    comm.barrier()
    total = counters.read(0, 1, 1)
    mine = values.read(comm.rank, 0, 3)
    counters.flush()
    values.flush()
    all_olds = sorted(o for part in comm.allgather_obj(olds) for o in part)
    ok = (all_olds == list(range(5 * comm.size)) and int(total[0]) == 5 * comm.size
          and np.array_equal(mine, [0.5 * comm.size, 1.0 * comm.size, float(sum(range(comm.size)))]))
    values.free()
    counters.free()
    assert_all(comm, ok and counters.freed and values.freed)
