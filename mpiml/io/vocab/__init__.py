"""The global vocabulary of a corpus from every rank's local words (pure:
no communicator here; :func:`mpiml.io.corpus.read_parallel` exchanges the
tables).

Every rank sends its distinct words as a :class:`~mpiml.io.tokens.WordTable`
(one byte array and the word lengths: a word costs its bytes plus 4, and
pickling it is one copy instead of one object per word).  Every rank then
computes the same sorted union from the same tables, so ids agree on all
ranks without a second exchange.  Large vocabularies are merged by numba
kernels (:mod:`mpiml.io.vocab.kernels`): the concatenated tables are sorted
by their first 8 bytes as one ``uint64`` key (bytes compared only where keys
tie) and equal neighbours grouped.  Small ones take ``sorted`` on ``bytes``,
which gives the same order without loading the kernels.

Sorting UTF-8 byte strings gives the order of the decoded strings (UTF-8
preserves code point order), so the vocabulary is decoded once, at the end.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from .. import tokens
from ..tokens import WordTable


def pack(table: WordTable):
    """What a rank sends of its table: ``(bytes, int32 lengths)``."""
    return table.blob, table.lengths()


def unpack(packed) -> WordTable:
    blob, lengths = packed
    return WordTable.from_lengths(np.asarray(blob, dtype=np.uint8), np.asarray(lengths))


def _decode(words: list) -> list:
    """The byte words as str: one decode of the words joined by newlines (no
    word contains whitespace), about twice as fast as a decode per word."""
    return b"\n".join(words).decode("utf-8").split("\n") if words else []


def merge(tables: list, mine: int, compiled: bool | None = None):
    """Sorted union of the tables' words, and where the words of
    ``tables[mine]`` are in it.

    Parameters
    ----------
    tables : list of WordTable
        Every rank's distinct words (in any order), in rank order.
    mine : int
        Which table's words to place.
    compiled : bool, optional
        Use the kernels (default: when the tables hold at least
        ``tokens._SMALL / 64`` words together, about where the kernels'
        loading costs less than ``sorted`` on ``bytes``).

    Returns
    -------
    words : list of str
        The distinct words, sorted.
    ids : np.ndarray of int32
        ``ids[i]`` is the position in ``words`` of word ``i`` of
        ``tables[mine]``.
    """
    n_total = sum(len(t) for t in tables)
    if compiled is None:
        compiled = n_total >= tokens._SMALL >> 6
    if not compiled:
        lists = [t.tolist() for t in tables]
        union = sorted(set(chain.from_iterable(lists)))
        pos = dict(zip(union, range(len(union))))
        ids = np.fromiter(map(pos.__getitem__, lists[mine]), dtype=np.int32, count=len(lists[mine]))
        return _decode(union), ids
    from . import kernels as k
    blob = np.concatenate([t.blob for t in tables]) if tables else np.empty(0, np.uint8)
    offs = np.zeros(n_total + 1, dtype=np.int64)
    np.cumsum(np.concatenate([np.diff(t.offs) for t in tables]), out=offs[1:])
    keys = k.prefix_keys(blob, offs)
    order = np.argsort(keys)
    k.sort_ties(order, keys, blob, offs)
    gid, first = k.group_sorted(order, keys, blob, offs)
    base = sum(len(t) for t in tables[:mine])
    # words hold no str whitespace (they are str.split()'s tokens), so one
    # decode and one split give them back
    words = k.join_words(blob, offs, first, 32).tobytes().decode("utf-8").split()
    return words, gid[base:base + len(tables[mine])]
