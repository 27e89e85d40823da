"""The vocabulary merge (arrays, numba) against sorted(set()) of bytes."""

import numpy as np
import pytest

from mpiml.io.tokens import WordTable
from mpiml.io.vocab import merge, pack, unpack

# bytes words that stress the 8-byte prefix keys: NUL bytes (zero padding
# must not make "a" equal "a\0"), prefixes of each other, long words sharing
# their first 8 bytes or more (runs sorted by comparing bytes, by insertion
# or by merge sort), multi-byte UTF-8
BASE = [b"a", b"a\x00", b"a\x00\x00", b"ab", b"b", b"\x00", b"\x00a", b"z" * 8,
        b"z" * 9, b"z" * 7, b"http://www.example.org/", "é".encode(), "éa".encode(),
        "日本".encode(), "😀".encode(), b"abcdefgh", b"abcdefghi", b"abcdefgh\x00"]


def _words(rng, n):
    out = set()
    while len(out) < n:
        kind = rng.integers(0, 4)
        if kind == 0:
            out.add(BASE[rng.integers(0, len(BASE))])
        elif kind == 1:      # many words behind one long shared prefix: long runs
            out.add(b"http://www.example.org/" + bytes(rng.integers(97, 100, rng.integers(0, 4))))
        elif kind == 2:
            out.add(bytes(rng.integers(0, 3, rng.integers(1, 11)).astype(np.uint8)) + b"q")
        else:
            out.add("".join(rng.choice(list("abé日"), rng.integers(1, 12))).encode())
    return list(out)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_merge_equals_sorted_set_on_both_paths(seed, size):
    rng = np.random.default_rng(seed)
    pool = _words(rng, int(rng.integers(1, 120)))
    lists = []
    for _ in range(size):          # each rank: a random subset, in random order
        pick = rng.random(len(pool)) < rng.random()
        lists.append([pool[i] for i in rng.permutation(np.flatnonzero(pick))])
    want = sorted(set(w for ws in lists for w in ws))
    tables = [unpack(pack(WordTable.from_list(ws))) for ws in lists]
    for mine in range(size):
        for compiled in (False, True):
            words, ids = merge(tables, mine, compiled)
            assert words == [w.decode("utf-8") for w in want]
            assert ids.dtype == np.int32
            assert [want[i] for i in ids.tolist()] == lists[mine]


def test_word_table_take_and_tolist():
    words = [b"x", b"yy", b"", b"zzz", b"\x00"]
    t = WordTable.from_list(words)
    assert t.tolist() == words and len(t) == 5
    assert t.take(np.array([3, 0, 4])).tolist() == [b"zzz", b"x", b"\x00"]
    assert WordTable.from_list([]).tolist() == [] and merge([WordTable.from_list([])], 0, True)[0] == []
