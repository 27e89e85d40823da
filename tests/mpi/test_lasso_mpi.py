"""Lasso on real MPI ranks (run at 1-4 ranks): every schedule equals the
serial replay of the same schedule; every reader gives the same columns;
more ranks than columns work."""

import numpy as np
import pytest

from mpiml.datasets.regression import make_correlated
from mpiml.lasso.solver import Lasso
from mpiml.runtime.faults import Straggler
from mpiml.sched import ConflictGraph, Scheduler
from tests.mpi.conftest import assert_all
from tests.naive import lasso as naive

pytestmark = pytest.mark.timeout(300)


def write_all(X, y, d):
    """The same problem as .npy, .h5, .csv (+ targets) and LIBSVM files."""
    import h5py
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", y)
    with h5py.File(d / "Xy.h5", "w") as f:
        f["X"] = X
        f["y"] = y
    np.savetxt(d / "X.csv", X, delimiter=",", fmt="%.17g")
    with open(d / "Xy.svm", "w") as f:
        for i in range(X.shape[0]):
            nz = np.flatnonzero(X[i])
            f.write(f"{y[i]:.17g} " + " ".join(f"{j + 1}:{X[i, j]:.17g}" for j in nz) + "\n")


@pytest.fixture(scope="module")
def problem(comm, tmp_path_factory):
    X, y, _, _ = make_correlated(90, 13, corr=0.95, common=0.0, seed=7)
    X[np.abs(X) < 0.4] = 0.0           # some sparsity, so the LIBSVM file is sparse
    path = None
    if comm.rank == 0:
        path = tmp_path_factory.mktemp("lasso")
        write_all(X, y, path)
    from pathlib import Path
    return X, y, Path(comm.bcast_obj(str(path) if path else None))


def run(comm, iters, **kw):
    a = Lasso(**kw)
    a.setup(comm)
    a.initialize(comm)
    objs = []
    for it in range(1, iters + 1):
        objs.append(a.step(comm, it, Straggler(None, comm.rank))["objective"])
        if a.converged_:
            break
    return a, objs


def same_everywhere(comm, arr) -> bool:
    got = comm.allgather_obj(np.asarray(arr).tobytes(), "test")
    return all(g == got[0] for g in got)


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("kind", ["sap", "random", "cyclic"])
def test_schedule_equals_serial_replay(comm, problem, kind):
    X, y, d = problem
    a, objs = run(comm, 6, data=str(d / "X.npy"), labels=str(d / "y.npy"), alpha=0.02,
                  schedule=kind, parallel=5, rounds=2, tol=0.0, seed=3, rho=0.3)
    g = ConflictGraph.from_pairs(13, naive.conflict_pairs(X, 0.3)) if kind == "sap" else None
    beta, r, ref = naive.replay(X, y, 0.02, Scheduler(kind, 13, 5, seed=3, conflicts=g), 12)
    ok = np.allclose(a.beta_, beta, rtol=1e-10, atol=1e-13) and np.allclose(objs, ref[1::2], rtol=1e-12)
    ok &= np.allclose(a.r_, r, rtol=1e-10, atol=1e-12)
    if kind == "sap":
        ok &= a.n_conflicts_ == g.n_edges > 0
    assert_all(comm, ok and same_everywhere(comm, a.beta_) and same_everywhere(comm, a.r_),
               f"rank {comm.rank}: {np.abs(a.beta_ - beta).max()}")


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("name,extra", [("Xy.h5", {}), ("X.csv", {"labels": "y.npy"}),
                                        ("Xy.svm", {"n_features": 13})])
def test_every_reader_gives_the_same_model(comm, problem, name, extra):
    X, y, d = problem
    kw = dict(alpha=0.02, schedule="sap", parallel=4, tol=0.0, seed=1)
    ref, _ = run(comm, 4, data=str(d / "X.npy"), labels=str(d / "y.npy"), **kw)
    extra = {k: (str(d / v) if k == "labels" else v) for k, v in extra.items()}
    got, _ = run(comm, 4, data=str(d / name), **extra, **kw)
    ok = np.allclose(got.beta_, ref.beta_, rtol=1e-10, atol=1e-13) and np.count_nonzero(ref.beta_) > 0
    ok &= got.block_.sparse == name.endswith(".svm")
    assert_all(comm, ok, f"{name}: {np.abs(got.beta_ - ref.beta_).max()}")


@pytest.mark.mpi(min_size=2)
def test_more_ranks_than_columns(comm, shared_tmp):
    X, y, _, _ = make_correlated(40, comm.size - 1, corr=0.5, seed=2)   # fewer columns than ranks
    if comm.rank == 0:
        np.save(shared_tmp / "X.npy", X)
        np.save(shared_tmp / "y.npy", y)
    comm.barrier()
    a, _ = run(comm, 200, data=str(shared_tmp / "X.npy"), labels=str(shared_tmp / "y.npy"),
               alpha=0.01, schedule="sap", parallel=3, tol=1e-12)
    beta, _, _ = naive.cd_cyclic(X, y, 0.01, sweeps=2000)
    ok = a.converged_ and np.allclose(a.beta_, beta, rtol=1e-6, atol=1e-9)
    ok &= a.block_.n_local == (1 if comm.rank < X.shape[1] else 0)
    assert_all(comm, ok, f"{a.beta_} vs {beta}")
