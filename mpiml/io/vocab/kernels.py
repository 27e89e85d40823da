"""Numba kernels of the vocabulary merge: sorting, deduplicating and joining
words held as one byte array (``blob``) with offsets (``offs``, word ``i``
is ``blob[offs[i]:offs[i + 1]]``).

Order is the lexicographic order of the bytes, shorter first when one word
is a prefix of the other (Python's ``bytes`` order; for UTF-8 it is also
the code point order of the decoded strings).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_SMALL_RUN = 16          # runs up to this length are sorted by insertion


@njit(cache=True)
def prefix_keys(blob, offs):
    """The first 8 bytes of every word, big-endian, zero-padded: ``keys[i] <
    keys[j]`` implies word i < word j; equal keys leave the order open
    (a longer word, or trailing NUL bytes)."""
    n = offs.shape[0] - 1
    keys = np.empty(n, dtype=np.uint64)
    for i in range(n):
        a = offs[i]
        m = min(offs[i + 1] - a, 8)
        k = np.uint64(0)
        for j in range(8):
            k = k << np.uint64(8)
            if j < m:
                k |= np.uint64(blob[a + j])
        keys[i] = k
    return keys


@njit(cache=True, inline="always")
def _cmp(blob, offs, a, b):
    """-1, 0 or 1 as word a is below, equal to or above word b."""
    pa, pb = offs[a], offs[b]
    la, lb = offs[a + 1] - pa, offs[b + 1] - pb
    for i in range(min(la, lb)):
        x, y = blob[pa + i], blob[pb + i]
        if x != y:
            return -1 if x < y else 1
    return -1 if la < lb else (1 if la > lb else 0)


@njit(cache=True)
def _sort_run(order, lo, hi, blob, offs):
    """Sort ``order[lo:hi]`` by the words' bytes (insertion sort for short
    runs, else a bottom-up merge sort: O(n log n) comparisons even when many
    words share their first 8 bytes, e.g. URLs)."""
    n = hi - lo
    if n <= _SMALL_RUN:
        for i in range(lo + 1, hi):
            v = order[i]
            j = i - 1
            while j >= lo and _cmp(blob, offs, v, order[j]) < 0:
                order[j + 1] = order[j]
                j -= 1
            order[j + 1] = v
        return
    src = order[lo:hi].copy()
    dst = np.empty_like(src)
    width = 1
    while width < n:
        for s in range(0, n, 2 * width):
            m, e = min(s + width, n), min(s + 2 * width, n)
            a, b, k = s, m, s
            while a < m and b < e:
                if _cmp(blob, offs, src[b], src[a]) < 0:
                    dst[k] = src[b]
                    b += 1
                else:
                    dst[k] = src[a]
                    a += 1
                k += 1
            while a < m:
                dst[k] = src[a]
                a += 1
                k += 1
            while b < e:
                dst[k] = src[b]
                b += 1
                k += 1
        src, dst = dst, src
        width *= 2
    order[lo:hi] = src


@njit(cache=True)
def sort_ties(order, keys, blob, offs):
    """Finish the sort of ``order`` (word indices sorted by their
    :func:`prefix_keys`; numpy's argsort does that part several times faster
    than numba's) in place: only runs of equal keys compare bytes, and equal
    words end up next to each other, in no particular order."""
    n = order.shape[0]
    i = 0
    while i < n:
        j = i + 1
        while j < n and keys[order[j]] == keys[order[i]]:
            j += 1
        if j - i > 1:
            _sort_run(order, i, j, blob, offs)
        i = j


@njit(cache=True)
def group_sorted(order, keys, blob, offs):
    """``(gid, first)`` for words sorted by :func:`sort_ties`: ``gid[i]`` is
    the position of word i among the distinct words, ``first[g]`` one index
    of distinct word g."""
    n = order.shape[0]
    gid = np.empty(n, dtype=np.int32)
    first = np.empty(n, dtype=np.int64)
    g = -1
    for j in range(n):
        i = order[j]
        if j == 0:
            g = 0
            first[0] = i
        else:
            p = order[j - 1]
            if keys[i] != keys[p] or _cmp(blob, offs, i, p) != 0:
                g += 1
                first[g] = i
        gid[i] = g
    return gid, first[:g + 1].copy()


@njit(cache=True)
def join_words(blob, offs, idx, sep):
    """Words ``idx`` one after the other, each followed by the byte ``sep``."""
    n = 0
    for i in idx:
        n += offs[i + 1] - offs[i] + 1
    out = np.empty(n, dtype=np.uint8)
    j = 0
    for i in idx:
        a, e = offs[i], offs[i + 1]
        for m in range(e - a):
            out[j + m] = blob[a + m]
        j += e - a
        out[j] = sep
        j += 1
    return out


def warm() -> None:
    """Load (or compile) every kernel here on tiny inputs."""
    blob = np.frombuffer(b"bab", np.uint8)
    offs = np.array([0, 1, 2, 3], dtype=np.int64)
    keys = prefix_keys(blob, offs)
    order = np.argsort(keys)
    sort_ties(order, keys, blob, offs)
    gid, first = group_sorted(order, keys, blob, offs)
    join_words(blob, offs, first, 32)
    big = np.arange(2 * _SMALL_RUN + 1, dtype=np.int64)
    _sort_run(big, 0, big.size, np.zeros(big.size, np.uint8), np.arange(big.size + 1, dtype=np.int64))
