"""The compiled text parsers (mpiml.io.textparse.kernels) against the exact per-line
path: the same doubles as Python's float() on tricky numbers, and on fuzzed
files the same result or the same ``file:line`` message, at 1 and 3 ranks."""

import numpy as np
import pytest

import mpiml.io.lines as L
from mpiml.comm import SerialComm
from mpiml.errors import CollectiveError, InputError
from mpiml.io.textparse import kernels
from mpiml.io.dense import read_dense
from mpiml.io.libsvm import read_libsvm
from mpiml.io.ratings import read_raw_ratings as _read_raw
from tests.fakecomm import run_ranks

# Numbers whose doubles are easy to get wrong: ties, many digits, the edges
# of the fast path (2**53, 1e22), subnormals, overflow, signed zeros.
TRICKY = [
    "0", "-0", "+0", "0.0", "-0.0", "00012", "1", "-1", "+1.5", ".5", "-.5", "5.", "1.e3",
    "1e0", "1E5", "1e+5", "1e-5", "-1E-05", "0e999", "-0e-999",
    "0.1", "0.2", "0.3", "2.675", "1.1", "3.3000000000000003", "0.1000000000000000055511151231257827",
    "9007199254740992", "9007199254740993", "9007199254740991", "18014398509481985",
    "123456789012345678", "1234567890123456789", "12345678901234567890", "99999999999999999999999",
    "1e22", "1e23", "9e22", "1.7976931348623157e308", "1.7976931348623159e308", "1e308", "1e309",
    "-1e400", "2.2250738585072011e-308", "2.2250738585072014e-308", "4.9e-324", "2.4703282292062327e-324",
    "2.4703282292062328e-324", "1e-400", "7.038531e-26", "1.00000000000000011102230246251565404236316680908203125",
    "1.00000000000000011102230246251565404236316680908203124", "0.000001", "123.456e-7", "0.30000000000000004",
    "4.35", "1234.5678e2", "8.98846567431158e307", "5e-324", "3.14159265358979323846264338327950288",
]


def _bits(a):
    return np.asarray(a, dtype=np.float64).view(np.int64)


def _scan(tok: str) -> float:
    b = np.frombuffer(tok.encode(), np.uint8)
    st, v = kernels.scan_float(b, 0, b.size)
    if st == kernels.HARD:
        v = L.exact_floats(np.frombuffer(tok.encode() + b" ", np.uint8), 1)[0]
    assert st != kernels.BAD, tok
    return v


@pytest.mark.parametrize("tok", TRICKY)
def test_scan_float_gives_python_float(tok):
    assert _bits(_scan(tok)) == _bits(float(tok)), tok


def test_scan_float_random_round_trip_and_decimals():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(3000) * 10.0 ** rng.integers(-30, 30, 3000),
                        rng.integers(-2 ** 62, 2 ** 62, 500).astype(np.float64)])
    toks = [repr(float(v)) for v in x] + [f"{v:.{d}g}" for v, d in zip(x, rng.integers(1, 21, x.size))]
    toks += [f"{v:.18e}" for v in x[:500]] + [f"{v:.6f}" for v in x[:500]]
    got = np.array([_scan(t) for t in toks])
    want = np.array([float(t) for t in toks])
    assert np.array_equal(_bits(got), _bits(want))


def _scan_all(toks):
    """(doubles, number of HARD tokens) of whitespace-separated tokens, as the dense reader converts them."""
    raw = (" ".join(toks) + "\n").encode()
    out = kernels.parse_dense(np.frombuffer(raw, np.uint8), False, False)
    assert out[0] == kernels.DONE
    vals = out[2].copy()
    vals[out[6]] = L.exact_floats(out[5], out[6].size)
    return vals, out[6].size


def test_long_mantissas_round_like_python_float():
    """Up to 19 significant digits beyond the Clinger range: Lemire's 128-bit
    product (exact or declining), over the whole exponent range, near
    midpoints between doubles, and at exact ties (round half to even)."""
    rng = np.random.default_rng(11)
    x = np.frombuffer(rng.integers(0, 2 ** 63 - 1, 20000, dtype=np.int64).tobytes(), np.float64)
    x = x[np.isfinite(x)]
    toks = [f"{v:.{d}e}" for v, d in zip(x, rng.integers(15, 19, x.size))]
    toks += [f"{a}e{b}" for a, b in zip(rng.integers(10 ** 18, 10 ** 19 - 1, 20000, dtype=np.uint64),
                                         rng.integers(-360, 330, 20000))]
    toks += [str(2 ** 53 + 2 * i + 1) for i in range(2000)] + [str(2 ** 54 + 4 * i + 2) for i in range(2000)]
    toks += [str(2 ** 63 + 2 ** 10 * i + 2 ** 9) for i in range(500)] + [str(v) for v in
                                                                        rng.integers(2 ** 53, 2 ** 63, 5000)]
    got, n_hard = _scan_all(toks)
    want = np.array([float(t) for t in toks])
    assert np.array_equal(_bits(got), _bits(want))
    assert n_hard < 0.1 * len(toks)      # most went through the compiled conversion


@pytest.mark.parametrize("tok", ["", "+", "-", ".", "e5", ".e5", "1e", "1e+", "--1", "1..2", "1.2.3", "inf", "nan",
                                 "-Infinity", "1_000", "0x10", "1e5x", "abc", "1,5", "\u0661"])
def test_scan_float_refuses_what_it_does_not_compute(tok):
    b = np.frombuffer(tok.encode(), np.uint8)
    assert kernels.scan_float(b, 0, b.size)[0] == kernels.BAD


# ------------------------------------------------------------- fuzzed files
POOL = ["1", "-2", "+3", "4.5", "1e3", "-0", ".5", "5.", "7e-3", "2.675", "0.1000000000000000055511151231257827",
        "12345678901234567890", "1e309", "1e-400", "4.9e-324", "inf", "nan", "-Infinity", "1_0", "0x1", "1e",
        "x", "", "\u0661", "2" * 19, "9" * 25]


GOOD = POOL[:10] + ["12345678901234567890", "4.9e-324", "1e-400", "9" * 25]


def _line(rng, n_fields, sep, p_bad):
    """A line of ``n_fields`` numbers; each is junk with probability ``p_bad``;
    some lines are comments, blank, or end in CR."""
    toks = [str(rng.choice(POOL if rng.random() < p_bad else GOOD)) for _ in range(n_fields)]
    s = sep.join(toks)
    r = rng.random()
    if r < 0.03:
        return "# a comment, " + s
    if r < 0.05:
        return "  "
    if r < 0.06:
        return s + "\r"
    return s


def _p_bad(seed):
    """A third of the files are clean, a third have a few bad lines, a third many."""
    return (0.0, 0.003, 0.03)[seed % 3]


def _outcome(fn):
    try:
        return fn()
    except (InputError, CollectiveError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _both(monkeypatch, fn):
    monkeypatch.setattr(L, "FAST_MIN_BYTES", 0)
    fast = _outcome(fn)
    monkeypatch.setattr(L, "FAST_MIN_BYTES", 1 << 62)
    slow = _outcome(fn)
    return fast, slow


def _fuzz_file(tmp_path, rng, name, make_line, n_lines, header=None):
    lines = [header] if header else []
    lines += [make_line(rng) for _ in range(n_lines)]
    p = tmp_path / name
    p.write_bytes(("\n".join(lines) + ("\n" if rng.random() < 0.5 else "")).encode())
    return p


@pytest.mark.parametrize("seed", range(12))
def test_dense_fast_equals_exact(tmp_path, monkeypatch, seed):
    rng = np.random.default_rng(seed)
    sep = [",", " ", "\t", " , "][seed % 4]
    suffix = ".csv" if "," in sep else ".txt"
    width = 1 + seed % 4
    n_lines = int(rng.integers(1, 60))
    pb = _p_bad(seed)
    p = _fuzz_file(tmp_path, rng, "x" + suffix, lambda r: _line(r, width + (r.random() < pb / 3), sep, pb), n_lines,
                   header="a,b,c" if seed % 4 == 0 else None)
    for P in (1, 3):
        def read():
            blocks = run_ranks(P, lambda c: read_dense(c, p))
            return [(b.X.view(np.int64).tolist(), b.lines.tolist(), b.offset, b.n_total) for b in blocks]
        fast, slow = _both(monkeypatch, read)
        assert fast == slow, (p.read_text(), fast, slow)


@pytest.mark.parametrize("seed", range(12))
def test_ratings_fast_equals_exact(tmp_path, monkeypatch, seed):
    rng = np.random.default_rng(100 + seed)
    sep = [",", " ", "\t", "::"][seed % 4]
    ids = ["1", "2", "17", "-3", "+4", "0005", "123456789012"]
    pb = _p_bad(seed)
    str_ids = seed % 4 == 1             # some files have string ids: the exact path reads them

    def make(r):
        if r.random() < pb / 3:
            return _line(r, 2 + 3 * (r.random() < 0.5), sep, pb)     # wrong field count
        u = str(r.choice(ids if not str_ids or r.random() < 0.9 else ids + ["1.0", "abc", "9" * 20]))
        i = str(r.choice(ids))
        value = str(r.choice(POOL if r.random() < pb else GOOD[:10]))
        rest = [value] + ([str(r.integers(1e9))] if r.random() < 0.5 else [])
        line = sep.join([u, i] + rest)
        return ("# " + line) if r.random() < 0.03 else line
    p = _fuzz_file(tmp_path, rng, "r.dat" if sep == "::" else "r.txt", make, int(rng.integers(1, 60)),
                   header="user,item,rating,ts" if seed % 4 == 0 else None)
    for P in (1, 3):
        def read():
            out = run_ranks(P, lambda c: _read_raw(c, p, "auto"))
            return [(o.users.tolist(), o.items.tolist(), o.values.view(np.int64).tolist(), o.lines.tolist(), o.kind)
                    for o in out]
        fast, slow = _both(monkeypatch, read)
        assert fast == slow, (p.read_text(), fast, slow)


@pytest.mark.parametrize("seed", range(12))
def test_libsvm_fast_equals_exact(tmp_path, monkeypatch, seed):
    rng = np.random.default_rng(200 + seed)
    labels = ["1", "-1", "0", "+1", "1.0", "-1e0"]
    pb = _p_bad(seed)

    def make(r):
        if r.random() < pb:
            return _line(r, 2, " ", pb)
        idx = np.sort(r.choice(30, int(r.integers(0, 6)), replace=False)) + 1
        if r.random() < pb and idx.size:
            idx[-1] = idx[0]                                        # not increasing
        toks = [str(r.choice(labels))]
        if r.random() < 0.1:
            toks.append("qid:" + str(r.integers(9)))
        toks += [f"{j}:{r.choice(POOL if r.random() < pb else GOOD[:10])}" for j in idx]
        if r.random() < pb:
            toks.append(str(r.choice(["7", "a:1", "0:1", "-2:1", "40:1", "3:4:5"])))
        s = " ".join(toks)
        return s + ("  # note: 1:2" if r.random() < 0.05 else "")
    p = _fuzz_file(tmp_path, rng, "d.svm", make, int(rng.integers(1, 60)))
    n_features = 35 if seed % 2 else None
    for P in (1, 3):
        def read():
            out = run_ranks(P, lambda c: read_libsvm(c, p, n_features=n_features, need_labels=False))
            return [(o.y.view(np.int64).tolist(), o.indptr.tolist(), o.indices.tolist(),
                     o.values.view(np.int64).tolist(), o.lines.tolist(), o.n_features, o.offset) for o in out]
        fast, slow = _both(monkeypatch, read)
        assert fast == slow, (p.read_text(), fast, slow)


def test_fast_path_is_taken_on_big_blocks(tmp_path, monkeypatch):
    """The fuzz tests compare two paths; this one checks that a file without
    surprises really goes through the compiled parser (not the exact path)."""
    calls = []
    real = kernels.parse_dense
    monkeypatch.setattr(kernels, "parse_dense", lambda *a: calls.append(1) or real(*a))
    p = tmp_path / "x.csv"
    np.savetxt(p, np.arange(12.0).reshape(4, 3), delimiter=",", header="a,b,c", comments="")
    monkeypatch.setattr(L, "FAST_MIN_BYTES", 0)
    b = read_dense(SerialComm(), p)
    assert calls and b.X.tolist() == np.arange(12.0).reshape(4, 3).tolist() and b.lines.tolist() == [2, 3, 4, 5]


def test_messages_from_the_fast_path_name_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "FAST_MIN_BYTES", 0)
    p = tmp_path / "r.txt"
    p.write_text("1 2 3\n1 2\n4 5 nan\n")
    with pytest.raises(InputError, match=r"r.txt:2: expected 3 or 4 fields"):
        _read_raw(SerialComm(), p, "auto")
    p.write_text("1 2 3\n1 2 nan\n")
    with pytest.raises(InputError, match=r"r.txt:2: rating is nan"):
        _read_raw(SerialComm(), p, "auto")
    q = tmp_path / "x.csv"
    q.write_text("1,2\n3,1e999\n")
    with pytest.raises(InputError, match=r"line 2, column 2 \(1-based\): non-finite value inf"):
        read_dense(SerialComm(), q)
    s = tmp_path / "d.svm"
    s.write_text("1 1:2\n-1 2:1e999\n")
    with pytest.raises(InputError, match=r"d.svm:2: non-finite value '1e999' at index 2"):
        read_libsvm(SerialComm(), s)


@pytest.mark.parametrize("fast", [True, False])
def test_big_integer_ids_stay_exact(tmp_path, monkeypatch, fast):
    """Ids from 2**53 on are not exact as doubles; ids beyond int64 become strings."""
    monkeypatch.setattr(L, "FAST_MIN_BYTES", 0 if fast else 1 << 62)
    p = tmp_path / "r.txt"
    p.write_text(f"{2 ** 60 + 1} 7 1.5\n{2 ** 53 + 1} -8 2\n")
    out = _read_raw(SerialComm(), p, "auto")
    assert out.kind == "int" and out.users.tolist() == [2 ** 60 + 1, 2 ** 53 + 1] and out.items.tolist() == [7, -8]
    p.write_text(f"{2 ** 64} 7 1.5\n3 8 2\n")
    out = _read_raw(SerialComm(), p, "auto")
    assert out.kind == "str" and out.users.tolist() == [str(2 ** 64), "3"]
