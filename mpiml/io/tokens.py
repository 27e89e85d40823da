"""Vectorised tokenisation of a text block into word ids (corpus reader).

Tokens are what ``str.split()`` gives (runs of whitespace separate them).
The fast path works on the UTF-8 bytes, with numba kernels
(:mod:`mpiml.io.kernels`): one pass maps each token to an id through a hash
table and counts the tokens per line on the way (measured here on 20 MB of
short generated words: 0.16 s with a separate counting pass, against 0.26 s
for the previous single-table kernel, ~19 s for ``str.split`` per line and a
dict lookup per token, ~13 s for ``bytes.split`` plus dict lookups; folding
the counting pass in saved a further 0.013 s per 8.7 MB).  ASCII whitespace
is what ``bytes.split()`` knows, while
``str.split()`` also splits on ``\\x1c``-``\\x1f`` and on Unicode spaces
(U+0085, U+00A0, U+2000 ...); a block containing any of those gets them
overwritten by ASCII spaces (in a copy) before the token pass, which gives
exactly ``str.split()``'s tokens: those characters never belong to a token
and none of them is ``\\n``.

Distinct words are kept as a :class:`WordTable` (one byte array), which the
vocabulary merge (:mod:`mpiml.io.vocab`) sorts and exchanges as arrays.
"""

from __future__ import annotations

import re

import numpy as np

# whitespace that str.split() separates on but bytes.split() does not
_OTHER_SPACE = re.compile(r"[^\S \t\n\r\x0b\x0c]")
# ASCII bytes that str.split() separates on and bytes.split() does not
_SEPARATORS = (b"\x1c", b"\x1d", b"\x1e", b"\x1f")
# code point -> str.split() separates on it and bytes.split() does not (this
# Python's own str.isspace(); the highest such code point is U+3000)
_SPACE_CP = np.array([chr(c).isspace() and not (c < 128 and bytes([c]).isspace())
                      for c in range(0x3001)], dtype=np.bool_)
# the kernel's ASCII loop knows these as 28-31 (checked here, once)
assert np.flatnonzero(_SPACE_CP[:128]).tolist() == [28, 29, 30, 31]
# below this many bytes, bytes.split per line beats loading the compiled kernel
# (~1-2 s on a loaded machine for the first call in a process)
_SMALL = 1 << 20


def _kernels():
    from . import kernels     # numba: loaded on the first large block only
    return kernels


def utf8_check(data: bytes):
    """``(bad, spaces)``: the offset of the first byte of ``data`` that is not
    valid UTF-8 (-1 if none), and whether ``data`` may hold whitespace that
    only ``str.split()`` splits on (False only when it surely does not).

    ASCII blocks need no decoding; large non-ASCII blocks are checked by a
    kernel (Python's strict rules) instead of decoding them into a string
    up to four times their size.  Callers decode an invalid block once more
    to word the error as Python does.
    """
    if data.isascii():            # then only the ASCII separators 28-31 can be such spaces
        return -1, any(c in data for c in _SEPARATORS)
    if len(data) >= _SMALL:
        bad, n_space = _kernels().utf8_spaces(np.frombuffer(data, np.uint8), _SPACE_CP)
        return int(bad), n_space > 0 or bad >= 0
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start, True
    return -1, True


class WordTable:
    """Distinct words as one byte array: word ``i`` is
    ``blob[offs[i]:offs[i + 1]]`` (``blob`` uint8, ``offs`` int64), so that a
    vocabulary is sorted, sent and merged as arrays, never as one Python
    object per word."""

    __slots__ = ("blob", "offs")

    def __init__(self, blob: np.ndarray, offs: np.ndarray):
        self.blob, self.offs = blob, offs

    @classmethod
    def from_list(cls, words: list) -> "WordTable":
        offs = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum([len(w) for w in words], out=offs[1:])
        return cls(np.frombuffer(b"".join(words), np.uint8), offs)

    @classmethod
    def from_lengths(cls, blob: np.ndarray, lengths: np.ndarray) -> "WordTable":
        offs = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offs[1:])
        return cls(blob, offs)

    def __len__(self) -> int:
        return self.offs.size - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offs).astype(np.int32)

    def take(self, idx: np.ndarray) -> "WordTable":
        """The words ``idx``, in that order."""
        lens = np.diff(self.offs)[idx]
        offs = np.zeros(lens.size + 1, dtype=np.int64)
        np.cumsum(lens, out=offs[1:])
        src = np.repeat(self.offs[:-1][idx] - offs[:-1], lens) + np.arange(offs[-1])
        return WordTable(self.blob[src], offs)

    def tolist(self) -> list:
        """The words as ``bytes`` objects (no word holds a newline)."""
        n = len(self)
        if n == 0:
            return []
        out = np.full(self.blob.size + n, 10, dtype=np.uint8)
        out[np.arange(self.blob.size) + np.repeat(np.arange(n), np.diff(self.offs))] = self.blob
        return out.tobytes().split(b"\n")[:n]


class Tokenizer:
    """Maps tokens to local ids (first-seen order) over several blocks.

    ``words[i]`` (bytes) is the word of local id ``i``; :attr:`table` holds the
    same words as a :class:`WordTable`.  A single large block (the corpus
    reader's case) keeps only the table: the list of ``bytes`` is built the
    first time someone asks for it.
    """

    def __init__(self):
        self._index = None
        self._words = []
        self._table = None

    @property
    def words(self) -> list:
        if self._words is None:
            self._words = self._table.tolist()
        return self._words

    @property
    def table(self) -> WordTable:
        if self._table is None:
            self._table = WordTable.from_list(self._words)
        return self._table

    def __len__(self) -> int:
        return len(self._table) if self._words is None else len(self._words)

    def _ids(self, toks: list) -> np.ndarray:
        words = self.words
        if self._index is None:
            self._index = dict(zip(words, range(len(words))))
        index = self._index
        new = [w for w in dict.fromkeys(toks) if w not in index]
        if new:
            index.update(zip(new, range(len(words), len(words) + len(new))))
            words.extend(new)
            self._table = None
        return np.fromiter(map(index.__getitem__, toks), dtype=np.int32, count=len(toks))

    def block(self, data: bytes, n_lines: int, spaces: bool = True):
        """Token ids and tokens per line of the ``n_lines`` lines of ``data``
        (valid UTF-8); ``spaces=False`` says that ``data`` has no whitespace
        only ``str.split()`` knows (see :func:`utf8_check`)."""
        if len(data) >= _SMALL:
            ids, counts, table = large_block(data, n_lines, spaces)
            if len(self) == 0:
                self._words, self._index, self._table = None, None, table
                return ids, counts
            local = self._ids(table.tolist())
            return local[ids], counts
        plain = data.isascii() and not any(c in data for c in _SEPARATORS)
        if plain or _OTHER_SPACE.search(data.decode("utf-8")) is None:
            toks = [line.split() for line in data.split(b"\n")[:n_lines]]
            counts = np.fromiter((len(t) for t in toks), dtype=np.int32, count=n_lines)
            return self._ids([w for t in toks for w in t]), counts
        lines = data.decode("utf-8").split("\n")[:n_lines]
        toks = [line.split() for line in lines]
        counts = np.fromiter((len(t) for t in toks), dtype=np.int32, count=len(toks))
        return self._ids([w.encode("utf-8") for t in toks for w in t]), counts

    def used(self, ids: np.ndarray, all_used: bool = False):
        """``(table, which)``: the words that occur in ``ids`` (e.g. after
        dropping empty pairs) and their local ids (``None`` when ``all_used``
        says that every word occurs, nothing having been dropped)."""
        if all_used:
            return self.table, None
        which = np.flatnonzero(np.bincount(ids, minlength=len(self)) > 0)
        return self.table.take(which), which

    def remap(self, ids: np.ndarray, table: np.ndarray, offset: int) -> np.ndarray:
        """``ids[i] = table[ids[i]] + offset``, in place (``ids`` is overwritten
        and returned): local ids -> global ids."""
        if ids.size < _SMALL:        # small: not worth loading the kernels
            ids[:] = table[ids] + np.int32(offset)
        else:
            _kernels().remap_ids(ids, table, offset)
        return ids


def large_block(data: bytes, n_lines: int, spaces: bool = True):
    """``(ids, counts, table)`` of a block of valid UTF-8 by the kernels: ids in
    order of first occurrence, word ``i`` of the :class:`WordTable` the bytes
    of id ``i``."""
    k = _kernels()
    buf = np.frombuffer(data, np.uint8)
    if spaces:
        if data.isascii():
            blank = any(c in data for c in _SEPARATORS)
        else:
            blank = k.utf8_spaces(buf, _SPACE_CP)[1] > 0
        if blank:
            buf = buf.copy()
            k.blank_spaces(buf, _SPACE_CP)
    # a token and its separator take 2 bytes or more (8 on average in the
    # generated benchmark text, 6.8 in the 300k-pair IBM1 corpus): start low,
    # and the kernel grows the array by the density it has seen, so the ids
    # take little more than their own size (a guess of bytes/5 was 1.4x the
    # ids on the IBM1 corpus, then copied to size: +11 MB of peak RSS)
    ids, counts, start, length = k.tokenize_ids(buf, n_lines, len(data) // 16)
    return ids, counts, WordTable.from_lengths(k.gather_words(buf, start, length), length)


def drop_lines(ids: np.ndarray, counts: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The ids of the lines with ``keep`` set (``counts`` tokens per line)."""
    if ids.size < _SMALL:
        return ids[np.repeat(keep, counts)]
    return _kernels().drop_lines(ids, counts, keep)
