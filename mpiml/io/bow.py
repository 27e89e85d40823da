"""Bag-of-words corpora for topic models: each rank reads only its byte range.

Formats
-------
``ldac``
    LDA-C (Blei's ``lda-c``): one document per line, ``N id:count id:count ...``
    with ``N`` the number of pairs, 0-based word ids and counts >= 1.  The
    vocabulary size is the largest id + 1, or the length of ``--vocab FILE``
    (one word per line) when given (ids beyond it are an error).
``uci``
    UCI bag-of-words (``docword.*.txt``): three header lines ``D``, ``W``,
    ``NNZ``, then ``docID wordID count`` lines (1-based ids), sorted by
    docID.  The words are ``vocab.*.txt`` (``W`` lines), found next to the
    docword file or given by ``--vocab``.  A document's lines may straddle
    two ranks' byte ranges: they are moved to the rank holding the
    document's first line (one ``alltoallv``).
``text``
    one document per line, tokens separated by whitespace; the vocabulary is
    the sorted union of every rank's words (as the parallel-corpus reader
    builds it), so word ids do not depend on the rank count.

Every reader returns a :class:`BowCorpus`: this rank's documents as token
word ids (a count ``c`` becomes ``c`` consecutive tokens) in CSR form.  Bad
input is an :class:`~mpiml.errors.InputError` naming file and line, raised on
every rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .lines import read_line_block, require_file

FORMATS = ("auto", "ldac", "uci", "text")


@dataclass
class BowCorpus:
    """One rank's documents.

    ``words[doc_ptr[d]:doc_ptr[d+1]]`` are the tokens of local document
    ``d``; ``doc_ids[d]`` is its global id (its line for LDA-C and text, its
    docID - 1 for UCI).  ``doc_offset`` is the number of documents on lower
    ranks; ``n_docs``/``n_tokens`` are global totals.
    """

    words: np.ndarray
    doc_ptr: np.ndarray
    doc_ids: np.ndarray
    doc_offset: int
    n_docs: int
    n_tokens: int
    n_words: int
    vocab: list | None
    path: str

    @property
    def n_local_docs(self) -> int:
        return int(self.doc_ptr.size - 1)

    @property
    def n_local_tokens(self) -> int:
        return int(self.words.size)


def detect_format(path) -> str:
    """``uci`` for ``docword*`` files, ``ldac`` for ``.ldac``/``.dat``, else ``text``."""
    name = Path(path).name.lower()
    if name.startswith("docword"):
        return "uci"
    if name.endswith((".ldac", ".lda-c", ".dat")):
        return "ldac"
    return "text"


def read_bow(comm, path, fmt: str = "auto", vocab=None, n_words: int | None = None) -> BowCorpus:
    """Collective.  Read this rank's documents of ``path``.

    Parameters
    ----------
    fmt : one of :data:`FORMATS` (``auto``: :func:`detect_format`)
    vocab : optional vocabulary: a file (one word per line) for ``ldac``/``uci``,
        or a list of words (a trained model's; text tokens outside it are dropped)
    n_words : vocabulary size to use (e.g. the training corpus's, when reading
        validation documents); ids at or beyond it are errors
    """
    p = require_file(path)
    fmt = detect_format(p) if fmt == "auto" else fmt
    if fmt not in FORMATS[1:]:
        raise InputError(f"unknown corpus format {fmt!r} (choose from {', '.join(FORMATS)})", p)
    words = list(vocab) if isinstance(vocab, (list, tuple)) else None
    if fmt == "text":
        return read_text(comm, p, vocab_words=words)
    if vocab is None and fmt == "uci":
        guess = p.with_name(p.name.replace("docword", "vocab", 1))
        vocab = guess if guess != p and guess.is_file() else None
    if vocab is not None and words is None:
        with comm.agree(f"reading vocabulary {vocab}"):
            words = read_vocab(vocab)
    if fmt == "ldac":
        return read_ldac(comm, p, words, n_words)
    return read_uci(comm, p, words, n_words)


def read_vocab(path) -> list[str]:
    """One word per line (UTF-8); blank lines are errors."""
    p = require_file(path)
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(f"invalid UTF-8 byte 0x{raw[exc.start]:02x}", p, line) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for i, w in enumerate(lines):
        w = w.strip()
        if not w:
            raise InputError("empty line in vocabulary (expected one word per line)", p, i + 1)
        out.append(w)
    return out


def _decode(raw: bytes, path, first_line: int) -> list[str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + raw.count(b"\n", 0, exc.start)
        raise InputError(f"invalid UTF-8 byte 0x{raw[exc.start]:02x}", path, line) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _int(tok: str, what: str, path, line: int, low: int) -> int:
    try:
        v = int(tok)
    except ValueError:
        raise InputError(f"{what}: expected an integer, found {tok!r}", path, line) from None
    if v < low:
        raise InputError(f"{what} must be >= {low}, found {v}", path, line)
    return v


def _finish(comm, path, lens, ids, counts, doc_ids, n_words, vocab, check_vocab: bool) -> BowCorpus:
    """Collective.  Expand (id, count) pairs into tokens; agree on the
    vocabulary size and the document offsets."""
    ids = np.asarray(ids, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    local_max = int(ids.max()) + 1 if ids.size else 0
    V = comm.allreduce_scalar(local_max, "max", kind="read")
    if n_words is not None and check_vocab:
        V = int(n_words)
    elif vocab is not None:
        V = len(vocab)
    words = np.repeat(ids, counts).astype(np.int32)
    # tokens per document: the counts of its pairs
    pair_doc = np.repeat(np.arange(len(lens)), lens)
    tok_lens = np.bincount(pair_doc, weights=counts, minlength=len(lens)).astype(np.int64)
    ptr = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(tok_lens, out=ptr[1:])
    n_docs_local = len(lens)
    offset = comm.exscan_sum(n_docs_local, "read")
    totals = comm.allreduce(np.array([n_docs_local, words.size], dtype=np.int64), kind="read")
    return BowCorpus(words, ptr, np.asarray(doc_ids, dtype=np.int64), int(offset), int(totals[0]),
                     int(totals[1]), int(V), vocab, str(path))


def read_ldac(comm, path, vocab: list | None = None, n_words: int | None = None) -> BowCorpus:
    """Collective.  LDA-C lines ``N id:count ...`` (see the module docstring)."""
    raw, first = read_line_block(comm, path)
    limit = len(vocab) if vocab is not None else n_words
    with comm.agree(f"parsing {path}"):
        lines = _decode(raw, path, first)
        lens, ids, counts = [], [], []
        for i, text in enumerate(lines):
            line = first + i
            parts = text.split()
            if not parts:
                raise InputError("empty line (expected 'N id:count ...'; a document without "
                                 "words is '0')", path, line)
            n = _int(parts[0], "number of pairs N", path, line, 0)
            if len(parts) - 1 != n:
                raise InputError(f"line says N = {n} pairs but has {len(parts) - 1}", path, line)
            for tok in parts[1:]:
                a, sep, b = tok.partition(":")
                if not sep:
                    raise InputError(f"expected id:count, found {tok!r}", path, line)
                w = _int(a, "word id", path, line, 0)
                if limit is not None and w >= limit:
                    raise InputError(f"word id {w} is outside the vocabulary of {limit} words",
                                     path, line)
                ids.append(w)
                counts.append(_int(b, f"count of word {w}", path, line, 1))
            lens.append(n)
        doc_ids = np.arange(first - 1, first - 1 + len(lines), dtype=np.int64)
    return _finish(comm, path, lens, ids, counts, doc_ids, n_words, vocab, check_vocab=limit is not None)


def spill_owners(firsts, lasts, counts) -> list:
    """For every rank, the rank that owns the document of its first line (the
    rank holding that document's first line), or ``None`` when this rank
    holds the first line itself or has no lines (pure)."""
    out = []
    for r in range(len(counts)):
        owner = None
        if counts[r]:
            doc = firsts[r]
            q = r - 1
            while q >= 0:
                if counts[q] == 0:
                    q -= 1
                    continue
                if lasts[q] != doc:
                    break
                owner = q
                if firsts[q] != doc:
                    break
                q -= 1
        out.append(owner)
    return out


def read_uci(comm, path, vocab: list | None = None, n_words: int | None = None) -> BowCorpus:
    """Collective.  UCI ``docword`` triplets (see the module docstring)."""
    raw, first = read_line_block(comm, path)
    with comm.agree(f"parsing {path}"):
        lines = _decode(raw, path, first)
        header = []
        triplets = []
        for i, text in enumerate(lines):
            line = first + i
            parts = text.split()
            if line <= 3:
                if len(parts) != 1:
                    raise InputError("header: expected one integer per line (D, W, NNZ)", path, line)
                header.append((line, _int(parts[0], ("D", "W", "NNZ")[line - 1], path, line, 0)))
                continue
            if len(parts) != 3:
                raise InputError(f"expected 'docID wordID count', found {len(parts)} fields", path, line)
            triplets.append((_int(parts[0], "docID", path, line, 1), _int(parts[1], "wordID", path, line, 1),
                             _int(parts[2], "count", path, line, 1), line))
    # the header lines may lie in several ranks' byte ranges of a tiny file
    head = sorted(h for part in comm.allgather_obj(header, kind="read") for h in part)
    with comm.agree(f"checking {path}"):
        if len(head) < 3:
            raise InputError("truncated header (expected the lines D, W, NNZ)", path, len(head) + 1)
        D, W = head[0][1], head[1][1]
        if vocab is not None and len(vocab) != W:
            raise InputError(f"header says W = {W} words but the vocabulary has {len(vocab)}", path, 2)
        if n_words is not None and W > n_words:
            raise InputError(f"header says W = {W} words, the model has {n_words}", path, 2)
        prev = 0
        for d, w, c, line in triplets:
            if d > D:
                raise InputError(f"docID {d} > D = {D}", path, line)
            if w > W:
                raise InputError(f"wordID {w} > W = {W}", path, line)
            if d < prev:
                raise InputError(f"docIDs must be non-decreasing ({d} after {prev})", path, line)
            prev = d
    ends = comm.allgather_obj((triplets[0][0] if triplets else 0, triplets[-1][0] if triplets else 0,
                               len(triplets), triplets[0][3] if triplets else 0), kind="read")
    with comm.agree(f"checking {path}"):
        for q in range(comm.rank):
            if ends[q][2] and triplets and ends[q][1] > triplets[0][0]:
                raise InputError(f"docIDs must be non-decreasing ({triplets[0][0]} after {ends[q][1]})",
                                 path, triplets[0][3])
    owners = spill_owners([e[0] for e in ends], [e[1] for e in ends], [e[2] for e in ends])
    mine = owners[comm.rank]
    n_spill = 0
    if mine is not None:
        while n_spill < len(triplets) and triplets[n_spill][0] == ends[comm.rank][0]:
            n_spill += 1
    sends = [np.zeros(0, dtype=np.int64) for _ in range(comm.size)]
    if n_spill:
        sends[mine] = np.array([t[:3] for t in triplets[:n_spill]], dtype=np.int64).reshape(-1)
    got = comm.alltoallv(sends, kind="read:uci")
    keep = np.array([t[:3] for t in triplets[n_spill:]], dtype=np.int64).reshape(-1, 3)
    extra = [g.reshape(-1, 3) for g in got if g.size]
    allt = np.concatenate([keep] + extra) if extra else keep
    docs, inv = np.unique(allt[:, 0], return_inverse=True) if allt.size else (np.zeros(0, np.int64), None)
    lens = np.bincount(inv, minlength=docs.size) if allt.size else np.zeros(0, np.int64)
    return _finish(comm, path, lens.tolist(), allt[:, 1] - 1, allt[:, 2], docs - 1,
                   W if n_words is None else n_words, vocab, check_vocab=True)


def read_text(comm, path, vocab_words: list | None = None) -> BowCorpus:
    """Collective.  One document per line, whitespace tokens.

    ``vocab_words``: a fixed vocabulary (validation documents of a trained
    model); tokens outside it are dropped and counted in ``n_unknown_``.
    """
    raw, first = read_line_block(comm, path)
    with comm.agree(f"parsing {path}"):
        docs = [s.split() for s in _decode(raw, path, first)]
        local = sorted({w for d in docs for w in d})
    if vocab_words is None:
        gathered = comm.allgather_obj(local, kind="read:vocab")
        vocab = sorted(set().union(*gathered))
    else:
        vocab = list(vocab_words)
    index = {w: i for i, w in enumerate(vocab)}
    kept = [[index[w] for w in d if w in index] for d in docs]
    lens = [len(d) for d in kept]
    ids = [w for d in kept for w in d]
    corpus = _finish(comm, path, lens, ids, np.ones(len(ids), dtype=np.int64),
                     np.arange(first - 1, first - 1 + len(docs)), len(vocab), vocab, check_vocab=True)
    return corpus
