"""The MF runtime adapter (mpiml.mf.model) on simulated ranks: the training loop
with checkpoints gives the serial DSGD/ALS model, resumes bit for bit,
re-blocks on another rank count, keeps string id maps, and scores."""

import json

import numpy as np
import pytest

from mpiml.datasets.ratings import synthetic_ratings
from mpiml.errors import CheckpointError, CollectiveError, ConfigError
from mpiml.io.ckpt_read import Checkpoint
from mpiml.mf.data import split_mask
from mpiml.mf.model import FactorModel, MatrixFactorization, decode_ids, dense_index, encode_ids
from mpiml.runtime.loop import RunOptions, train
from tests.fakecomm import run_ranks
from tests.naive.mf import serial_als, serial_dsgd

M, N = 41, 31
DATA = synthetic_ratings(M, N, rank=3, density=0.35, noise=0.1, offset=2.0, seed=21, min_per_user=3)
INFO = {"version": "test", "mpi_library": "fake", "mpi_standard": "0", "mpi4py": "-", "numpy": np.__version__}
SGD = dict(k=4, lam=0.05, lr=0.02, seed=3)


@pytest.fixture(scope="module")
def ratings_file(tmp_path_factory):
    """Triplets with 1-based ids, in a shuffled line order (ids map back to dense u, i)."""
    p = tmp_path_factory.mktemp("mf") / "r.txt"
    order = np.random.default_rng(0).permutation(DATA.users.size)
    p.write_text("".join(f"{DATA.users[t] + 1} {DATA.items[t] + 1} {float(DATA.values[t])!r}\n" for t in order))
    assert np.unique(DATA.items).size == N and np.unique(DATA.users).size == M
    return p


def _split(fraction=0.2, seed=3):
    va = split_mask(DATA.users, DATA.items, N, fraction, seed)
    t = lambda m: (DATA.users[m], DATA.items[m], DATA.values[m])
    return t(~va), t(va)


def run_train(P, path, root, max_iter=3, every=0, resume=None, init_from=None, log=None,
              straggler=None, **kw):
    """``mpiml train mf`` on P simulated ranks; returns rank 0's summary."""
    config = {"data": str(path), "solver": kw.get("solver", "dsgd"), "rank": kw.get("k", 16),
              "seed": kw.get("seed", 0), "lam": kw.get("lam"), "lr": kw.get("lr"),
              "blocks_per_rank": kw.get("blocks_per_rank", 1), "valid_fraction": kw.get("valid_fraction", 0.0)}
    opts = RunOptions(max_iter=max_iter, checkpoint_dir=None if root is None else str(root),
                      checkpoint_every=every, resume=resume, init_from=init_from, log=log, quiet=True,
                      seed=kw.get("seed", 0), straggler=straggler, config=config)

    def fn(comm):
        return train(MatrixFactorization(data=path, **kw), comm, opts, dict(INFO))
    return run_ranks(P, fn)[0]


def model_of(root):
    ck = Checkpoint(root)
    return ck, ck.read_rows("W"), ck.read_rows("H")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("P", [1, 2, 3, 4])
def test_training_loop_equals_serial_dsgd(P, dtype, ratings_file, tmp_path):
    log = tmp_path / "log.jsonl"
    summary = run_train(P, ratings_file, tmp_path / "ck", valid_fraction=0.2, log=log, dtype=dtype, **SGD)
    tr, va = _split()
    # --blocks-per-rank auto: this matrix's factor rows fit any cache, so one block per rank.
    Ws, Hs, recs = serial_dsgd(tr, M, N, n_ranks=P, n_epochs=3, valid=va, blocks_per_rank=1, dtype=dtype,
                               **SGD)
    ck, W, H = model_of(tmp_path / "ck")
    assert W.dtype == H.dtype == np.dtype(dtype) and Ws.dtype == np.dtype(dtype)
    assert np.array_equal(W, Ws) and np.array_equal(H, Hs)
    assert ck.meta["solver_state"]["blocks_per_rank"] == 1 and ck.config["dtype"] == dtype
    rows = [json.loads(x) for x in log.read_text().splitlines() if '"iter"' in x]
    assert [r["objective"] for r in rows] == [r["objective"] for r in recs]
    assert [r["lr"] for r in rows] == [r["lr"] for r in recs]
    assert [r["valid_rmse"] for r in rows] == [np.sqrt(r["valid_sse"] / va[0].size) for r in recs]
    assert summary["epochs"] == 3 and summary["n_train"] == tr[0].size and summary["n_valid"] == va[0].size
    assert np.array_equal(decode_ids(ck.replicated("user_ids"), "int"), np.arange(1, M + 1))
    assert ck.meta["solver_state"]["epoch"] == 3 and ck.iteration == 3


@pytest.mark.parametrize("P,dtype", [(1, "float64"), (3, "float64"), (1, "float32"), (3, "float32")])
def test_training_loop_equals_serial_als(P, dtype, ratings_file, tmp_path):
    run_train(P, ratings_file, tmp_path / "ck", solver="als", k=3, lam=0.05, seed=2, dtype=dtype)
    tr = (DATA.users, DATA.items, DATA.values)
    scale = MatrixFactorization(data=ratings_file, solver="als", k=3, lam=0.05, seed=2)
    def fn(comm):
        scale.setup(comm)
        return scale.solver_.init_scale_
    init_scale = run_ranks(1, fn)[0]
    Ws, Hs, _ = serial_als(tr, M, N, k=3, lam=0.05, seed=2, n_epochs=3, init_scale=init_scale, dtype=dtype)
    _, W, H = model_of(tmp_path / "ck")
    assert W.dtype == H.dtype == np.dtype(dtype)
    # The serial reference solves with numpy.linalg.solve, the kernel by Cholesky:
    # equal to float64 rounding, i.e. to one float32 rounding step when stored in float32.
    tol = dict(rtol=1e-8, atol=1e-10) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(W, Ws, **tol)
    np.testing.assert_allclose(H, Hs, **tol)


def test_als_float32_is_the_same_on_any_rank_count(ratings_file, tmp_path):
    models = []
    for P in (1, 2, 3, 4):
        run_train(P, ratings_file, tmp_path / f"ck{P}", solver="als", k=3, lam=0.05, seed=2, dtype="float32")
        models.append(model_of(tmp_path / f"ck{P}")[1:])
    assert all(np.array_equal(W, models[0][0]) and np.array_equal(H, models[0][1]) for W, H in models)


@pytest.mark.parametrize("kw", [
    dict(solver="dsgd", blocks_per_rank=2, order="COWOR", **SGD),   # H re-laid out for the checkpoint
    dict(solver="fugue", fugue_fixed=0.5, **SGD),
    dict(solver="als", k=3, lam=0.05, seed=1),
], ids=["dsgd-b2", "fugue-fixed", "als"])
def test_resume_is_bit_identical(kw, ratings_file, tmp_path):
    ref = run_train(3, ratings_file, tmp_path / "ref", max_iter=4, valid_fraction=0.2, **kw)
    run_train(3, ratings_file, tmp_path / "ck", max_iter=2, valid_fraction=0.2, **kw)
    got = run_train(3, ratings_file, tmp_path / "ck", max_iter=4, resume="auto", valid_fraction=0.2, **kw)
    ck_ref, W_ref, H_ref = model_of(tmp_path / "ref")
    ck, W, H = model_of(tmp_path / "ck")
    assert np.array_equal(W, W_ref) and np.array_equal(H, H_ref)
    assert ck.meta["solver_state"] == ck_ref.meta["solver_state"]
    for key in ("objective", "train_rmse", "valid_rmse", "epochs", "extra_updates"):
        assert got[key] == ref[key], key


def test_resume_on_another_rank_count_reblocks(ratings_file, tmp_path):
    kw = dict(solver="dsgd", blocks_per_rank=2, **SGD)
    run_train(2, ratings_file, tmp_path / "ck", max_iter=2, **kw)
    ck, W, H = model_of(tmp_path / "ck")

    def fn(comm):
        algo = MatrixFactorization(data=ratings_file, **kw)
        algo.setup(comm)
        algo.restore(comm, Checkpoint(tmp_path / "ck"))
        return algo.solver_.local_factors(), algo.solver_.epoch_
    got = run_ranks(3, fn)
    W3, H3 = np.full_like(W, np.nan), np.full_like(H, np.nan)
    for lf, epoch in got:
        assert epoch == 2
        for lo, rows in lf["W"]:
            W3[lo:lo + len(rows)] = rows
        for lo, rows in lf["H"]:
            H3[lo:lo + len(rows)] = rows
    assert np.array_equal(W3, W) and np.array_equal(H3, H)
    summary = run_train(4, ratings_file, tmp_path / "ck", max_iter=4, resume="auto", **kw)
    assert summary["epochs"] == 4 and summary["objective"] < json.loads(json.dumps(ck.meta))["last"]["objective"]


def test_als_resume_on_another_rank_count_equals_uninterrupted(ratings_file, tmp_path):
    kw = dict(solver="als", k=3, lam=0.05, seed=1)
    run_train(2, ratings_file, tmp_path / "ref", max_iter=4, **kw)
    run_train(3, ratings_file, tmp_path / "ck", max_iter=2, **kw)
    run_train(4, ratings_file, tmp_path / "ck", max_iter=4, resume="auto", **kw)
    np.testing.assert_array_equal(model_of(tmp_path / "ck")[1], model_of(tmp_path / "ref")[1])


def test_warm_start_from_another_solver(ratings_file, tmp_path):
    run_train(2, ratings_file, tmp_path / "sgd", max_iter=2, **SGD)
    s = run_train(2, ratings_file, tmp_path / "als", max_iter=2, init_from=str(tmp_path / "sgd"),
                  solver="als", k=4, lam=0.05, seed=3)
    assert s["epochs"] == 2 and s["iterations"] == 2
    with pytest.raises(CollectiveError, match="the model has rank 4, --rank is 5"):
        run_train(2, ratings_file, None, max_iter=1, init_from=str(tmp_path / "sgd"), solver="als", k=5)


def test_restore_refuses_other_data(ratings_file, tmp_path):
    run_train(1, ratings_file, tmp_path / "ck", max_iter=1, **SGD)
    other = tmp_path / "other.txt"
    other.write_text(ratings_file.read_text().replace(f"\n{M} ", f"\n{M + 7} "))

    def fn(comm):
        algo = MatrixFactorization(data=other, **SGD)
        algo.setup(comm)
        algo.restore(comm, Checkpoint(tmp_path / "ck"))
    with pytest.raises(CheckpointError, match="ids differ"):
        run_ranks(1, fn)


def test_progress_metrics(ratings_file, tmp_path):
    log = tmp_path / "l.jsonl"
    run_train(3, ratings_file, None, max_iter=2, log=log, solver="fugue", valid_fraction=0.2, **SGD)
    rows = [json.loads(x) for x in log.read_text().splitlines() if '"iter"' in x]
    for r in rows:
        assert r["extra_updates"] == sum(r["extra_per_rank"]) > 0
        assert r["extra_min"] == min(r["extra_per_rank"]) and r["extra_max"] == max(r["extra_per_rank"])
        assert r["valid_rmse"] > 0 and r["train_rmse"] > 0 and r["lr"] == pytest.approx(0.02, rel=0.1)
    log2 = tmp_path / "l2.jsonl"
    run_train(2, ratings_file, None, max_iter=1, log=log2, solver="als", k=3)
    r = [json.loads(x) for x in log2.read_text().splitlines() if '"iter"' in x][0]
    assert r["valid_rmse"] is None and "lr" not in r and "extra_updates" not in r
    assert [c[0] for c in MatrixFactorization(data="x", solver="fugue").columns] == \
        ["train_rmse", "valid_rmse", "lr", "extra_updates", "extra_min", "extra_max"]


def test_target_rmse_stops_early(ratings_file):
    s = run_train(2, ratings_file, None, max_iter=50, valid_fraction=0.2, target_rmse=10.0, **SGD)
    assert s["epochs"] == 1 and s["converged"]
    with pytest.raises(ConfigError, match="needs validation data"):
        run_train(1, ratings_file, None, target_rmse=1.0, **SGD)


@pytest.mark.parametrize("kw,msg", [(dict(solver="als", lam=0.0), "--lam"), (dict(k=0), "--rank"),
                                    (dict(solver="sgd"), "--solver"), (dict(lr=-1.0), "--lr")])
def test_bad_options(ratings_file, kw, msg):
    # Checked when the settings are built, before any rank reads data.
    with pytest.raises(ConfigError, match=msg) as err:
        run_train(2, ratings_file, None, max_iter=1, **kw)
    assert err.value.exit_code == 2


def test_string_ids_round_trip_and_scoring(tmp_path):
    p = tmp_path / "s.csv"
    names_u = [f"usr-{u:03d}" for u in range(M)]
    names_i = [f"ítem{i}" for i in range(N)]           # non-ASCII survives the checkpoint
    p.write_text("user,item,rating\n" + "".join(f"{names_u[u]},{names_i[i]},{v}\n"
                                                 for u, i, v in zip(DATA.users, DATA.items, DATA.values)))
    run_train(2, p, tmp_path / "ck", max_iter=2, **SGD)
    ck = Checkpoint(tmp_path / "ck")
    assert ck.meta["user_id_kind"] == "str" and ck.replicated("user_ids").dtype.kind == "S"
    model = FactorModel.from_checkpoint(ck)
    assert list(model.user_ids) == sorted(names_u) and list(model.item_ids) == sorted(names_i)
    u, i = sorted(names_u).index("usr-007"), sorted(names_i).index("ítem3")
    got = model.predict(["usr-007", "nobody", "usr-007"], ["ítem3", "ítem3", "ítem99"])
    assert got[0] == pytest.approx(float(model.W[u] @ model.H[i]), rel=1e-12) and np.isnan(got[1:]).all()
    items, scores = model.recommend("usr-007", 5)
    full = model.H @ model.W[u]
    assert list(scores) == sorted(full, reverse=True)[:5] and items[0] == model.item_ids[np.argmax(full)]
    items2, _ = model.recommend("usr-007", 5, exclude=[np.argmax(full)])
    assert items[0] not in items2 and list(items2[:4]) == list(items[1:5])


def test_id_helpers():
    for ids in (np.array([3, 10, 2 ** 40]), np.array(["a", "ü", "zz"])):
        enc, kind = encode_ids(ids)
        assert np.array_equal(decode_ids(enc, kind), ids)
    ids = np.array([3, 10, 2 ** 40])
    assert dense_index(ids, ["10", "x", "3", str(2 ** 40), "4"]).tolist() == [1, -1, 0, 2, -1]
    assert dense_index(ids, np.array([10, 11])).tolist() == [1, -1]
    assert dense_index(np.array(["a", "b"]), ["b", "c"]).tolist() == [1, -1]


def test_auto_blocks_resume_keeps_the_checkpoints_blocking(ratings_file, tmp_path):
    # Written with an explicit B = 2 (as every checkpoint before "auto" was);
    # resumed with the default "auto", which alone would choose 1 here.
    b2 = dict(solver="dsgd", order="COWOR", **SGD)
    run_train(3, ratings_file, tmp_path / "ref", max_iter=4, blocks_per_rank=2, **b2)
    run_train(3, ratings_file, tmp_path / "ck", max_iter=2, blocks_per_rank=2, **b2)
    got = run_train(3, ratings_file, tmp_path / "ck", max_iter=4, resume="auto", **b2)
    ck_ref, W_ref, H_ref = model_of(tmp_path / "ref")
    ck, W, H = model_of(tmp_path / "ck")
    assert ck.config["blocks_per_rank"] == "auto" and ck.meta["solver_state"]["blocks_per_rank"] == 2
    assert np.array_equal(W, W_ref) and np.array_equal(H, H_ref) and got["epochs"] == 4
    # An explicit, different B is refused; the same B is accepted.
    stored = ck_ref.config
    assert MatrixFactorization(data=ratings_file, blocks_per_rank=3, **b2).resume_conflicts(stored) == [
        "--blocks-per-rank was 2, now 3"]
    assert MatrixFactorization(data=ratings_file, blocks_per_rank=2, **b2).resume_conflicts(stored) == []


def test_checkpoints_from_before_dtype_resume_in_the_type_they_were_written_in(ratings_file, tmp_path):
    # Before --dtype, DSGD/Fugue computed and stored float32 factors, ALS float64.
    old = {"data": str(ratings_file), "solver": "als", "rank": 3, "lam": 0.05, "seed": 1}
    als = dict(solver="als", k=3, lam=0.05, seed=1)
    assert MatrixFactorization(data=ratings_file, **als).resume_conflicts(old) == [
        "--dtype was 'float64', now 'float32'"]
    assert MatrixFactorization(data=ratings_file, dtype="float64", **als).resume_conflicts(old) == []
    old_sgd = {**old, "solver": "dsgd", "rank": 4, "lam": 0.05, "lr": 0.02, "seed": 3, "blocks_per_rank": 1}
    assert MatrixFactorization(data=ratings_file, **SGD).resume_conflicts(old_sgd) == []
    assert MatrixFactorization(data=ratings_file, dtype="float64", **SGD).resume_conflicts(old_sgd) == [
        "--dtype was 'float32', now 'float64'"]
    # And restore checks the arrays themselves.
    run_train(1, ratings_file, tmp_path / "ck", max_iter=1, **SGD)

    def fn(comm):
        algo = MatrixFactorization(data=ratings_file, dtype="float64", **SGD)
        algo.setup(comm)
        algo.restore(comm, Checkpoint(tmp_path / "ck"))
    with pytest.raises(CheckpointError, match="written in float32, --dtype is float64"):
        run_ranks(1, fn)
