"""The parallel-corpus reader on real MPI ranks (run on 1-4): the ranks'
shares together equal the str.split() reference on fuzzed text (both
layouts, the compiled path and the small-block path, so the vocabulary merge
runs on the kernels and on ``sorted``), and a bad line in any rank's share
is the same ``file:line`` error on every rank, with no hang.

    mpiexec -n 3 python -m mpi4py -m pytest --with-mpi -p no:cacheprovider tests/mpi/test_corpus_mpi.py
"""

import numpy as np
import pytest

from mpiml.errors import CollectiveError, InputError
from mpiml.io.corpus import read_parallel
from tests.mpi.conftest import assert_all
from tests.naive.corpus import read_pairs, split_csr
from tests.unit.io.test_tokens_fuzz import PIECES, fuzz_text

pytestmark = pytest.mark.timeout(180, method="thread")


def _side(rng, n_lines: int) -> list:
    w = np.ones(len(PIECES))
    w[:8] = 8.0
    w[PIECES.index("\n")] = w[PIECES.index("\n\n")] = w[PIECES.index("\r\n")] = 0.0
    return [fuzz_text(rng, int(rng.integers(0, 14)), w / w.sum()).replace("|", "")
            for _ in range(n_lines)]


@pytest.fixture
def texts(comm, shared_tmp):
    """A fuzzed corpus of 400 pairs in both layouts, written by rank 0."""
    rng = np.random.default_rng(11)
    src, tgt = _side(rng, 400), _side(rng, 400)
    seps = [" ||| ", "|||", " |||", "||| "]
    paths = {"e": shared_tmp / "c.e", "f": shared_tmp / "c.f", "ef": shared_tmp / "c.ef"}
    if comm.rank == 0:
        paths["e"].write_bytes(("\n".join(src) + "\n").encode())
        paths["f"].write_bytes(("\n".join(tgt) + "\n").encode())
        paths["ef"].write_bytes("".join(s + seps[k % 4] + t + "\n"
                                        for k, (s, t) in enumerate(zip(src, tgt))).encode())
    comm.barrier()
    return paths, read_pairs("\n".join(src) + "\n", "\n".join(tgt) + "\n")


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("layout", ["two", "one"])
@pytest.mark.parametrize("small", [0, 1 << 30])
def test_shares_equal_str_split_reference(comm, texts, layout, small, monkeypatch):
    monkeypatch.setattr("mpiml.io.tokens._SMALL", small)
    paths, want = texts
    c = read_parallel(comm, paths["e"], paths["f"]) if layout == "two" else read_parallel(comm, paths["ef"])
    parts = comm.allgather_obj((c.line_index.tolist(), split_csr(c.src, c.src_ptr),
                                split_csr(c.tgt, c.tgt_ptr)))
    same_vocab = c.src_vocab == want["src_vocab"] and c.tgt_vocab == want["tgt_vocab"]
    assert_all(comm, same_vocab, "vocabularies differ from the reference")
    assert_all(comm, [x for p in parts for x in p[0]] == want["line_index"], "line indices differ")
    assert_all(comm, [s for p in parts for s in p[1]] == want["src"], "source ids differ")
    assert_all(comm, [s for p in parts for s in p[2]] == want["tgt"], "target ids differ")
    assert_all(comm, c.empty_lines == want["empty_lines"][:10] and c.src.dtype == np.int32,
               "empty lines or dtype differ")


def _raises_everywhere(comm, fn, message: str):
    try:
        fn()
    except (InputError, CollectiveError) as exc:
        got = str(exc)
    else:
        got = "no error"
    assert_all(comm, message in got, f"wanted {message!r}, got {got!r}")


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("small", [0, 1 << 30])
def test_bad_lines_in_the_last_share_fail_every_rank_alike(comm, shared_tmp, small, monkeypatch):
    monkeypatch.setattr("mpiml.io.tokens._SMALL", small)
    n = 40
    good = [f"w{k} x{k % 7} y" for k in range(n)]
    e, f, ef = shared_tmp / "b.e", shared_tmp / "b.f", shared_tmp / "b.ef"
    bad_ef = shared_tmp / "b2.ef"
    if comm.rank == 0:
        e.write_bytes(("\n".join(good) + "\n").encode())
        f.write_bytes(("\n".join(good[:-2]) + "\n").encode() + b"z \xe9\ny\n")
        ef.write_bytes("".join(f"{s} ||| {s}\n" for s in good[:-1]).encode() + b"a ||| b ||| c\n")
        bad_ef.write_bytes("".join(f"{s} ||| {s}\n" for s in good[:-1]).encode() + b"a ||| \n")
    comm.barrier()
    # line n-1 of b.f is "z \xe9" in Latin-1: byte 0xe9 then a newline
    _raises_everywhere(comm, lambda: read_parallel(comm, e, f),
                       f"{f}:{n - 1}: invalid UTF-8 byte 0xe9 at byte 3 of the line")
    _raises_everywhere(comm, lambda: read_parallel(comm, ef),
                       f"{ef}:{n}: expected 'source ||| target', found 2 '|||' separators")
    _raises_everywhere(comm, lambda: read_parallel(comm, bad_ef, empty="error"),
                       f"{bad_ef}:{n}: empty sentence")
    c = read_parallel(comm, bad_ef)
    assert_all(comm, c.empty_lines == [n] and c.n_empty == 1, "the empty pair is not reported")
