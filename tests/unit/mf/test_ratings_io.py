"""Ratings readers: formats, id maps, duplicates, split, and error messages."""

import h5py
import numpy as np
import pytest

import mpiml.io.ratings as IO
import mpiml.mf.data as R
from mpiml.partition import block_range
from mpiml.errors import CollectiveError, ConfigError, InputError
from tests.fakecomm import run_ranks

RNG = np.random.default_rng(3)
N_ROWS = 80
RAW_U = RNG.choice([3, 17, 101, 5000, 42, 7, 9, 11, 12, 13, 2 ** 40], N_ROWS)
RAW_I = RNG.choice([10, 20, 30, 40, 55, 66, 1000, 1, 2, 5], N_ROWS)
# unique (u, i) pairs so that duplicates are only where a test adds them
_pairs = sorted(set(zip(RAW_U.tolist(), RAW_I.tolist())))
RAW_U = np.array([p[0] for p in _pairs])
RAW_I = np.array([p[1] for p in _pairs])
VALS = np.round(RNG.uniform(1, 5, RAW_U.size), 1)


def _write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def _collect(path, P, **kw):
    """Run the reader on P ranks; return (raw user, raw item, value, line) sorted, and the data."""
    def fn(comm):
        d = R.read_ratings(comm, path, **kw)
        tr = d.train
        lo = comm.rank
        return d, [(d.user_ids[u], d.item_ids[i], v, ln) for u, i, v, ln in
                   zip(tr.users, tr.items, tr.values, tr.lines)], lo
    res = run_ranks(P, fn)
    return sorted(x for _, rows, _ in res for x in rows), [r[0] for r in res]


def _expected(first_line=1):
    return sorted((u, i, v, first_line + k) for k, (u, i, v) in enumerate(zip(RAW_U, RAW_I, VALS)))


@pytest.mark.parametrize("P", [1, 2, 3])
def test_whitespace_triplets(tmp_path, P):
    p = _write(tmp_path, "r.txt", [f"{u}\t{i}  {v}" for u, i, v in zip(RAW_U, RAW_I, VALS)])
    rows, datas = _collect(p, P)
    assert [(int(a), int(b), c, d) for a, b, c, d in rows] == _expected()
    d = datas[0]
    assert d.user_ids.tolist() == sorted(set(RAW_U.tolist()))
    for r, dd in enumerate(datas):          # distributed by user owner
        lo, hi = block_range(d.n_users, P, r)
        assert np.all((dd.train.users >= lo) & (dd.train.users < hi))


@pytest.mark.parametrize("P", [1, 3])
def test_csv_with_header_timestamps_comments_and_blank_lines(tmp_path, P):
    lines = ["userId,movieId,rating,timestamp"]
    for k, (u, i, v) in enumerate(zip(RAW_U, RAW_I, VALS)):
        lines.append(f"{u},{i},{v},{1000 + k}" if k % 2 else f"{u}, {i}, {v}")
        if k == 5:
            lines += ["", "# a comment, with commas"]
    p = _write(tmp_path, "r.csv", lines)
    rows, _ = _collect(p, P)
    want = []
    ln = 2
    for k, (u, i, v) in enumerate(zip(RAW_U, RAW_I, VALS)):
        want.append((u, i, v, ln))
        ln += 3 if k == 5 else 1
    assert [(int(a), int(b), c, d) for a, b, c, d in rows] == sorted(want)


def test_movielens_format_and_small_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(IO, "_PIECE", 64)
    p = _write(tmp_path, "ratings.dat", [f"{u}::{i}::{v}::97800{k}" for k, (u, i, v) in
                                         enumerate(zip(RAW_U, RAW_I, VALS))])
    rows, _ = _collect(p, 2)
    assert [(int(a), int(b), c, d) for a, b, c, d in rows] == _expected()


def test_string_ids_on_one_rank_make_all_ranks_use_strings(tmp_path):
    lines = [f"{u} {i} {v}" for u, i, v in zip(RAW_U, RAW_I, VALS)]
    lines[-1] = f"alice {RAW_I[-1]} {VALS[-1]}"   # only the last rank's chunk has a string id
    p = _write(tmp_path, "r.txt", lines)
    rows, datas = _collect(p, 3)
    assert datas[0].user_ids.dtype.kind == "U"
    assert ("alice", str(RAW_I[-1])) in {(a, b) for a, b, _, _ in rows}
    assert len(rows) == len(lines)


def test_non_integer_literal_ids_are_strings(tmp_path):
    p = _write(tmp_path, "r.txt", ["1.0 7 3", "1 7 2", "1e1 8 1"])
    rows, datas = _collect(p, 2)
    assert datas[0].user_ids.tolist() == ["1", "1.0", "1e1"]
    assert [r[:3] for r in rows] == [("1", "7", 2.0), ("1.0", "7", 3.0), ("1e1", "8", 1.0)]


@pytest.mark.parametrize("P", [1, 2, 3])
@pytest.mark.parametrize("bad,msg", [("5 6", "expected 3 or 4 fields"), ("5 6 x", "is not a number"),
                                     ("5 6 nan", "NaN"), ("5 6 7 8 9", "expected 3 or 4 fields")])
def test_bad_line_is_reported_with_its_global_line_number(tmp_path, P, bad, msg):
    lines = [f"{u} {i} {v}" for u, i, v in zip(RAW_U, RAW_I, VALS)]
    lines[47] = bad
    p = _write(tmp_path, "r.txt", lines)
    with pytest.raises((InputError, CollectiveError)) as ei:
        _collect(p, P)
    assert f"{p}:48:" in str(ei.value) and msg in str(ei.value)


def test_missing_file_and_bad_options(tmp_path):
    with pytest.raises((InputError, CollectiveError), match="no such file"):
        _collect(tmp_path / "nope.txt", 2)
    p = _write(tmp_path, "r.txt", ["1 2 3"])
    with pytest.raises(ConfigError):
        _collect(p, 1, duplicates="sum")
    with pytest.raises(ConfigError):
        _collect(p, 1, fmt="xml")


@pytest.mark.parametrize("policy,value", [("last", 2.0), ("first", 4.0), ("mean", 3.0)])
def test_duplicate_policies(tmp_path, policy, value):
    lines = ["1 1 4.0"] + [f"{u} {i} {v}" for u, i, v in zip(RAW_U, RAW_I, VALS)] + ["1 1 3.0", "1 1 2.0"]
    p = _write(tmp_path, "r.txt", lines)
    rows, datas = _collect(p, 3, duplicates=policy)
    assert datas[0].n_duplicates == 2
    assert [r[2] for r in rows if (r[0], r[1]) == (1, 1)] == [value]
    assert len(rows) == len(lines) - 2


def test_duplicate_error_names_both_lines(tmp_path):
    lines = [f"{u} {i} {v}" for u, i, v in zip(RAW_U, RAW_I, VALS)] + [f"{RAW_U[3]} {RAW_I[3]} 1"]
    p = _write(tmp_path, "r.txt", lines)
    with pytest.raises((InputError, CollectiveError)) as ei:
        _collect(p, 2, duplicates="error")
    assert f":{len(lines)}:" in str(ei.value) and "first on line 4" in str(ei.value)


def test_split_does_not_depend_on_rank_count(tmp_path):
    p = _write(tmp_path, "r.txt", [f"{u} {i} {v}" for u, i, v in zip(RAW_U, RAW_I, VALS)])
    sets = []
    for P in (1, 2, 3):
        res = run_ranks(P, lambda comm: R.read_ratings(comm, p, valid_fraction=0.3, seed=5))
        va = {(int(d.user_ids[u]), int(d.item_ids[i])) for d in res for u, i in zip(d.valid.users, d.valid.items)}
        tr = {(int(d.user_ids[u]), int(d.item_ids[i])) for d in res for u, i in zip(d.train.users, d.train.items)}
        assert not va & tr and len(va | tr) == RAW_U.size
        sets.append(va)
    assert sets[0] == sets[1] == sets[2]
    assert 0.1 < len(sets[0]) / RAW_U.size < 0.5


def test_separate_validation_file_drops_unknown_ids(tmp_path):
    p = _write(tmp_path, "r.txt", [f"{u} {i} {v}" for u, i, v in zip(RAW_U, RAW_I, VALS)])
    q = _write(tmp_path, "v.txt", [f"{RAW_U[0]} {RAW_I[1]} 2.5", "999999 10 1.0", f"{RAW_U[2]} 123456 1.0"])
    res = run_ranks(2, lambda comm: R.read_ratings(comm, p, valid_path=q))
    assert res[0].n_valid_unknown == 2
    got = [(int(d.user_ids[u]), int(d.item_ids[i]), v) for d in res
           for u, i, v in zip(d.valid.users, d.valid.items, d.valid.values)]
    assert got == [(RAW_U[0], RAW_I[1], 2.5)]


@pytest.mark.parametrize("P", [1, 2, 3])
def test_npy_and_hdf5_equal_text(tmp_path, P):
    table = np.column_stack([RAW_U, RAW_I, VALS])
    np.save(tmp_path / "r.npy", table)
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["users"], f["items"], f["ratings"] = RAW_U, RAW_I, VALS
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["ratings"] = table
    want = _expected()
    for name in ("r.npy", "r.h5", "t.h5"):
        rows, _ = _collect(tmp_path / name, P)
        assert [(int(a), int(b), c, d) for a, b, c, d in rows] == want


def test_array_errors(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((4, 2)))
    with pytest.raises((InputError, CollectiveError), match="3 or 4 columns"):
        _collect(tmp_path / "bad.npy", 2)
    t = np.column_stack([RAW_U, RAW_I, VALS]).astype(float)
    t[5, 2] = np.nan
    np.save(tmp_path / "nan.npy", t)
    with pytest.raises((InputError, CollectiveError), match=r"nan.npy:6: rating"):
        _collect(tmp_path / "nan.npy", 2)
    t[5, 2], t[7, 0] = 1.0, 2.5
    np.save(tmp_path / "frac.npy", t)
    with pytest.raises((InputError, CollectiveError), match=r"frac.npy:8: user id 2.5"):
        _collect(tmp_path / "frac.npy", 3)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["foo"] = np.zeros(3)
    with pytest.raises((InputError, CollectiveError), match="'users'"):
        _collect(tmp_path / "x.h5", 1)


def test_lookup():
    ids = np.array([3, 7, 42])
    assert R.lookup(ids, [42, 5, 3]).tolist() == [2, -1, 0]
