"""The corpus tokeniser gives exactly str.split()'s tokens, on both of its paths."""

import numpy as np
import pytest

from mpiml.io.tokens import Tokenizer
from mpiml.io.vocab import merge


def reference(text: str, n_lines: int):
    lines = text.split("\n")[:n_lines]
    toks = [line.split() for line in lines]
    return [w for t in toks for w in t], [len(t) for t in toks]


@pytest.mark.parametrize("text", [
    "a b  c\n\n d\te\x0bf\x0cg\rh\n",               # ASCII whitespace only: the numba path
    "x y\nx\n\ny z x",                              # last line without newline
    "na\u00efve caf\u00e9\ncaf\u00e9 na\u00efve\n",  # UTF-8, no Unicode spaces: numba path
    "a\u00a0b c\u2003d\n e\u3000f\n",               # Unicode spaces: the str path
    "a\x1cb\x1dc d\n\x1fe\n",                       # separators str.split() knows: the str path
    "\n\n\n",
])
@pytest.mark.parametrize("small", [0, 1 << 20])
def test_tokens_equal_str_split(text, small, monkeypatch):
    monkeypatch.setattr("mpiml.io.tokens._SMALL", small)
    data = text.encode("utf-8")
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    tok = Tokenizer()
    ids, counts = tok.block(data, n_lines)
    words, want_counts = reference(text, n_lines)
    assert counts.tolist() == want_counts
    assert [tok.words[i].decode("utf-8") for i in ids.tolist()] == words


def test_ids_shared_across_blocks_and_remapped_in_sorted_order():
    tok = Tokenizer()
    a, _ = tok.block(b"b a\nc b\n", 2)
    b, _ = tok.block(b"a d\n", 1)
    assert [tok.words[i] for i in np.r_[a, b].tolist()] == [b"b", b"a", b"c", b"b", b"a", b"d"]
    table, which = tok.used(np.r_[a, b])
    assert table.tolist() == [b"b", b"a", b"c", b"d"] and which.tolist() == [0, 1, 2, 3]
    words, gid = merge([table], 0)
    assert words == ["a", "b", "c", "d"] and gid.tolist() == [1, 0, 2, 3]
    assert tok.remap(b, gid, 1).tolist() == [1, 4]
    table, which = tok.used(a[:2])                  # "b a": c and d unused
    assert table.tolist() == [b"b", b"a"] and which.tolist() == [0, 1]


def test_many_and_long_words_grow_every_table(monkeypatch):
    # 6000 distinct words (the hash table, the word arrays and the word store
    # all grow several times), words longer than the initial 4 KB store, and
    # words whose FNV-1a hashes share their low bits with others'
    monkeypatch.setattr("mpiml.io.tokens._SMALL", 0)
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(6000)] + ["L" * 5000, "M" * 9000, "é" * 3000]
    # index the list (rng.choice on it would build a 9000-character numpy
    # string array per line: minutes of allocation)
    lines = [" ".join(words[i] for i in rng.integers(0, len(words), size=int(rng.integers(0, 30))))
             for _ in range(2000)]
    text = "\n".join(lines) + "\n"
    data = text.encode("utf-8")
    tok = Tokenizer()
    ids, counts = tok.block(data, len(lines))
    want_words, want_counts = reference(text, len(lines))
    assert counts.tolist() == want_counts
    assert [tok.words[i].decode("utf-8") for i in ids.tolist()] == want_words
    assert len(set(tok.words)) == len(tok.words)    # one id per distinct word
    assert len(tok.words) > 5000 and {w.encode("utf-8") for w in words[-3:]} <= set(tok.words)


@pytest.mark.parametrize("n_guess", [0, 1, 7, 10_000])
def test_token_array_grows_from_any_guess(n_guess):
    # one-letter words: 2 bytes a token, below the reader's guess of 5; the
    # kernel must grow its id array (any number of times) and trim it
    from mpiml.io import kernels
    rng = np.random.default_rng(5)
    lines = [" ".join("abcdefghij"[i] for i in rng.integers(0, 10, int(rng.integers(0, 50))))
             for _ in range(300)]
    text = "\n".join(lines)                      # the last line has no newline
    ids, counts, start, length = kernels.tokenize_ids(np.frombuffer(text.encode(), np.uint8),
                                                      len(lines), n_guess)
    words, want_counts = reference(text, len(lines))
    assert counts.tolist() == want_counts and ids.size == len(words)
    data = text.encode()
    assert [data[start[i]:start[i] + length[i]].decode() for i in ids.tolist()] == words
    # lines past n_lines are ignored
    ids2, counts2, _, _ = kernels.tokenize_ids(np.frombuffer(data, np.uint8), 100, n_guess)
    assert counts2.tolist() == want_counts[:100] and ids2.size == sum(want_counts[:100])
