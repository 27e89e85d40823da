"""``mpiml train linear`` through mpiexec: progress and logs, every
consistency model, interrupt and resume, failures inside SSP clocks end the
job (no hang, no leaked windows), bad input is one clear error."""

import json

import numpy as np
import pytest

from mpiml.datasets.linear import make_classification, write_libsvm
from tests.e2e.util import run_cli

pytestmark = pytest.mark.timeout(600)

BASE = ["train", "linear", "--batch", "8", "--clocks", "6", "--lr", "0.5", "--seed", "2", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lin")
    X, y, _ = make_classification(400, 60, seed=1, nnz_per_row=8)
    write_libsvm(d / "train.svm", X[:300], y[:300])
    write_libsvm(d / "valid.svm", X[300:], y[300:], zero_one=True)
    Xd, yd, _ = make_classification(200, 5, seed=2)
    np.save(d / "X.npy", Xd)
    np.save(d / "y.npy", (yd > 0).astype(np.int64))
    return d


def records(log):
    return [json.loads(x) for x in log.read_text().splitlines()]


def test_ssp_progress_table_log_and_checkpoint(files, tmp_path):
    log = tmp_path / "l.jsonl"
    args = ["train", "linear", "--data", files / "train.svm", "--valid", files / "valid.svm", "--batch", "8",
            "--clocks", "6", "--max-iter", "3", "--consistency", "ssp", "--staleness", "2",
            "--debug-staleness", "--log", log, "--checkpoint-dir", tmp_path / "ck"]
    res = run_cli(3, args)
    assert res.returncode == 0, res.stderr
    assert "consistency ssp (staleness 2)" in res.stdout and "staleness histogram" in res.stdout
    assert "va_logloss" in res.stdout and "max observed staleness" in res.stdout
    assert "warning" not in res.stderr.lower()
    its = [r for r in records(log) if "iter" in r]
    assert [r["iter"] for r in its] == [1, 2, 3] and its[-1]["clock"] == 18
    assert all(r["stale_max"] <= 2 and len(r["clock_loss"]) == 6 and r["va_acc"] > 0.5 for r in its)
    assert its[-1]["objective"] < its[0]["objective"]
    from mpiml.io.ckpt_read import Checkpoint
    from mpiml.linear.sgd import predict_checkpoint
    ck = Checkpoint(tmp_path / "ck")
    labels, z, proba = predict_checkpoint(ck, files / "valid.svm")
    assert labels.shape == (100,) and set(np.unique(labels)) <= {-1, 1} and np.all((proba > 0) & (proba < 1))


@pytest.mark.parametrize("consistency", ["bsp", "essp", "async", "average"])
def test_every_consistency_trains_dense_data(files, tmp_path, consistency):
    log = tmp_path / "l.jsonl"
    res = run_cli(2, BASE + ["--data", files / "X.npy", "--labels", files / "y.npy", "--max-iter", "4",
                             "--consistency", consistency, "--every", "3", "--log", log])
    assert res.returncode == 0, res.stderr
    its = [r for r in records(log) if "iter" in r]
    assert its[-1]["objective"] < 0.6 and its[-1]["tr_acc"] > 0.8


def test_fault_inside_ssp_clocks_then_resume(files, tmp_path):
    ck = tmp_path / "ck"
    args = BASE + ["--data", files / "train.svm", "--consistency", "ssp", "--staleness", "1",
                   "--max-iter", "5", "--checkpoint-dir", ck, "--checkpoint-every", "2"]
    res = run_cli(3, args, env={"MPIML_FAULT": "raise:1:3"}, timeout=120)
    assert res.returncode == 1 and "[rank 1] injected fault at iteration 3" in res.stderr
    assert res.stderr.count("mpiml: error:") == 1 and "warning" not in res.stderr.lower()
    assert res.seconds < 60
    assert (ck / "LATEST").read_text().strip() == "ckpt-000002"
    res = run_cli(3, args + ["--resume", "auto", "--log", tmp_path / "l.jsonl"])
    assert res.returncode == 0, res.stderr
    its = [r for r in records(tmp_path / "l.jsonl") if "iter" in r]
    assert [r["iter"] for r in its] == [3, 4, 5] and its[-1]["clock"] == 30


def test_hang_inside_ssp_clocks_is_ended_by_the_watchdog(files, tmp_path):
    res = run_cli(3, BASE + ["--data", files / "train.svm", "--consistency", "ssp", "--max-iter", "4",
                             "--watchdog-timeout", "4"], env={"MPIML_FAULT": "hang:2:2"}, timeout=120)
    assert res.returncode == 5 and "lagging: rank 2" in res.stderr and res.seconds < 60


@pytest.mark.parametrize("text,where,message", [
    ("+1 1:1 2:1\n-1 1:0.5 3:x\n", "train", "bad.svm:2: expected INDEX:VALUE with an integer index"),
    ("+1 1:1 2:1\n2 1:0.5\n", "train", "bad.svm:2: label 2 is neither 0/1 nor -1/+1"),
    ("+1 1:1 2:1\n-1 3:1 2:1\n", "train", "bad.svm:2: index 2 after 3: indices must be strictly increasing"),
    ("1 1:1\n0 999:1\n", "valid", "bad.svm:2: index 999 out of range (the model has 60 features)"),
])
def test_bad_input_is_one_clear_error(files, tmp_path, text, where, message):
    bad = tmp_path / "bad.svm"
    bad.write_text(text)
    data = bad if where == "train" else files / "train.svm"
    extra = ["--valid", bad] if where == "valid" else []
    res = run_cli(3, BASE + ["--data", data, "--max-iter", "1", *extra], timeout=60)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and res.stderr.count("error:") == 1
