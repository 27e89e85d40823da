"""The compiled corpus path against str.split() on fuzzed text: the UTF-8
check against Python's decoder, the tokeniser's blocks, and whole reads at
several simulated rank counts against the serial reference."""

import numpy as np
import pytest

from mpiml.io import kernels
from mpiml.io.corpus import read_parallel
from mpiml.io.tokens import _SPACE_CP, Tokenizer
from tests.fakecomm import run_ranks
from tests.naive.corpus import lines_of, read_pairs, split_csr

# pieces of text: words short and long (the tokeniser keys words of up to
# 7 bytes by their bytes, longer ones by a hash), multi-byte characters,
# every ASCII space, the ASCII and Unicode separators only str.split() knows,
# NUL, CR (CRLF line ends), empty and blank lines
PIECES = ["a", "b", "ab", "abc", "abcdefg", "abcdefgh", "abcdefghijklmnop", "x" * 40, "é", "ß",
          "日本", "😀", "a\x00", "\x00", "|", " ", "  ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1f",
          "\u00a0", "\u0085", "\u2028", "\u3000", "\u2003", "\r\n", "\n", "\n\n"]


def fuzz_text(rng, n_pieces: int, weights=None) -> str:
    return "".join(PIECES[i] for i in rng.choice(len(PIECES), n_pieces, p=weights))


def test_utf8_check_matches_python_decoder():
    rng = np.random.default_rng(0)
    seqs = [b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xee\x80\x80",
            b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf",                      # valid edges
            b"\xc0\x80", b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xf0\x8f\xbf\xbf",
            b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"\xe2\x82",  # invalid
            b"a", b" ", b"\x1c", b"\x1d", b"\x1e", b"\x1f", b"\x1b", b"\x20", "\u00a0".encode(), "\u3000".encode(), "😀".encode()]
    for _ in range(3000):
        data = b"".join(seqs[i] for i in rng.integers(0, len(seqs), int(rng.integers(0, 6))))
        if rng.random() < 0.3:
            data += bytes(rng.integers(0, 256, int(rng.integers(1, 4))).astype(np.uint8))
        bad, n_space = kernels.utf8_spaces(np.frombuffer(data, np.uint8), _SPACE_CP)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            assert bad == exc.start, data
            continue
        assert bad == -1, data
        assert n_space == sum(c.isspace() and not c.encode().isspace() for c in text), data


@pytest.mark.parametrize("seed", range(12))
def test_compiled_block_equals_str_split(seed, monkeypatch):
    monkeypatch.setattr("mpiml.io.tokens._SMALL", 0)          # every block to the kernels
    rng = np.random.default_rng(seed)
    w = np.ones(len(PIECES))
    w[:8] = 6.0                                                # mostly words
    text = fuzz_text(rng, int(rng.integers(0, 400)), w / w.sum())
    data = text.encode("utf-8")
    lines = lines_of(text)
    n_lines = len(lines) - int(rng.integers(0, 2)) if lines else 0   # sometimes fewer lines
    tok = Tokenizer()
    ids, counts = tok.block(data, n_lines)
    want = [line.split() for line in lines[:n_lines]]
    assert counts.tolist() == [len(t) for t in want]
    assert [tok.words[i].decode("utf-8") for i in ids.tolist()] == [x for t in want for x in t]
    assert len(set(tok.words)) == len(tok.words)
    # the small (per-line) path gives the same ids
    monkeypatch.setattr("mpiml.io.tokens._SMALL", 1 << 30)
    small = Tokenizer()
    ids2, counts2 = small.block(data, n_lines)
    assert small.words == tok.words and np.array_equal(ids2, ids) and np.array_equal(counts2, counts)


def _fuzz_side(rng, n_lines: int) -> str:
    w = np.ones(len(PIECES))
    w[:8] = 8.0
    w[PIECES.index("\n")] = w[PIECES.index("\n\n")] = w[PIECES.index("\r\n")] = 0.0
    p = w / w.sum()
    lines = [fuzz_text(rng, int(rng.integers(0, 12)), p) for _ in range(n_lines)]
    return "\n".join(lines) + ("\n" if rng.random() < 0.7 else "")


def _assert_parts_equal(parts, want):
    """The ranks' corpora together equal the naive reader's ``want``."""
    assert all(c.src_vocab == want["src_vocab"] and c.tgt_vocab == want["tgt_vocab"]
               for c in parts)
    assert [int(x) for c in parts for x in c.line_index] == want["line_index"]
    assert [s for c in parts for s in split_csr(c.src, c.src_ptr)] == want["src"]
    assert [s for c in parts for s in split_csr(c.tgt, c.tgt_ptr)] == want["tgt"]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("small", [0, 1 << 30])
def test_read_parallel_fuzz_matches_naive(tmp_path, seed, small, monkeypatch):
    monkeypatch.setattr("mpiml.io.tokens._SMALL", small)
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 60))
    src, tgt = _fuzz_side(rng, n), _fuzz_side(rng, n)
    if src.endswith("\n") != tgt.endswith("\n"):
        tgt = tgt + "\n" if src.endswith("\n") else tgt[:-1]
    e, f = tmp_path / "c.e", tmp_path / "c.f"
    e.write_bytes(src.encode("utf-8"))
    f.write_bytes(tgt.encode("utf-8"))
    want = read_pairs(src, tgt)
    if not want["line_index"]:
        pytest.skip("every pair empty")
    for size in (1, 2, 3):
        parts = run_ranks(size, lambda comm: read_parallel(comm, e, f))
        _assert_parts_equal(parts, want)
        assert all(c.empty_lines == want["empty_lines"][:10] for c in parts)
        assert all(c.src.dtype == np.int32 and c.tgt.dtype == np.int32 for c in parts)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("small", [0, 1 << 30])
def test_one_file_layout_fuzz_matches_naive(tmp_path, seed, small, monkeypatch):
    monkeypatch.setattr("mpiml.io.tokens._SMALL", small)
    rng = np.random.default_rng(200 + seed)
    n = int(rng.integers(1, 50))
    src = _fuzz_side(rng, n).replace("|", "").split("\n")[:n]
    tgt = _fuzz_side(rng, n).replace("|", "").split("\n")[:n]
    # separators glued to words or spaced, and '||||' (one '|||' then '|')
    seps = [" ||| ", "|||", " |||", "||| "]
    lines = [s + seps[int(rng.integers(0, 4))] + t for s, t in zip(src, tgt)]
    p = tmp_path / "c.ef"
    p.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    want = read_pairs("\n".join(src) + "\n", "\n".join(tgt) + "\n")
    if not want["line_index"]:
        pytest.skip("every pair empty")
    for size in (1, 2, 3):
        parts = run_ranks(size, lambda comm: read_parallel(comm, p))
        _assert_parts_equal(parts, want)


@pytest.mark.parametrize("line", ["a b c", "a ||| b ||| c", "a |||||| b", "||||||", "a || b"])
def test_bad_separator_same_line_and_count_on_both_paths(line):
    from mpiml.io.corpus import _split_separator
    data = ("x ||| y\nu|||v\n" + line + "\nz ||| w\n").encode()
    src, tgt, bad = _split_separator(data, 4)           # the small blocks' path
    assert bad == (2, line.encode().split(b"|||").__len__() - 1)
    buf = bytearray(data)                                # the kernel marks in place
    assert kernels.mark_separator(np.frombuffer(buf, np.uint8), 4) == bad
    marked = bytes(buf).split(b"\n")
    assert [x.split() for x in marked[0:4:2]] == [x.split() for x in src.split(b"\n")]
    assert [x.split() for x in marked[1:4:2]] == [x.split() for x in tgt.split(b"\n")]
    assert marked[4:] == data.split(b"\n")[2:]           # the bad line on: as it was


def test_separator_marks_keep_every_split_of_good_lines():
    lines = [b"a ||| b", b"|||", b"a||||b", b"||| b c", b"a b |||", b"x|||y\r", b"\xc3\xa9 ||| |"]
    data = b"\n".join(lines)                             # no newline after the last
    buf = bytearray(data)
    assert kernels.mark_separator(np.frombuffer(buf, np.uint8), len(lines)) == (-1, 0)
    marked = bytes(buf).split(b"\n")
    for k, line in enumerate(lines):
        s, t = line.split(b"|||")
        assert marked[2 * k].split() == s.split() and marked[2 * k + 1].split() == t.split()
