"""The text readers' compiled parsers on real MPI ranks (run on 1-4): every
rank's share, gathered, equals the serial exact (line-by-line) parse of the
whole file, and a bad line in any rank's share is the same ``file:line``
error on every rank, with no hang.

    mpiexec -n 3 python -m mpi4py -m pytest --with-mpi -p no:cacheprovider tests/mpi/test_readers_mpi.py
"""

import numpy as np
import pytest

import mpiml.io.lines as L
from mpiml.comm.serial import SerialComm
from mpiml.errors import CollectiveError, InputError
from mpiml.io.dense import read_dense
from mpiml.io.libsvm import read_libsvm
from mpiml.io.ratings import read_raw_ratings
from tests.mpi.conftest import assert_all

pytestmark = pytest.mark.timeout(120, method="thread")

N = 3000


def _texts(rng):
    """Ratings, dense CSV and LIBSVM text with some long mantissas and a header."""
    vals = rng.standard_normal((N, 4)) * 10.0 ** rng.integers(-5, 5, (N, 4))
    ratings = "user,item,rating,ts\n" + "".join(
        f"{u},{i},{float(v)!r},{t}\n" for u, i, v, t in zip(rng.integers(1, 500, N), rng.integers(-9, 300, N),
                                                    vals[:, 0], rng.integers(1e9, 2e9, N)))
    dense = "a,b,c,d\n" + "".join(",".join(f"{x:.18e}" if k % 2 else f"{x:.6g}" for k, x in enumerate(row)) + "\n"
                                  for row in vals)
    svm = "".join(f"{1 if r % 3 else -1} " + " ".join(f"{j}:{float(x)!r}" for j, x in zip((2, 5, 9, 40), row)) + "\n"
                  for r, row in enumerate(vals))
    return {"r.csv": ratings, "X.csv": dense, "d.svm": svm}


def _read(comm, name, path):
    if name == "r.csv":
        o = read_raw_ratings(comm, path)
        return [o.users, o.items, o.values, o.lines]
    if name == "X.csv":
        b = read_dense(comm, path)
        return [b.X.reshape(-1), b.lines]
    o = read_libsvm(comm, path)
    return [o.y, o.indices + np.repeat(o.offset + np.arange(o.n_local), np.diff(o.indptr)) * 100, o.values, o.lines]


def _exact(name, path):
    old, L.FAST_MIN_BYTES = L.FAST_MIN_BYTES, 1 << 62
    try:
        return _read(SerialComm(), name, path)
    finally:
        L.FAST_MIN_BYTES = old


@pytest.fixture
def files(comm, shared_tmp):
    if comm.rank == 0:
        for name, text in _texts(np.random.default_rng(3)).items():
            (shared_tmp / name).write_text(text)
    comm.barrier()
    return shared_tmp


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("name", ["r.csv", "X.csv", "d.svm"])
def test_shares_gathered_equal_the_serial_exact_parse(comm, files, monkeypatch, name):
    monkeypatch.setattr(L, "FAST_MIN_BYTES", 0)
    path = files / name
    mine = _read(comm, name, path)
    parts = comm.allgather_obj([a.tolist() for a in mine])
    got = [np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(len(mine))]
    want = _exact(name, path)
    ok = all(g.shape == w.shape and np.array_equal(np.asarray(g, w.dtype).view(np.uint8), w.view(np.uint8))
             for g, w in zip(got, want))
    assert_all(comm, ok, name)


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("name,bad,message", [
    ("r.csv", "7,8,nan,1\n", "rating is nan (NaN and infinite ratings are not allowed)"),
    ("r.csv", "7,8\n", "expected 3 or 4 fields (user item rating [timestamp]), found 2"),
    ("X.csv", "1,2,x,4\n", "cannot parse 'x' as a number"),
    ("d.svm", "1 3:1 2:1\n", "index 2 after 3: indices must be strictly increasing"),
])
def test_a_bad_line_on_the_last_rank_is_one_error_everywhere(comm, files, monkeypatch, name, bad, message):
    monkeypatch.setattr(L, "FAST_MIN_BYTES", 0)
    path = files / f"bad-{name}"
    if comm.rank == 0:
        lines = (files / name).read_text().splitlines(keepends=True)
        lines.insert(len(lines) - 5, bad)         # in the last rank's share
        path.write_text("".join(lines))
        n_line = len(lines) - 5
    comm.barrier()
    n_line = comm.bcast_obj(n_line if comm.rank == 0 else None)
    with pytest.raises((InputError, CollectiveError)) as info:
        _read(comm, name, path)
    text = str(info.value)
    assert_all(comm, f"{path}:{n_line}: {message}" in text, text)
