"""Linear SGD on real MPI ranks: BSP equals the serial reference, s = 0
equals BSP, checkpoint/resume through the training loop, predict."""

import numpy as np
import pytest

from mpiml.datasets.linear import make_classification, write_libsvm
from mpiml.linear.sgd import LinearSGD, predict_checkpoint
from mpiml.runtime.faults import Straggler
from tests.mpi.conftest import assert_all
from tests.naive.linear import sgd_bsp


@pytest.fixture(scope="module")
def data(comm, tmp_path_factory):
    X, y, _ = make_classification(120, 30, seed=8, nnz_per_row=6)
    path = None
    if comm.rank == 0:
        path = tmp_path_factory.mktemp("lin") / "train.svm"
        write_libsvm(path, X, y)
    return comm.bcast_obj(str(path)), X.toarray(), y


def run(comm, path, iters, **kw):
    algo = LinearSGD(data=path, **kw)
    with comm.agree("setup"):
        algo.setup(comm)
        algo.initialize(comm)
    hist = []
    for it in range(1, iters + 1):
        with comm.agree(f"iteration {it}"):
            hist.append(algo.step(comm, it, Straggler(None, comm.rank)))
    algo.finish(comm)
    return algo, hist


KW = dict(loss="logistic", penalty="l2", alpha=0.01, lr=0.4, batch=4, clocks=5, seed=3)


@pytest.mark.mpi(min_size=1)
def test_bsp_equals_serial_sgd(comm, data):
    path, X, y = data
    algo, hist = run(comm, path, 3, consistency="bsp", **KW)
    # LIBSVM files are split by bytes: take each rank's actual rows
    rs = comm.allgather_obj((algo.train_.offset, algo.train_.offset + algo.train_.n_local))
    ref = sgd_bsp([X[a:b] for a, b in rs], [y[a:b] for a, b in rs], "logistic", "l2", 0.01, 0.4, 4, 3, 15)
    w = np.append(algo.coef_, algo.intercept_)
    assert_all(comm, np.allclose(w, ref, rtol=1e-12, atol=1e-13), f"max diff {np.abs(w - ref).max()}")


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("consistency", ["ssp", "essp"])
def test_staleness_zero_equals_bsp(comm, data, consistency):
    path, _, _ = data
    a, _ = run(comm, path, 2, consistency="bsp", **KW)
    b, hist = run(comm, path, 2, consistency=consistency, staleness=0, debug_staleness=True, **KW)
    assert_all(comm, np.allclose(a.coef_, b.coef_, rtol=1e-12, atol=1e-14)
               and all(h["stale_max"] == 0 for h in hist))


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("consistency", ["bsp", "ssp"])
def test_checkpoint_resume_through_the_training_loop(comm, data, shared_tmp, consistency):
    from mpiml.runtime.loop import RunOptions, host_info, train
    path, _, _ = data
    info = host_info(comm)

    def go(ckdir, max_iter, resume=None):
        algo = LinearSGD(data=path, consistency=consistency, staleness=1, **KW)
        opts = RunOptions(max_iter=max_iter, checkpoint_dir=str(ckdir), quiet=True, resume=resume,
                          config={"data": path, "consistency": consistency})
        return algo, train(algo, comm, opts, dict(info))

    full, _ = go(shared_tmp / f"full-{consistency}", 4)
    ck = shared_tmp / f"part-{consistency}"
    go(ck, 2)
    resumed, summary = go(ck, 4, resume="auto")
    ok = summary["iterations"] == 4 and resumed.table_.clock_ == 20
    if consistency == "bsp":   # deterministic: bit for bit
        ok &= np.array_equal(resumed.coef_, full.coef_) and resumed.intercept_ == full.intercept_
    else:                      # asynchronous: same run length, similar model
        ok &= np.allclose(resumed.coef_, full.coef_, atol=0.05)
    assert_all(comm, ok, f"{consistency}: clock {resumed.table_.clock_}")
    if comm.rank == 0:
        from mpiml.io.ckpt_read import Checkpoint
        c = Checkpoint(ck)
        labels, z, proba = predict_checkpoint(c, path)
        X, _ = data[1], data[2]
        want = X @ resumed.coef_ + resumed.intercept_
        ok = np.allclose(z, want) and np.array_equal(labels, np.where(want >= 0, 1, -1)) \
            and np.allclose(proba, 1 / (1 + np.exp(-want)))
    assert_all(comm, ok)
