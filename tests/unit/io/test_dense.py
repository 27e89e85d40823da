"""Dense readers: every rank reads only its part; the parts tile the file;
bad input names the file and line."""

import h5py
import numpy as np
import pytest

from mpiml.comm import SerialComm
from mpiml.errors import CollectiveError, InputError
from mpiml.io.dense import read_dense
from tests.fakecomm import run_ranks


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(37, 4))


def gather(n_ranks, path, **kw):
    blocks = run_ranks(n_ranks, lambda c: read_dense(c, path, **kw))
    offsets = [b.offset for b in blocks]
    assert offsets == sorted(offsets)
    for b, nxt in zip(blocks, blocks[1:]):
        assert b.offset + b.X.shape[0] == nxt.offset
    assert all(b.n_total == blocks[0].n_total for b in blocks)
    return np.concatenate([b.X for b in blocks]), blocks


@pytest.mark.parametrize("n_ranks", [1, 2, 3, 4])
@pytest.mark.parametrize("fmt", ["npy", "h5", "csv", "tsv"])
def test_blocks_tile_the_file(tmp_path, X, fmt, n_ranks):
    p = tmp_path / f"X.{fmt}"
    if fmt == "npy":
        np.save(p, X)
    elif fmt == "h5":
        with h5py.File(p, "w") as f:
            f["X"] = X
    else:
        np.savetxt(p, X, delimiter="," if fmt == "csv" else "\t", fmt="%.17g",
                   header="a,b,c,d" if fmt == "csv" else "", comments="")
    got, blocks = gather(n_ranks, p)
    np.testing.assert_array_equal(got, X)
    if fmt in ("csv", "tsv"):
        lines = np.concatenate([b.lines for b in blocks])
        first = 2 if fmt == "csv" else 1
        assert list(lines) == list(range(first, first + len(X)))


def test_ragged_csv_row_names_file_and_line(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("1,2,3\n4,5,6\n7,8\n9,10,11\n")
    for n in (1, 2, 3):
        with pytest.raises((InputError, CollectiveError), match=r"bad.csv:3: expected 3 columns.*found 2"):
            run_ranks(n, lambda c: read_dense(c, p))


def test_unparseable_value(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("1,2\n3,x\n")
    with pytest.raises(InputError, match=r"bad.csv:2: cannot parse 'x'"):
        read_dense(SerialComm(), p)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_located(tmp_path, X, bad):
    X[30, 2] = bad
    p = tmp_path / "X.npy"
    np.save(p, X)
    with pytest.raises(CollectiveError, match=r"X.npy: row 30, column 2 \(0-based\): non-finite value"):
        run_ranks(3, lambda c: read_dense(c, p))
    q = tmp_path / "X.csv"
    np.savetxt(q, X, delimiter=",")
    with pytest.raises(CollectiveError, match=r"X.csv: line 31, column 3 \(1-based\): non-finite"):
        run_ranks(2, lambda c: read_dense(c, q))


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match="nope.npy: no such file"):
        read_dense(SerialComm(), tmp_path / "nope.npy")
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(InputError, match="unknown data format"):
        read_dense(SerialComm(), tmp_path / "x.parquet")


def test_wrong_shapes(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(5.0))
    with pytest.raises(InputError, match="expected a 2-D array"):
        read_dense(SerialComm(), tmp_path / "v.npy")
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["a"] = np.zeros((2, 2))
        f["b"] = np.zeros((2, 2))
    with pytest.raises(InputError, match="cannot choose a dataset"):
        read_dense(SerialComm(), tmp_path / "m.h5")
    assert read_dense(SerialComm(), tmp_path / "m.h5", dataset="b").X.shape == (2, 2)


def test_non_utf8_text(tmp_path):
    p = tmp_path / "x.txt"
    p.write_bytes(b"1 2\n3 \xff\n")
    with pytest.raises(InputError, match=r"x.txt:2: not valid UTF-8"):
        read_dense(SerialComm(), p)
