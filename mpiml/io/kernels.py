"""Numba kernels of the corpus tokeniser (the only numba importer in mpiml.io
besides :mod:`mpiml.io.textparse`).

Kernels take numpy arrays (a file block as ``uint8``) and return arrays.
Tokens are runs of bytes other than ASCII whitespace (bytes 9-13 and 32,
what ``bytes.split()`` splits on); lines end at ``\\n`` (byte 10) only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_FIB = np.uint64(0x9E3779B97F4A7C15)     # 2**64 / golden ratio: Fibonacci hashing
_SHORT = 7                                # longest word packed into one uint64 key


@njit(cache=True, inline="always")
def _is_space(x):
    return x == 32 or (x >= 9 and x <= 13)


@njit(cache=True, inline="always")
def _utf8_next(buf, t, n):
    """(code point, length) of the UTF-8 sequence at ``t``; length 0 if it is
    not valid UTF-8 as Python's strict decoder defines it (no overlong forms,
    no surrogates, nothing above U+10FFFF)."""
    x = np.int64(buf[t])
    if x < 0x80:
        return x, 1
    if x < 0xC2 or x > 0xF4:
        return 0, 0
    if x < 0xE0:
        if t + 1 >= n or (buf[t + 1] & 0xC0) != 0x80:
            return 0, 0
        return ((x & 0x1F) << 6) | (buf[t + 1] & 0x3F), 2
    if x < 0xF0:
        if t + 2 >= n:
            return 0, 0
        b1, b2 = np.int64(buf[t + 1]), np.int64(buf[t + 2])
        lo = 0xA0 if x == 0xE0 else 0x80
        hi = 0x9F if x == 0xED else 0xBF
        if b1 < lo or b1 > hi or (b2 & 0xC0) != 0x80:
            return 0, 0
        return ((x & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F), 3
    if t + 3 >= n:
        return 0, 0
    b1, b2, b3 = np.int64(buf[t + 1]), np.int64(buf[t + 2]), np.int64(buf[t + 3])
    lo = 0x90 if x == 0xF0 else 0x80
    hi = 0x8F if x == 0xF4 else 0xBF
    if b1 < lo or b1 > hi or (b2 & 0xC0) != 0x80 or (b3 & 0xC0) != 0x80:
        return 0, 0
    return ((x & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F), 4


@njit(cache=True)
def utf8_spaces(buf, space):
    """``(bad, n_space)``: the offset of the first sequence that is not
    valid UTF-8 (-1 if none), and how many code points ``c`` before it have
    ``space[c]`` set (``c < len(space)``)."""
    n = buf.shape[0]
    n_space = 0
    n_table = space.shape[0]
    t = 0
    while t < n:
        x = buf[t]
        if x < 0x80:
            # the ASCII code points str.split() splits on and bytes.split()
            # does not are 28-31
            if x >= 28 and x <= 31:
                n_space += 1
            t += 1
            continue
        if x >= 0xC2 and x < 0xE0 and t + 1 < n and (buf[t + 1] & 0xC0) == 0x80:
            # a valid two-byte sequence (Latin accents, Greek, Cyrillic ...):
            # inline, 2.6x faster on accented text than the general decoder
            c = ((np.int64(x) & 0x1F) << 6) | (np.int64(buf[t + 1]) & 0x3F)
            if c < n_table and space[c]:
                n_space += 1
            t += 2
            continue
        c, m = _utf8_next(buf, t, n)
        if m == 0:
            return t, n_space
        if c < n_table and space[c]:
            n_space += 1
        t += m
    return -1, n_space


@njit(cache=True)
def blank_spaces(buf, space):
    """Overwrite (in place) every byte of the code points ``c`` with
    ``space[c]`` set by ASCII spaces; invalid sequences are left alone."""
    n = buf.shape[0]
    t = 0
    while t < n:
        c, m = _utf8_next(buf, t, n)
        if m == 0:
            t += 1
            continue
        if c < space.shape[0] and space[c]:
            for i in range(t, t + m):
                buf[i] = 32
        t += m


@njit(cache=True)
def mark_separator(buf, n_lines):
    """Turn every ``source ||| target`` line of the first ``n_lines`` lines
    into ``source\\n  target``, in place: the first ``|`` becomes a newline,
    the other two spaces, so the tokeniser reads the sides as alternate
    lines in one pass, with no copy of either side.

    Returns ``(bad, n_sep)``: the first line (0-based) without exactly one
    ``|||`` (-1 if none; lines from it on are left as they are) and its count
    of ``|||``, counted as ``bytes.split(b"|||")`` does (non-overlapping, left
    to right).
    """
    n = buf.shape[0]
    t = 0
    for line in range(n_lines):
        end = t
        while end < n and buf[end] != 10:
            end += 1
        n_sep = 0
        at = -1
        i = t
        while i + 2 < end:
            if buf[i] == 124 and buf[i + 1] == 124 and buf[i + 2] == 124:
                n_sep += 1
                if at < 0:
                    at = i
                i += 3
            else:
                i += 1
        if n_sep != 1:
            return line, n_sep
        buf[at] = 10
        buf[at + 1] = 32
        buf[at + 2] = 32
        t = end + 1
    return -1, 0


@njit(cache=True)
def drop_lines(ids, counts, keep):
    """The ids of the lines with ``keep`` set, in order (a new array)."""
    n = 0
    for i in range(counts.shape[0]):
        if keep[i]:
            n += counts[i]
    out = np.empty(n, dtype=ids.dtype)
    k = 0
    j = 0
    for i in range(counts.shape[0]):
        c = counts[i]
        if keep[i]:
            for m in range(c):          # an element loop: most lines are short
                out[j + m] = ids[k + m]
            j += c
        k += c
    return out


@njit(cache=True)
def gather_words(buf, w_start, w_len):
    """The words ``buf[w_start[i]:w_start[i] + w_len[i]]`` one after the
    other (the byte array of a word table)."""
    n = 0
    for i in range(w_len.shape[0]):
        n += w_len[i]
    out = np.empty(n, dtype=np.uint8)
    j = 0
    for i in range(w_len.shape[0]):
        a = w_start[i]
        for m in range(w_len[i]):
            out[j + m] = buf[a + m]
        j += w_len[i]
    return out


@njit(cache=True)
def remap_ids(ids, table, offset):
    """``ids[i] = table[ids[i]] + offset``, in place."""
    for i in range(ids.shape[0]):
        ids[i] = table[ids[i]] + offset


@njit(cache=True, inline="always")
def _slot(key, shift):
    return (key * _FIB) >> shift


@njit(cache=True)
def _tokenize_run(buf, t, stop, ids, k, stab, sshift, ltab, lshift, w_start, w_len, w_key,
                  store, w_off, used, n_words, n_short, n_long, counts, line, line_k):
    """The loop of :func:`tokenize_ids`, from byte ``t`` to ``stop`` or the end
    of line ``counts.shape[0] - 1``, or until a token or a new word does not
    fit (``ids`` full, a table at half load, the word arrays or the store
    full); then it returns with ``t`` at that token's first byte so that the
    caller grows what is full and resumes.  The tokens per line go to
    ``counts`` on the way (``line`` is the current line, ``line_k`` its first
    token), so no separate pass counts them.  No array is reassigned here, which
    keeps numba's loop free of reference counting (measured: 3.5x faster than
    the same loop with growth inline).

    Words of up to 7 bytes are their own key (bytes packed little-endian, the
    length in the top byte): one probe of ``stab`` decides, with no second
    look at the bytes.  Longer words are keyed by a hash (the packed first
    7 bytes, then FNV-1a over the rest) in ``ltab`` and confirmed against a compact copy (``store``) of the distinct
    long words.  Both tables hold (key, id + 1) pairs side by side, so a probe
    touches one cache line; 0 marks an empty slot (no key is 0: short keys
    carry a non-zero length, and a long word's hash is forced odd).
    """
    smask = np.uint64(stab.shape[0] // 2 - 1)
    lmask = np.uint64(ltab.shape[0] // 2 - 1)
    cap_words = w_start.shape[0]
    cap_ids = ids.shape[0]
    n_lines = counts.shape[0]
    while t < stop:
        x = buf[t]
        if _is_space(x):
            t += 1
            if x == 10:
                counts[line] = k - line_k
                line += 1
                line_k = k
                if line == n_lines:
                    break
            continue
        if k == cap_ids:
            return t, k, used, n_words, n_short, n_long, line, line_k, True
        a = t
        key = _U0
        sh = np.uint64(0)
        lim = min(stop, a + _SHORT)
        while t < lim and not _is_space(buf[t]):
            key |= np.uint64(buf[t]) << sh
            sh += np.uint64(8)
            t += 1
        if t == stop or _is_space(buf[t]):
            key |= np.uint64(t - a) << np.uint64(56)
            slot = _slot(key, sshift)
            while True:
                e = stab[slot + slot]
                if e == key:
                    ids[k] = np.int32(stab[slot + slot + _U1] - _U1)
                    break
                if e == _U0:
                    if n_words == cap_words or 2 * (n_short + 1) > stab.shape[0] // 2:
                        return a, k, used, n_words, n_short, n_long, line, line_k, True
                    stab[slot + slot] = key
                    stab[slot + slot + _U1] = np.uint64(n_words + 1)
                    w_start[n_words], w_len[n_words], w_key[n_words] = a, t - a, key
                    ids[k] = n_words
                    n_words += 1
                    n_short += 1
                    break
                slot = (slot + _U1) & smask
            k += 1
            continue
        while t < stop and not _is_space(buf[t]):
            t += 1
        length = t - a
        # FNV-1a over the bytes past the first 7, started from the packed
        # first 7 (one multiply for those instead of seven)
        h = (key * _FIB) ^ np.uint64(14695981039346656037)
        for i in range(a + _SHORT, t):
            h = (h ^ np.uint64(buf[i])) * np.uint64(1099511628211)
        h |= _U1
        slot = _slot(h, lshift)
        while True:
            e = ltab[slot + slot]
            if e == h:
                v = np.int64(ltab[slot + slot + _U1]) - 1
                if w_len[v] == length:
                    o = w_off[v]
                    same = True
                    for i in range(length):
                        if store[o + i] != buf[a + i]:
                            same = False
                            break
                    if same:
                        ids[k] = v
                        break
            elif e == _U0:
                if (n_words == cap_words or 2 * (n_long + 1) > ltab.shape[0] // 2
                        or used + length > store.shape[0]):
                    return a, k, used, n_words, n_short, n_long, line, line_k, True
                ltab[slot + slot] = h
                ltab[slot + slot + _U1] = np.uint64(n_words + 1)
                store[used:used + length] = buf[a:t]
                w_start[n_words], w_len[n_words], w_key[n_words] = a, length, h
                w_off[n_words] = used
                used += length
                ids[k] = n_words
                n_words += 1
                n_long += 1
                break
            slot = (slot + _U1) & lmask
        k += 1
    return t, k, used, n_words, n_short, n_long, line, line_k, False


@njit(cache=True)
def _grown(a, n):
    out = np.empty(max(2 * a.shape[0], n), dtype=a.dtype)
    out[:a.shape[0]] = a
    return out


@njit(cache=True)
def _rehash(w_key, w_len, n_words, cap, short):
    """A table of ``cap`` slots holding the short (or the long) words so far."""
    bits = 0
    while (1 << bits) < cap:
        bits += 1
    shift = np.uint64(64 - bits)
    mask = np.uint64(cap - 1)
    tab = np.zeros(2 * cap, dtype=np.uint64)
    for v in range(n_words):
        if (w_len[v] <= _SHORT) != short:
            continue
        s = _slot(w_key[v], shift)
        while tab[s + s] != _U0:
            s = (s + _U1) & mask
        tab[s + s] = w_key[v]
        tab[s + s + _U1] = np.uint64(v + 1)
    return tab, shift


@njit(cache=True)
def tokenize_ids(buf, n_lines, n_guess):
    """Word ids of the ASCII-whitespace separated tokens of a byte block.

    Returns ``(ids, counts, word_start, word_len)``: a local id per token
    (ids in order of first occurrence), tokens per line (``\\n`` ends a line,
    lines past ``n_lines`` are ignored: a block that ends with a newline has
    an empty line after it) and where each distinct word first occurs in
    ``buf``.  One pass: each token is looked up in an open-addressing hash
    table (see :func:`_tokenize_run`) that doubles at half load.  ``ids``
    starts at ``n_guess`` entries and grows by the tokens per byte seen so
    far; when it ends more than 1/8 too long it is copied to its length.
    """
    counts = np.zeros(n_lines, dtype=np.int32)
    ids = np.empty(max(n_guess, 16), dtype=np.int32)
    w_start = np.empty(1024, dtype=np.int64)
    w_len = np.empty(1024, dtype=np.int64)
    w_key = np.empty(1024, dtype=np.uint64)
    w_off = np.empty(1024, dtype=np.int64)
    store = np.empty(4096, dtype=np.uint8)
    stab, sshift = _rehash(w_key, w_len, 0, 4096, True)
    ltab, lshift = _rehash(w_key, w_len, 0, 1024, False)
    stop = buf.shape[0] if n_lines > 0 else 0
    t, k, used, n_words, n_short, n_long, line, line_k = 0, 0, 0, 0, 0, 0, 0, 0
    while True:
        t, k, used, n_words, n_short, n_long, line, line_k, full = _tokenize_run(
            buf, t, stop, ids, k, stab, sshift, ltab, lshift, w_start, w_len, w_key, store, w_off,
            used, n_words, n_short, n_long, counts, line, line_k)
        if not full:
            break
        # grow whatever the token at t could not get (doubling keeps the work linear)
        if k == ids.shape[0]:
            # the remaining bytes at the density so far, plus 1/16 and a
            # margin; at least 1/8 more, so regrowing stays linear work
            more = max(int((stop - t) * (k / max(t, 1)) * 1.0625) + 1024, k // 8)
            bigger = np.empty(k + more, dtype=ids.dtype)
            bigger[:k] = ids
            ids = bigger
            continue
        if n_words == w_start.shape[0]:
            w_start, w_len = _grown(w_start, 0), _grown(w_len, 0)
            w_key, w_off = _grown(w_key, 0), _grown(w_off, 0)
        end = t
        while end < stop and not _is_space(buf[end]):
            end += 1
        if end - t <= _SHORT:
            if 2 * (n_short + 1) > stab.shape[0] // 2:
                stab, sshift = _rehash(w_key, w_len, n_words, stab.shape[0], True)
        else:
            if used + end - t > store.shape[0]:
                store = _grown(store, used + end - t)
            if 2 * (n_long + 1) > ltab.shape[0] // 2:
                ltab, lshift = _rehash(w_key, w_len, n_words, ltab.shape[0], False)
    if line < n_lines:          # the last line has no newline
        counts[line] = k - line_k
    ids = ids[:k] if 8 * k >= 7 * ids.shape[0] else ids[:k].copy()
    return ids, counts, w_start[:n_words].copy(), w_len[:n_words].copy()


def warm() -> None:
    """Load (or compile) every kernel of the corpus reader on tiny inputs, so
    that timings do not include numba's one-off start-up."""
    buf = np.frombuffer(b"a ||| b\n", np.uint8)
    space = np.zeros(1, dtype=np.bool_)
    ids, counts, start, length = tokenize_ids(buf, 1, 1)
    utf8_spaces(buf, space)
    blank_spaces(buf.copy(), space)
    gather_words(buf, start, length)
    drop_lines(ids, counts, np.ones(1, dtype=np.bool_))
    remap_ids(ids.copy(), np.zeros(ids.size + 1, dtype=np.int32), 0)
    mark_separator(buf.copy(), 1)
    from .vocab import kernels as vocab_kernels
    vocab_kernels.warm()
