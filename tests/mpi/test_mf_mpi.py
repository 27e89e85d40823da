"""Matrix factorisation on real MPI ranks (run on 1-4): the runtime adapter
reading a file gives the serial DSGD / Fugue (replayed counts) / ALS model,
and a checkpointed run resumes bit for bit.

    mpiexec -n 3 python -m mpi4py -m pytest --with-mpi -p no:cacheprovider tests/mpi/test_mf_mpi.py
"""

import numpy as np
import pytest

from mpiml.datasets.ratings import synthetic_ratings
from mpiml.mf.model import MatrixFactorization
from mpiml.runtime.faults import Straggler
from tests.mpi.conftest import assert_all
from tests.naive.mf import serial_als, serial_dsgd

pytestmark = pytest.mark.timeout(120, method="thread")

M, N = 53, 41
DATA = synthetic_ratings(M, N, rank=3, density=0.3, noise=0.1, offset=2.0, seed=11, min_per_user=2)
TRAIN = (DATA.users, DATA.items, DATA.values)


@pytest.fixture(scope="module")
def path(comm, tmp_path_factory):
    p = None
    if comm.rank == 0:
        p = tmp_path_factory.mktemp("mf") / "r.txt"
        p.write_text("".join(f"{u} {i} {float(v)!r}\n" for u, i, v in zip(*TRAIN)))
    return comm.bcast_obj(None if p is None else str(p))


def fit(comm, path, epochs, straggler=None, **kw):
    algo = MatrixFactorization(data=path, **kw)
    algo.setup(comm)
    algo.initialize(comm)
    slow = Straggler(straggler, comm.rank)
    for it in range(1, epochs + 1):
        slow.begin_iteration()
        algo.step(comm, it, slow)
    return algo


def gather(comm, algo, dtype):
    """Whole W and H from every rank's rows."""
    k = algo.k
    W, H = np.full((M, k), np.nan, dtype), np.full((N, k), np.nan, dtype)
    for part in comm.allgather_obj(algo.solver_.local_factors()):
        for lo, rows in part["W"]:
            W[lo:lo + len(rows)] = rows
        for lo, rows in part["H"]:
            H[lo:lo + len(rows)] = rows
    return W, H


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("order,b,dtype", [("WOR", 1, "float32"), ("COWOR", 2, "float32"), ("WR", 1, "float32"),
                                           ("WOR", "auto", "float32"), ("WOR", 1, "float64"),
                                           ("COWOR", 2, "float64")])
def test_dsgd_equals_serial(comm, path, order, b, dtype):
    kw = dict(k=4, lam=0.05, lr=0.02, seed=3, order=order)
    algo = fit(comm, path, 3, solver="dsgd", blocks_per_rank=b, dtype=dtype, **kw)
    W, H = gather(comm, algo, dtype)
    b_used = algo.solver_.blocks_per_rank_
    assert_all(comm, b_used == (1 if b == "auto" else b), f"auto chose {b_used} blocks for a tiny matrix")
    Ws, Hs, recs = serial_dsgd(TRAIN, M, N, n_ranks=comm.size, n_epochs=3, blocks_per_rank=b_used, dtype=dtype,
                               **kw)
    hist = [h["objective"] for h in algo.solver_.history_]
    assert_all(comm, algo.solver_.W_.dtype == np.dtype(dtype) and np.array_equal(W, Ws) and np.array_equal(H, Hs)
               and hist == [r["objective"] for r in recs], f"{order} b={b} {dtype} on {comm.size} ranks")


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fugue_with_a_straggler_equals_serial_replay(comm, path, dtype):
    kw = dict(k=4, lam=0.05, lr=0.02, seed=5, blocks_per_rank=1, dtype=dtype)
    # rank 0 sleeps 199x its (tiny) compute time per sub-epoch: the others make extra updates
    algo = fit(comm, path, 3, straggler="0:200", solver="fugue", fugue_chunk=8, **kw)
    W, H = gather(comm, algo, dtype)
    log = algo.solver_.extra_log_
    Ws, Hs, _ = serial_dsgd(TRAIN, M, N, n_ranks=comm.size, n_epochs=3, fugue_extra=log, **kw)
    others = sum(int(lg[:, 1:].sum()) for lg in log)
    assert_all(comm, np.array_equal(W, Ws) and np.array_equal(H, Hs), "replayed Fugue model differs")
    assert_all(comm, comm.size == 1 or others > 0, f"no extra updates on ranks 1.. ({others})")


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_als_equals_serial(comm, path, dtype):
    algo = fit(comm, path, 3, solver="als", k=4, lam=0.05, seed=2, dtype=dtype)
    W, H = gather(comm, algo, dtype)
    Ws, Hs, objs = serial_als(TRAIN, M, N, k=4, lam=0.05, seed=2, n_epochs=3,
                              init_scale=algo.solver_.init_scale_, dtype=dtype)
    hist = [h["objective"] for h in algo.solver_.history_]
    # numpy.linalg.solve in the reference, Cholesky in the kernel: equal to float64
    # rounding, or to one rounding step of the stored float32.
    rtol, atol, otol = (1e-8, 1e-10, 1e-10) if dtype == "float64" else (1e-5, 1e-6, 1e-6)
    assert_all(comm, algo.solver_.H_.dtype == np.dtype(dtype) and np.allclose(W, Ws, rtol=rtol, atol=atol)
               and np.allclose(H, Hs, rtol=rtol, atol=atol) and np.allclose(hist, objs, rtol=otol))


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("solver", ["dsgd", "als"])
def test_checkpointed_run_resumes_bit_identical(comm, path, shared_tmp, solver):
    from mpiml.io.ckpt_read import Checkpoint
    from mpiml.runtime.loop import RunOptions, host_info, train
    kw = dict(k=4, lam=0.05, seed=7) if solver == "als" else dict(k=4, lam=0.05, lr=0.02, seed=7,
                                                                   blocks_per_rank=2)
    info = host_info(comm)

    def run(root, max_iter, resume=None):
        opts = RunOptions(max_iter=max_iter, checkpoint_dir=str(root), resume=resume, quiet=True,
                          config={"solver": solver, **kw})
        return train(MatrixFactorization(data=path, solver=solver, valid_fraction=0.2, **kw), comm, opts, dict(info))

    ref = run(shared_tmp / "ref", 4)
    run(shared_tmp / "ck", 2)
    got = run(shared_tmp / "ck", 4, resume="auto")
    a, b = Checkpoint(shared_tmp / "ref"), Checkpoint(shared_tmp / "ck")
    same = all(np.array_equal(a.read_rows(x), b.read_rows(x)) for x in ("W", "H"))
    assert_all(comm, same and got["valid_rmse"] == ref["valid_rmse"] and b.iteration == 4,
               f"{solver}: resumed model differs")
