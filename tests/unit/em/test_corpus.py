"""Corpus readers: line-range planning, distributed reading, input errors."""

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.errors import CollectiveError, InputError
from mpiml.io.corpus import (byte_bounds, byte_chunks, encode_pairs, plan_lines, read_parallel,
                             resolve_boundaries, write_lines_ordered)
from mpiml.partition import block_range
from tests.fakecomm import run_ranks


def simulate_line_ranges(data: bytes, size: int):
    """Run the planning steps for every rank of ``size`` on in-memory bytes."""
    chunks = byte_chunks(len(data), size)
    arr = np.frombuffer(data, dtype=np.uint8)
    scans = [np.flatnonzero(arr[chunks[r]:chunks[r + 1]] == 10) + chunks[r] for r in range(size)]
    plan = plan_lines([s.size for s in scans], len(data), data.endswith(b"\n"), size)
    resolved = {}
    for r in range(size):
        resolved.update(resolve_boundaries(plan, r, scans[r]))
    return plan, byte_bounds(plan, resolved)


def reference_lines(data: bytes):
    lines = data.split(b"\n")
    return lines[:-1] if data.endswith(b"\n") or not data else lines


@pytest.mark.parametrize("seed", range(30))
def test_line_planning_many_ranks(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    # lines of random length (often empty), maybe without a final newline
    pieces = [b"x" * int(rng.integers(0, 4)) for _ in range(n)]
    data = b"\n".join(pieces) + (b"\n" if rng.random() < 0.5 else b"")
    expect = reference_lines(data)
    for size in [1, 2, 3, 4, 5, 7, 8, 13, 64]:
        plan, bb = simulate_line_ranges(data, size)
        assert plan.n_lines == len(expect)
        got = []
        for r in range(size):
            lo, hi = block_range(plan.n_lines, size, r)
            assert (plan.line_bounds[r], plan.line_bounds[r + 1]) == (lo, hi)
            part = data[bb[r]:bb[r + 1]]
            mine = part.split(b"\n")[:hi - lo]
            assert len(mine) == hi - lo
            got.extend(mine)
        assert got == expect


def test_line_planning_edge_cases():
    for data in [b"", b"\n", b"\n\n\n", b"a", b"a\nb", b"a\nb\n", b"\n\na\n\n"]:
        for size in range(1, 6):
            plan, bb = simulate_line_ranges(data, size)
            assert plan.n_lines == len(reference_lines(data))
            assert bb[0] == 0 and bb[-1] == len(data)
            assert np.all(np.diff(bb) >= 0)


@pytest.fixture()
def corpus_files(tmp_path):
    sp = synthetic_parallel(41, n_words=30, seed=3)
    e, f = tmp_path / "c.e", tmp_path / "c.f"
    sp.write_two_files(e, f)
    one = tmp_path / "c.ef"
    sp.write_one_file(one)
    return sp, (e, f), (one,)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("layout", ["two", "one"])
def test_read_parallel_matches_serial(corpus_files, size, layout):
    sp, two, one = corpus_files
    paths = two if layout == "two" else one
    parts = run_ranks(size, lambda comm: read_parallel(comm, *paths))
    whole = encode_pairs(sp.src_sents, sp.tgt_sents)
    for r, c in enumerate(parts):
        lo, hi = block_range(41, size, r)
        assert (c.line_lo, c.line_hi, c.n_lines) == (lo, hi, 41)
        # vocabulary ids identical on every rank and for every rank count
        assert c.src_vocab == whole.src_vocab and c.tgt_vocab == whole.tgt_vocab
        assert c.line_index.tolist() == list(range(lo, hi))
        assert np.array_equal(c.src, whole.src[whole.src_ptr[lo]:whole.src_ptr[hi]])
        assert np.array_equal(c.tgt, whole.tgt[whole.tgt_ptr[lo]:whole.tgt_ptr[hi]])
        assert np.array_equal(c.src_ptr, whole.src_ptr[lo:hi + 1] - whole.src_ptr[lo])
    assert whole.src_vocab[0] == "<NULL>"


def _write(path, text):
    with open(path, "wb") as fh:
        fh.write(text if isinstance(text, bytes) else text.encode())


def _expect_error(size, fn, path, line):
    """The origin rank raises InputError(path, line); the others CollectiveError."""
    with pytest.raises((InputError, CollectiveError)) as info:
        run_ranks(size, fn)
    msg = str(info.value)
    assert f"{path}:{line}:" in msg, msg


@pytest.mark.parametrize("size", [1, 3])
def test_mismatched_line_counts(tmp_path, size):
    e, f = tmp_path / "a.e", tmp_path / "a.f"
    _write(e, "a b\nc\nd\n")
    _write(f, "x\ny\n")
    _expect_error(size, lambda comm: read_parallel(comm, e, f), e, 3)


@pytest.mark.parametrize("size", [1, 2, 4])
def test_non_utf8(tmp_path, size):
    e, f = tmp_path / "a.e", tmp_path / "a.f"
    _write(e, "a\nb\nc\nd\n")
    _write(f, b"x\ny\nz \xff\xfe q\nw\n")
    _expect_error(size, lambda comm: read_parallel(comm, e, f), f, 3)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_empty_lines_skip_and_error(tmp_path, size):
    e, f = tmp_path / "a.e", tmp_path / "a.f"
    _write(e, "a b\n\nc\nd e\n   \n")
    _write(f, "x\ny\nz\n\nw\n")
    parts = run_ranks(size, lambda comm: read_parallel(comm, e, f))
    kept = [int(x) for c in parts for x in c.line_index]
    assert kept == [0, 2]
    assert all(c.n_empty == 3 and c.empty_lines == [2, 4, 5] for c in parts)
    assert sum(c.n_pairs for c in parts) == 2
    _expect_error(size, lambda comm: read_parallel(comm, e, f, empty="error"), e, 2)


def test_bad_separator(tmp_path):
    p = tmp_path / "a.ef"
    _write(p, "a ||| x\nb x y\n")
    _expect_error(2, lambda comm: read_parallel(comm, p), p, 2)


def test_missing_file(tmp_path):
    with pytest.raises((InputError, CollectiveError)) as info:
        run_ranks(2, lambda comm: read_parallel(comm, tmp_path / "nope.e", tmp_path / "nope.f"))
    assert "nope.e" in str(info.value)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_write_lines_ordered(tmp_path, size):
    out = tmp_path / "out.txt"
    lines = [f"line {i} é" if i % 4 else "" for i in range(11)]

    def body(comm):
        lo, hi = block_range(len(lines), comm.size, comm.rank)
        write_lines_ordered(comm, out, lines[lo:hi])

    run_ranks(size, body)
    assert out.read_text(encoding="utf-8") == "".join(x + "\n" for x in lines)


@pytest.mark.parametrize("block", [1, 7, 1 << 20])
def test_scan_chunk_finds_every_newline_whatever_the_read_block(tmp_path, block, monkeypatch):
    import mpiml.io.corpus as C
    monkeypatch.setattr(C, "_SCAN_BLOCK", block)
    data = b"ab\n\ncd e\nf" * 37 + b"\n"
    p = tmp_path / "x.txt"
    p.write_bytes(data)
    want = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    for size in (1, 2, 5):
        got = [C._scan_chunk(p, r, size) for r in range(size)]
        assert all(g[0] == len(data) and g[1] for g in got)
        assert np.array_equal(np.concatenate([g[2] for g in got]), want)
