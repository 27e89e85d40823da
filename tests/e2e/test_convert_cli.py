"""``mpiml convert`` end to end: training on the converted file gives the same
model as on the text file (MF at 2 ranks, K-means and linear at 1); bad input is the
reader's file:line error with nothing written; outputs are never overwritten
without --force and inputs never."""

import numpy as np
import pytest

from mpiml.datasets.linear import make_classification, write_libsvm
from tests.e2e.util import run_cli

pytestmark = pytest.mark.timeout(600)


def _model(ckdir):
    from mpiml.io.ckpt_read import Checkpoint
    ck = Checkpoint(ckdir)
    out = {f"r/{n}": np.asarray(ck.replicated(n)) for n in ck.array_names.get("replicated", [])}
    out.update({f"d/{n}": np.asarray(ck.read_rows(n)) for n in ck.array_names.get("distributed", [])})
    return out


def _same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].shape == b[k].shape and np.array_equal(a[k], b[k]), k


def _convert(*args):
    res = run_cli(1, ["convert", *map(str, args)], mpi=False, timeout=120)
    return res


def _train(tmp_path, name, args, ranks=2):
    ck = tmp_path / f"ck-{name}"
    res = run_cli(ranks, [*args, "--checkpoint-dir", ck, "--quiet"], timeout=240)
    assert res.returncode == 0, res.stderr
    return _model(ck)


def test_ratings_round_trip_gives_the_same_model(tmp_path):
    rng = np.random.default_rng(4)
    u, i = rng.integers(1, 60, 900), rng.integers(1, 40, 900) * 7
    lines = ["userId,movieId,rating,timestamp", "# a comment"]
    lines += [f"{a},{b},{rng.integers(1, 11) / 2},{97000 + k}" for k, (a, b) in enumerate(zip(u, i))]
    txt = tmp_path / "r.csv"
    txt.write_text("\n".join(lines) + "\n")     # duplicates included: the policy sees the same order
    for out in ("r.h5", "r.npy"):
        res = _convert("ratings", txt, tmp_path / out)
        assert res.returncode == 0, res.stderr
        assert "900 ratings, int ids" in res.stdout and f"wrote  {tmp_path / out}" in res.stdout
    train = ["train", "mf", "--rank", "3", "--max-iter", "3", "--seed", "2", "--valid-fraction", "0.2"]
    ref = _train(tmp_path, "txt", train + ["--data", txt])
    _same(ref, _train(tmp_path, "h5", train + ["--data", tmp_path / "r.h5"]))
    _same(ref, _train(tmp_path, "npy", train + ["--data", tmp_path / "r.npy"]))


def test_string_ids_go_to_h5_and_not_npy(tmp_path):
    txt = tmp_path / "r.txt"
    txt.write_text("alice film1 4\nbob film2 3.5\nalice film2 1\n")
    res = _convert("ratings", txt, tmp_path / "r.npy")
    assert res.returncode == 2 and "string ids" in res.stderr and not (tmp_path / "r.npy").exists()
    res = _convert("ratings", txt, tmp_path / "r.h5")
    assert res.returncode == 0, res.stderr
    from mpiml.comm import SerialComm
    from mpiml.mf.data import read_ratings
    a, b = read_ratings(SerialComm(), txt), read_ratings(SerialComm(), tmp_path / "r.h5")
    assert a.user_ids.tolist() == b.user_ids.tolist() == ["alice", "bob"]
    assert a.item_ids.tolist() == b.item_ids.tolist()
    assert a.train.values.tolist() == b.train.values.tolist()


def test_dense_and_libsvm_round_trips_give_the_same_model(tmp_path):
    rng = np.random.default_rng(1)
    csv = tmp_path / "X.csv"
    X = np.concatenate([rng.normal(c, 1.0, (60, 3)) for c in (-5, 0, 5)])
    np.savetxt(csv, X, delimiter=",", header="a,b,c", comments="")
    assert _convert("dense", csv, tmp_path / "X.npy").returncode == 0
    km = ["train", "kmeans", "--k", "3", "--max-iter", "5", "--seed", "1"]
    # one rank: text is split by bytes and arrays by rows, so on more ranks
    # the partial sums (and the last bits) differ
    _same(_train(tmp_path, "csv", km + ["--data", csv], 1), _train(tmp_path, "npy", km + ["--data", tmp_path / "X.npy"], 1))

    Xs, y, _ = make_classification(200, 30, seed=3, nnz_per_row=6)
    svm = tmp_path / "d.svm"
    write_libsvm(svm, Xs, y, zero_one=True)
    res = _convert("libsvm", svm, tmp_path / "d.h5")
    assert res.returncode == 0, res.stderr
    lin = ["train", "linear", "--solver", "lbfgs", "--max-iter", "5", "--seed", "2"]
    a = _train(tmp_path, "svm", lin + ["--data", svm], 1)
    b = _train(tmp_path, "h5", lin + ["--data", tmp_path / "d.h5"], 1)
    assert sorted(a) == sorted(b)
    for k in a:   # sparse and dense kernels sum in different orders
        np.testing.assert_allclose(a[k], b[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_refusals_and_errors_leave_everything_in_place(tmp_path):
    txt = tmp_path / "r.txt"
    txt.write_text("1 2 3\n4 5 6\n")
    out = tmp_path / "r.h5"
    out.write_bytes(b"precious")
    res = _convert("ratings", txt, out)
    assert res.returncode == 2 and "exists; refusing to overwrite it (pass --force" in res.stderr
    assert out.read_bytes() == b"precious"
    link = tmp_path / "same.h5"
    link.symlink_to(txt)
    res = _convert("ratings", link, link, "--format", "triplets", "--force")
    assert res.returncode == 2 and "is the input file" in res.stderr and txt.read_text() == "1 2 3\n4 5 6\n"
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3\n1 2 x\n")
    res = _convert("ratings", bad, out, "--force")
    assert res.returncode == 2 and f"{bad}:2: rating 'x' is not a number" in res.stderr
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "r.h5", "r.txt", "same.h5"]
    res = _convert("ratings", txt, out, "--force")
    assert res.returncode == 0, res.stderr
    from mpiml.comm import SerialComm
    from mpiml.io.ratings import read_raw_ratings
    assert read_raw_ratings(SerialComm(), out).values.tolist() == [3.0, 6.0]
