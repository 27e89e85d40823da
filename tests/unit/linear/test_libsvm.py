"""LIBSVM reader: each rank's lines tile the file; dense data + labels;
every error names file:line (or row) and is raised on every rank."""

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from mpiml.comm import SerialComm
from mpiml.datasets.linear import make_classification, write_libsvm
from mpiml.errors import CollectiveError, InputError
from mpiml.io.libsvm import read_labelled
from tests.fakecomm import run_ranks


@pytest.fixture(scope="module")
def sparse_data():
    X, y, _ = make_classification(53, 17, seed=4, nnz_per_row=4)
    return X, y


def gather(n, path, **kw):
    parts = run_ranks(n, lambda c: read_labelled(c, path, **kw))
    assert [p.offset for p in parts] == list(np.cumsum([0] + [p.n_local for p in parts])[:-1])
    return parts


def to_csr(parts, d):
    mats = [sp.csr_matrix((p.values, p.indices, p.indptr), shape=(p.n_local, d)) for p in parts]
    return sp.vstack(mats).toarray(), np.concatenate([p.y for p in parts])


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("zero_one", [False, True])
def test_ranks_tile_the_file(tmp_path, sparse_data, n, zero_one):
    X, y = sparse_data
    p = write_libsvm(tmp_path / "a.svm", X, y, zero_one=zero_one, comment="made by a test")
    parts = gather(n, p)
    got, gy = to_csr(parts, 17)
    assert all(q.n_features == 17 and q.n_total == 53 and q.sparse for q in parts)
    assert np.array_equal(got, X.toarray()) and np.array_equal(gy, y)
    assert parts[0].label_kind == ("01" if zero_one else "pm1")
    lines = np.concatenate([q.lines for q in parts])
    assert np.array_equal(lines, np.arange(2, 55))          # line 1 is the comment


def test_comments_blank_lines_qid_and_n_features(tmp_path):
    p = tmp_path / "b.txt"
    p.write_text("# header\n+1 qid:3 2:1.5 7:-2 # trailing\n\n-1 1:1e-3\n-1\n")
    d = read_labelled(SerialComm(), p, n_features=9)
    assert d.n_features == 9 and d.n_total == 3 and list(d.lines) == [2, 4, 5]
    assert list(d.indices) == [1, 6, 0] and list(d.indptr) == [0, 2, 3, 3] and list(d.y) == [1, -1, -1]


@pytest.mark.parametrize("text,message", [
    ("1 1:2\n1 3:x\n", "c.svm:2: expected INDEX:VALUE with an integer index and a number, found '3:x'"),
    ("1 1:2\nabc 3:1\n", "c.svm:2: cannot parse label 'abc'"),
    ("1 1:2\n1 2\n", "c.svm:2: expected INDEX:VALUE, found '2'"),
    ("1 1:2\n0 0:1\n", "c.svm:2: index 0 out of range (indices are 1-based)"),
    ("1 1:2\n-1 4:1 2:1\n", "c.svm:2: index 2 after 4: indices must be strictly increasing"),
    ("1 1:2\n1 2:1 2:1\n", "c.svm:2: index 2 after 2"),
    ("1 1:2\n1 2:1\n2 1:1\n", "c.svm:3: label 2 is neither 0/1 nor -1/+1"),
    ("1 1:2\n0 2:1\n-1 1:1\n", "labels mix the 0/1 and -1/+1 conventions (line 2 has 0, line 3 has -1)"),
    ("1 1:2\n1 1:nan\n", "c.svm:2: non-finite value 'nan' at index 1"),
    ("1 1:2\n1 12:1\n", "c.svm:2: index 12 out of range (the model has 10 features)"),
])
@pytest.mark.parametrize("n", [1, 3])
def test_bad_lines_name_file_and_line_on_every_rank(tmp_path, text, message, n):
    p = tmp_path / "c.svm"
    p.write_text(text)
    kw = {"n_features": 10}
    if n == 1:
        with pytest.raises(InputError) as e:
            read_labelled(SerialComm(), p, **kw)
    else:
        with pytest.raises(CollectiveError) as e:
            run_ranks(n, lambda c: read_labelled(c, p, **kw))
    assert message in str(e.value)


@pytest.mark.parametrize("fmt", ["npy", "h5", "csv"])
@pytest.mark.parametrize("n", [1, 3])
def test_dense_with_labels(tmp_path, fmt, n):
    X, y, _ = make_classification(31, 5, seed=1)
    y01 = (y > 0).astype(np.int64)
    if fmt == "npy":
        np.save(tmp_path / "X.npy", X)
        np.save(tmp_path / "y.npy", y01)
        path, kw = tmp_path / "X.npy", {"labels": tmp_path / "y.npy"}
    elif fmt == "h5":
        with h5py.File(tmp_path / "d.h5", "w") as f:
            f["X"], f["y"] = X, y
        path, kw = tmp_path / "d.h5", {}
    else:
        np.savetxt(tmp_path / "X.csv", X, delimiter=",", fmt="%.17g")
        np.savetxt(tmp_path / "y.txt", y01, fmt="%d")
        path, kw = tmp_path / "X.csv", {"labels": tmp_path / "y.txt"}
    parts = gather(n, path, **kw)
    assert np.array_equal(np.concatenate([p.X for p in parts]), X)
    assert np.array_equal(np.concatenate([p.y for p in parts]), y)
    assert parts[0].label_kind == ("pm1" if fmt == "h5" else "01")


def test_dense_label_errors(tmp_path):
    X = np.zeros((4, 2))
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(InputError, match="needs labels"):
        read_labelled(SerialComm(), tmp_path / "X.npy")
    np.save(tmp_path / "y.npy", np.array([1, 0, 3, 1]))
    with pytest.raises(InputError, match=r"y.npy: row 2: label 3 is neither 0/1 nor -1/\+1"):
        read_labelled(SerialComm(), tmp_path / "X.npy", labels=tmp_path / "y.npy")
    np.save(tmp_path / "y3.npy", np.array([1, 0, 1]))
    with pytest.raises(InputError, match="expected 4 labels"):
        read_labelled(SerialComm(), tmp_path / "X.npy", labels=tmp_path / "y3.npy")
    with pytest.raises(InputError, match="has 2 features, expected 3"):
        read_labelled(SerialComm(), tmp_path / "X.npy", labels=tmp_path / "y3.npy", n_features=3)
