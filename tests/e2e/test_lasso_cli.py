"""``mpiml train lasso`` end to end through mpiexec: the table and its bytes
against the formula, bit-identical resume (priorities and round counter
included), predict, a path, bad input on every rank."""

import json

import numpy as np
import pytest

from mpiml.datasets.regression import make_regression
from tests.e2e.util import run_cli

pytestmark = pytest.mark.timeout(600)

N, D = 200, 30


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("lasso")
    X, y, _ = make_regression(N, D, n_informative=6, seed=4)
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", y)
    return d


def train(data, *extra):
    return ["train", "lasso", "--data", data / "X.npy", "--labels", data / "y.npy", "--alpha", "0.05",
            *extra]


def records(log):
    return [json.loads(x) for x in log.read_text().splitlines()]


@pytest.mark.parametrize("schedule", ["random", "sap"])
def test_table_and_bytes_per_round_match_the_formula(data, tmp_path, schedule):
    log = tmp_path / "p.jsonl"
    P, R, p = 8, 3, 2
    res = run_cli(p, train(data, "--schedule", schedule, "--parallel", P, "--rounds", R,
                           "--max-iter", 4, "--tol", 0, "--log", log))
    assert res.returncode == 0, res.stderr
    head = [x for x in res.stdout.splitlines() if x.strip().startswith("iter")][0]
    for col in ("objective", "alpha", "gap", "updates", "rejected", "nnz", "bytes"):
        assert col in head
    assert "partition columns per rank: 15 15" in res.stdout
    assert f"bytes per round: {8 * p * (N + P):,}" in res.stdout
    its = [r for r in records(log) if "iter" in r]
    assert [r["iter"] for r in its] == [1, 2, 3, 4]
    for r in its:
        # R rounds x one Allreduce of n + P doubles on each rank, + the gap's 8-byte max
        # on each rank, + (sap, first iteration of an alpha) the d priorities on each rank
        expect = R * p * 8 * (N + P) + p * 8 + (p * 8 * D if schedule == "sap" and r["iter"] == 1 else 0)
        assert r["bytes"] == expect, (r["iter"], r["bytes"], expect)
        assert r["updates"] == R * P if schedule == "random" else 0 < r["updates"] <= R * P
        assert r["gap"] >= 0
    objs = [r["objective"] for r in its]
    assert objs == sorted(objs, reverse=True)


def test_interrupted_run_resumes_bit_identical(data, tmp_path):
    args = ["--schedule", "sap", "--parallel", 6, "--rounds", 2, "--max-iter", 9, "--tol", 0,
            "--checkpoint-every", 3, "--quiet"]
    ref = tmp_path / "ref"
    assert run_cli(3, train(data, *args, "--checkpoint-dir", ref)).returncode == 0
    ck = tmp_path / "ck"
    res = run_cli(3, train(data, *args, "--checkpoint-dir", ck), env={"MPIML_FAULT": "raise:2:5"})
    assert res.returncode == 1 and "[rank 2] injected fault at iteration 5" in res.stderr
    assert (ck / "LATEST").read_text().strip() == "ckpt-000003"
    res = run_cli(3, train(data, *args, "--checkpoint-dir", ck, "--resume", "auto"))
    assert res.returncode == 0, res.stderr
    from mpiml.io.ckpt_read import Checkpoint
    a, b = Checkpoint(ref), Checkpoint(ck)
    assert a.iteration == b.iteration == 9 and a.meta["round"] == b.meta["round"] == 18
    for name in ("beta", "residual", "priorities", "coef"):
        assert np.array_equal(a.replicated(name), b.replicated(name)), name
    # a changed model option is refused
    res = run_cli(2, train(data, *args, "--checkpoint-dir", ck, "--resume", "auto", "--rho", "0.2"))
    assert res.returncode == 2 and "--rho was 0.1, now 0.2" in res.stderr


def test_path_then_predict(data, tmp_path):
    ck = tmp_path / "ck"
    res = run_cli(2, train(data, "--n-alphas", 4, "--eps", 0.05, "--tol", 1e-8, "--intercept",
                           "--standardize", "--checkpoint-dir", ck, "--max-iter", 3000))
    assert res.returncode == 0, res.stderr
    assert "path: 4 of 4 alphas done (4 converged)" in res.stdout
    out = tmp_path / "pred.npy"
    res = run_cli(1, ["predict", "--model", ck, "--data", data / "X.npy", "--out", out], mpi=False)
    assert res.returncode == 0, res.stderr
    from mpiml.io.ckpt_read import Checkpoint
    c = Checkpoint(ck)
    X = np.load(data / "X.npy")
    assert c.replicated("path_beta").shape == (4, D)
    np.testing.assert_allclose(np.load(out), X @ c.replicated("coef") + c.replicated("intercept")[0],
                               rtol=1e-12)


def _bad(tmp_path, kind):
    X, y, _ = make_regression(20, 5, seed=1)
    if kind == "nan":
        X[7, 3] = np.nan
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y[:19] if kind == "short" else y)
    (tmp_path / "bad.svm").write_text("1.5 1:2 3:1\n0.5 2:x\n")
    (tmp_path / "ok.svm").write_text("1.5 1:2 3:1\n0.5 2:1\n")
    return tmp_path


@pytest.mark.parametrize("kind,args,message", [
    ("nan", [], "X.npy: row 7, column 4: non-finite value nan"),
    ("short", [], "y.npy: expected 20 labels (one per row of X.npy), found shape (19,)"),
    ("ok", ["--data", "{d}/bad.svm"], "bad.svm:2: expected INDEX:VALUE with an integer index"),
    ("ok", ["--data", "{d}/ok.svm", "--intercept"], "--intercept centres the columns"),
    ("ok", ["--alphas", "1,zero"], "cannot parse 'zero' as a number"),
    ("ok", ["--alphas", "1,0.5", "--n-alphas", "3"], "--alphas and --n-alphas are exclusive"),
    ("ok", ["--data", "{d}/missing.npy"], "missing.npy: no such file"),
])
def test_bad_input_is_one_clear_error_with_exit_2(tmp_path, kind, args, message):
    d = _bad(tmp_path, kind)
    base = ["train", "lasso", "--data", d / "X.npy", "--labels", d / "y.npy"]
    res = run_cli(2, base + [a.format(d=d) if isinstance(a, str) else a for a in args])
    assert res.returncode == 2, res.stderr
    assert message in res.stderr, res.stderr
    assert res.stderr.count("error:") == 1
