"""Bag-of-words readers on one rank: the three formats agree, and bad input
names file and line."""

import numpy as np
import pytest

from mpiml.comm.serial import SerialComm
from mpiml.datasets.topics import synthetic_topics, write_ldac, write_text, write_uci
from mpiml.errors import InputError
from mpiml.io.bow import read_bow, spill_owners

S = synthetic_topics(n_docs=12, n_words=20, n_topics=2, doc_len=10, seed=3)


def bag(corpus):
    """Per document, the sorted word ids (formats differ in token order)."""
    p = corpus.doc_ptr
    return [sorted(corpus.words[p[d]:p[d + 1]].tolist()) for d in range(corpus.n_local_docs)]


def test_three_formats_same_documents(tmp_path):
    write_ldac(tmp_path / "c.ldac", S.docs)
    write_uci(tmp_path / "docword.c.txt", tmp_path / "vocab.c.txt", S.docs, S.vocab)
    write_text(tmp_path / "c.txt", S.docs, S.vocab)
    want = [sorted(d.tolist()) for d in S.docs]
    comm = SerialComm()
    a = read_bow(comm, tmp_path / "c.ldac")
    b = read_bow(comm, tmp_path / "docword.c.txt")
    c = read_bow(comm, tmp_path / "c.txt")
    used = sorted({w for d in S.docs for w in d.tolist()})
    # text ids are positions in the sorted set of words that occur
    remap = {w: i for i, w in enumerate(used)}
    assert bag(a) == want and bag(b) == want
    assert bag(c) == [sorted(remap[w] for w in d) for d in want]
    assert b.vocab == S.vocab and b.n_words == 20 and c.vocab == [S.vocab[w] for w in used]
    assert a.n_tokens == b.n_tokens == c.n_tokens == sum(len(d) for d in S.docs)
    assert a.doc_ids.tolist() == list(range(12)) == b.doc_ids.tolist()
    # text keeps the token order of the line
    assert c.words[:len(S.docs[0])].tolist() == [remap[w] for w in S.docs[0]]


@pytest.mark.parametrize("name,text,line,what", [
    ("a.ldac", "2 0:1 3:2\n2 1:1\n", 2, "N = 2 pairs but has 1"),
    ("a.ldac", "1 0:1\n1 4\n", 2, "expected id:count"),
    ("a.ldac", "1 0:1\n\n", 2, "empty line"),
    ("a.ldac", "1 0:0\n", 1, "count of word 0 must be >= 1"),
    ("a.ldac", "1 x:2\n", 1, "word id: expected an integer"),
    ("docword.a.txt", "2\n3\n2\n1 1 1\n1 9 1\n", 5, "wordID 9 > W = 3"),
    ("docword.a.txt", "2\n3\n2\n2 1 1\n1 2 1\n", 5, "non-decreasing"),
    ("docword.a.txt", "2\n3\n2\n1 1\n", 4, "expected 'docID wordID count'"),
    ("docword.a.txt", "2\n", 2, "truncated header"),
])
def test_errors_name_file_and_line(tmp_path, name, text, line, what):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(InputError) as e:
        read_bow(SerialComm(), p)
    assert f"{p}:{line}:" in str(e.value) and what in str(e.value)


def test_vocab_bounds_and_bad_utf8(tmp_path):
    (tmp_path / "v.txt").write_text("a\nb\n")
    (tmp_path / "a.ldac").write_text("1 0:1\n1 2:1\n")
    with pytest.raises(InputError, match=r"a.ldac:2: word id 2 is outside the vocabulary of 2"):
        read_bow(SerialComm(), tmp_path / "a.ldac", vocab=tmp_path / "v.txt")
    (tmp_path / "t.txt").write_bytes(b"ok fine\nbad \xff here\n")
    with pytest.raises(InputError, match=r"t.txt:2: invalid UTF-8 byte 0xff"):
        read_bow(SerialComm(), tmp_path / "t.txt")


def test_uci_vocab_size_mismatch(tmp_path):
    write_uci(tmp_path / "docword.x.txt", tmp_path / "vocab.x.txt", S.docs, S.vocab)
    (tmp_path / "vocab.x.txt").write_text("a\nb\n")
    with pytest.raises(InputError, match=r"docword.x.txt:2: header says W = 20 words but the vocabulary has 2"):
        read_bow(SerialComm(), tmp_path / "docword.x.txt")


def test_spill_owners():
    # rank 1 starts inside rank 0's last document, rank 2 too; rank 3 inside rank 2's doc 4
    assert spill_owners([1, 3, 3, 4], [3, 3, 4, 6], [5, 2, 3, 1]) == [None, 0, 0, 2]
    assert spill_owners([1, 0, 2], [2, 0, 5], [3, 0, 4]) == [None, None, 0]
    assert spill_owners([1, 4], [3, 5], [2, 2]) == [None, None]
