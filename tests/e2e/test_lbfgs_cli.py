"""``mpiml train linear --solver lbfgs`` through mpiexec: progress table and
log (bytes per iteration equal the documented formula), predict with
metrics, resume bit for bit at the same rank count and re-sharded on
another, option errors."""

import json

import numpy as np
import pytest

from mpiml.datasets.linear import make_classification, write_libsvm
from mpiml.io.ckpt_read import Checkpoint
from mpiml.linear.lbfgs import bytes_per_iteration
from tests.e2e.util import run_cli

pytestmark = pytest.mark.timeout(600)

BASE = ["train", "linear", "--solver", "lbfgs", "--alpha", "0.01", "--fit-intercept", "--history", "4",
        "--tol", "0", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lbfgs")
    X, y, _ = make_classification(400, 500, seed=1, nnz_per_row=6, flip=0.05)
    write_libsvm(d / "train.svm", X[:300], y[:300])
    write_libsvm(d / "valid.svm", X[300:], y[300:], zero_one=True)
    return d


def its(log):
    return [r for r in map(json.loads, log.read_text().splitlines()) if "iter" in r]


def weights(ckdir):
    return Checkpoint(ckdir).read_rows("w")


def test_table_log_bytes_formula_and_predict(files, tmp_path):
    log = tmp_path / "l.jsonl"
    args = [a for a in BASE if a != "--quiet"] + [
        "--data", files / "train.svm", "--valid", files / "valid.svm", "--penalty", "l1",
        "--alpha", "0.002", "--max-iter", "8", "--log", log, "--checkpoint-dir", tmp_path / "ck"]
    res = run_cli(3, args)
    assert res.returncode == 0, res.stderr
    assert "OWL-QN" in res.stdout and "va_auc" in res.stdout and "pg_norm" in res.stdout
    assert "sparse exchange" in res.stdout and "warning" not in res.stderr.lower()
    recs = its(log)
    assert [r["iter"] for r in recs] == list(range(1, 9))
    assert recs[-1]["objective"] < recs[0]["objective"] and recs[-1]["va_acc"] > 0.5
    for r in recs:
        want = bytes_per_iteration(r["halo"], 3, r["trials"], r["gram_pairs"], True, r["metric_floats"])
        assert r["bytes"] == want, (r["iter"], r["bytes"], want)
    pred = run_cli(1, ["predict", "--model", tmp_path / "ck", "--data", files / "valid.svm", "--metrics"],
                   mpi=False)
    assert pred.returncode == 0, pred.stderr
    rows = [line.split("\t") for line in pred.stdout.splitlines()]
    # labels in the training file's -1/+1 convention; a model, not a constant
    assert len(rows) == 100 and {r[0] for r in rows} == {"-1", "1"}
    assert "coefficients non-zero" in res.stdout and " 0 of 500 coefficients" not in res.stdout
    # the accuracy predict prints is the last table row's validation accuracy
    acc = float(pred.stderr.split("accuracy ")[1].split(",")[0])
    assert abs(acc - recs[-1]["va_acc"]) < 1e-9 and "AUC" in pred.stderr


def test_resume_same_rank_count_is_bit_identical(files, tmp_path):
    common = BASE + ["--data", files / "train.svm", "--valid", files / "valid.svm"]
    assert run_cli(2, common + ["--max-iter", "9", "--checkpoint-dir", tmp_path / "full"]).returncode == 0
    part = tmp_path / "part"
    assert run_cli(2, common + ["--max-iter", "4", "--checkpoint-dir", part]).returncode == 0
    res = run_cli(2, common + ["--max-iter", "9", "--checkpoint-dir", part, "--resume", "auto"])
    assert res.returncode == 0, res.stderr
    a, b = Checkpoint(tmp_path / "full"), Checkpoint(part)
    assert b.iteration == 9
    for name in ("w", "grad", "S", "Y", "margins", "valid_margins"):
        assert np.array_equal(a.read_rows(name), b.read_rows(name)), name


def test_resume_on_another_rank_count_reshards(files, tmp_path):
    common = BASE + ["--data", files / "train.svm", "--loss", "squared_hinge"]
    assert run_cli(2, common + ["--max-iter", "10", "--checkpoint-dir", tmp_path / "full"]).returncode == 0
    part = tmp_path / "part"
    assert run_cli(2, common + ["--max-iter", "5", "--checkpoint-dir", part]).returncode == 0
    res = run_cli(3, common + ["--max-iter", "10", "--checkpoint-dir", part, "--resume", "auto"])
    assert res.returncode == 0, res.stderr
    ck = Checkpoint(part)
    assert ck.iteration == 10 and ck.n_ranks == 3
    wa, wb = weights(tmp_path / "full"), weights(part)
    assert wa.shape == wb.shape == (501,)
    assert np.allclose(wa, wb, rtol=1e-9, atol=1e-11), np.abs(wa - wb).max()
    # 3 ranks wrote 3 feature shards of w that tile the vector
    assert [s["file"] for s in ck.shards] == [f"shard-{r:05d}.h5" for r in range(3)]


def test_regression_and_option_errors(files, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 + 0.05 * rng.normal(size=120)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    log = tmp_path / "r.jsonl"
    res = run_cli(2, BASE + ["--data", tmp_path / "X.npy", "--labels", tmp_path / "y.npy", "--loss", "squared",
                             "--max-iter", "30", "--log", log])
    assert res.returncode == 0, res.stderr
    rec = its(log)[-1]
    assert rec["tr_rmse"] < 0.1 and "tr_acc" not in rec
    bad = run_cli(2, BASE + ["--data", files / "train.svm", "--loss", "hinge"])
    assert bad.returncode == 2 and "squared_hinge" in bad.stderr and bad.stderr.count("error") == 1
    bad = run_cli(2, ["train", "linear", "--data", files / "train.svm", "--loss", "squared", "--quiet"])
    assert bad.returncode == 2 and "--solver lbfgs" in bad.stderr
