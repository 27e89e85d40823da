"""``mpiml train mf`` end to end through mpiexec: every solver on every input
format reaches the noise level of data/generate.py's synthetic ratings; an
interrupted run resumes bit for bit (and on another rank count); bad input is
one clear error naming file:line; predict and recommend read the model."""

import importlib.util
import json
import shutil

import h5py
import numpy as np
import pytest

from tests.e2e.util import REPO, run_cli

pytestmark = pytest.mark.timeout(300)

SIGMA = 0.25
MODEL = ["--rank", "4", "--lam", "0.01", "--lr", "0.02", "--seed", "1", "--quiet"]


def _generator():
    spec = importlib.util.spec_from_file_location("mpiml_data_generate", REPO / "data" / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same ratings (400 x 250, 50 %, sigma 0.25) as triplets, MovieLens, npy and HDF5."""
    d = tmp_path_factory.mktemp("mf")
    gen = _generator()
    assert gen.RATINGS_NOISE == SIGMA
    txt = gen.ratings(d / "r.txt", n_users=400, n_items=250, density=0.5, noise=SIGMA, seed=7)
    u, i, r = np.loadtxt(txt, comments="#", unpack=True)
    (d / "r.dat").write_text("".join(f"{int(a)}::{int(b)}::{c:.4f}::97{t:05d}\n"
                                     for t, (a, b, c) in enumerate(zip(u, i, r))))
    np.save(d / "r.npy", np.column_stack([u, i, r]))
    with h5py.File(d / "r.h5", "w") as f:
        f["users"], f["items"], f["ratings"] = u.astype(np.int64), i.astype(np.int64), r
    return {"triplets": txt, "movielens": d / "r.dat", "npy": d / "r.npy", "hdf5": d / "r.h5"}


def records(log):
    return [json.loads(x) for x in log.read_text().splitlines()]


def model(ckdir):
    from mpiml.io.ckpt_read import Checkpoint
    ck = Checkpoint(ckdir)
    return ck, ck.read_rows("W"), ck.read_rows("H")


@pytest.mark.parametrize("solver,fmt,ranks", [("dsgd", "triplets", 3), ("fugue", "movielens", 2),
                                              ("als", "npy", 3), ("dsgd", "hdf5", 2)])
def test_solver_reaches_noise_level(files, tmp_path, solver, fmt, ranks):
    log = tmp_path / "log.jsonl"
    epochs = 8 if solver == "als" else 20
    res = run_cli(ranks, ["train", "mf", "--data", files[fmt], "--solver", solver, "--valid-fraction", "0.1",
                          "--max-iter", epochs, "--log", log, *MODEL])
    assert res.returncode == 0, res.stderr
    recs = records(log)
    iters = [r for r in recs if "iter" in r]
    assert len(iters) == epochs and all(r["train_rmse"] > 0 for r in iters)
    assert iters[-1]["valid_rmse"] <= 1.10 * SIGMA, iters[-1]
    fin = recs[-1]
    assert fin["event"] == "finish" and fin["n_users"] == 400 and fin["n_items"] == 250
    if solver == "fugue":
        assert all(r["extra_updates"] == sum(r["extra_per_rank"]) for r in iters)


@pytest.mark.parametrize("solver", ["dsgd", "als"])
def test_interrupted_run_resumes_bit_identical_and_on_another_rank_count(files, tmp_path, solver):
    # The bold driver (--lr 0.02) reaches the noise level within these 6 epochs
    # after re-blocking; the default adaptive rule needs ~10 here (20-epoch
    # runs of it: test_solver_reaches_noise_level).
    train = ["train", "mf", "--data", files["triplets"], "--solver", solver, "--valid-fraction", "0.1",
             "--max-iter", "6", "--checkpoint-every", "2", "--blocks-per-rank", "2", *MODEL,
             *(["--step", "bold"] if solver != "als" else [])]
    ref = run_cli(3, train + ["--checkpoint-dir", tmp_path / "ref"])
    assert ref.returncode == 0, ref.stderr
    ck = tmp_path / "ck"
    res = run_cli(3, train + ["--checkpoint-dir", ck], env={"MPIML_FAULT": "raise:1:3"})
    assert res.returncode == 1 and "[rank 1] injected fault at iteration 3" in res.stderr
    assert (ck / "LATEST").read_text().strip() == "ckpt-000002"
    shutil.copytree(ck, tmp_path / "ck4")
    res = run_cli(3, train + ["--checkpoint-dir", ck, "--resume", "auto"])
    assert res.returncode == 0, res.stderr
    c_ref, W_ref, H_ref = model(tmp_path / "ref")
    c, W, H = model(ck)
    assert c.iteration == 6 and np.array_equal(W, W_ref) and np.array_equal(H, H_ref)   # bit-identical
    log = tmp_path / "log4.jsonl"
    res = run_cli(4, train + ["--checkpoint-dir", tmp_path / "ck4", "--resume", "auto", "--log", log])
    assert res.returncode == 0, res.stderr
    c4, W4, H4 = model(tmp_path / "ck4")
    assert c4.iteration == 6 and c4.n_ranks == 4
    assert [r["iter"] for r in records(log) if "iter" in r] == [3, 4, 5, 6]
    if solver == "als":   # ALS does not depend on the rank count
        np.testing.assert_allclose(W4, W_ref, rtol=1e-9, atol=1e-12)
    else:                 # DSGD re-blocked: another schedule, same quality
        assert records(log)[-1]["valid_rmse"] <= 1.10 * SIGMA


@pytest.mark.parametrize("text,extra,message", [
    ("1 1 3.5\n2 1 4.0\n3 2\n", [], "bad.txt:3: expected 3 or 4 fields (user item rating [timestamp]), found 2"),
    ("1 1 3.5\n2 1 nan\n", [], "bad.txt:2: rating is nan"),
    ("1 1 3.5\n2 1 4.0\n1 1 2.0\n", ["--duplicates", "error"],
     "bad.txt:3: duplicate rating for user 1 and item 1 (first on line 1)"),
    ("1 1 3.5\n", ["--solver", "als", "--lam", "0"], "--lam must be >= 0 (> 0 for ALS)"),
])
def test_bad_input_is_one_clear_error_with_exit_2(tmp_path, text, extra, message):
    bad = tmp_path / "bad.txt"
    bad.write_text(text)
    res = run_cli(2, ["train", "mf", "--data", bad, "--max-iter", "1", "--quiet", *extra], timeout=60)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and res.stderr.count("error:") == 1


def test_duplicates_are_counted_and_predict_and_recommend(files, tmp_path):
    data = tmp_path / "dup.txt"
    lines = files["triplets"].read_text().splitlines()
    data.write_text("\n".join(lines + lines[1:4]) + "\n")        # three re-ratings
    ck = tmp_path / "ck"
    res = run_cli(2, ["train", "mf", "--data", data, "--max-iter", "3", "--checkpoint-dir", ck, *MODEL])
    assert res.returncode == 0, res.stderr
    assert "warning: 3 duplicate (user, item) rating(s) merged (--duplicates last)" in res.stderr
    c, W, H = model(ck)
    uid, iid = c.replicated("user_ids"), c.replicated("item_ids")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("user,item\n5,7\n400 250\n# comment\n5 99999\n")
    out = run_cli(1, ["predict", "--model", ck, "--data", pairs], mpi=False)
    assert out.returncode == 0, out.stderr
    got = [line.split("\t") for line in out.stdout.splitlines()]
    assert [g[:2] for g in got] == [["5", "7"], ["400", "250"], ["5", "99999"]]
    for (u, i, s) in got[:2]:
        a, b = np.searchsorted(uid, int(u)), np.searchsorted(iid, int(i))
        assert float(s) == pytest.approx(float(W[a].astype(np.float64) @ H[b]), rel=1e-5)
    assert got[2][2] == "nan" and "1 pair(s) with a user or item unknown" in out.stderr
    rec = run_cli(1, ["recommend", "--model", ck, "--user", "5", "--top", "4", "--exclude-seen", data], mpi=False)
    assert rec.returncode == 0, rec.stderr
    top = [line.split() for line in rec.stdout.splitlines()[1:]]
    scores = H.astype(np.float64) @ W[np.searchsorted(uid, 5)]
    seen = {int(ln.split()[1]) for ln in lines[1:] if ln.split()[0] == "5"}
    want = [int(iid[j]) for j in np.argsort(-scores, kind="stable") if int(iid[j]) not in seen][:4]
    assert [int(t[1]) for t in top] == want and len(top) == 4
    res = run_cli(1, ["recommend", "--model", ck, "--user", "nobody"], mpi=False)
    assert res.returncode == 2 and "user 'nobody' is not in the model" in res.stderr
