"""Numba kernels for the text readers (the only numba importer in mpiml.io).

Kernels take numpy arrays (a file block as ``uint8``) and return arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def line_token_counts(buf, n_lines):
    """Tokens per line of a byte block, tokens separated by ASCII whitespace.

    ASCII whitespace is what ``bytes.split()`` splits on: bytes 9-13 and 32.
    Line breaks are ``\\n`` only (byte 10); lines past ``n_lines`` are ignored
    (a block that ends with a newline has an empty line after it).
    """
    out = np.zeros(n_lines, dtype=np.int32)
    line = 0
    prev_ws = True
    for t in range(buf.shape[0]):
        x = buf[t]
        if x == 10:
            line += 1
            prev_ws = True
            continue
        ws = x == 32 or (x >= 9 and x <= 13)
        if not ws and prev_ws and line < n_lines:
            out[line] += 1
        prev_ws = ws
    return out


@njit(cache=True, inline="always")
def _is_space(x):
    return x == 32 or (x >= 9 and x <= 13)


@njit(cache=True)
def _same(buf, a, b, n):
    for t in range(n):
        if buf[a + t] != buf[b + t]:
            return False
    return True


@njit(cache=True)
def tokenize_ids(buf, n_lines):
    """Word ids of the ASCII-whitespace separated tokens of a byte block.

    Returns ``(ids, counts, word_start, word_len)``: a local id per token
    (ids in order of first occurrence), tokens per line (``\\n`` ends a line,
    lines past ``n_lines`` are ignored) and where each distinct word first
    occurs in ``buf``.  Words are found in an open-addressing hash table
    (FNV-1a hashes, byte comparison on collision) that doubles at half load.
    """
    counts = line_token_counts(buf, n_lines)
    n_tok = 0
    for c in counts:
        n_tok += c
    ids = np.empty(n_tok, dtype=np.int32)
    cap = 1024
    table = np.full(cap, -1, dtype=np.int64)
    w_start = np.empty(256, dtype=np.int64)
    w_len = np.empty(256, dtype=np.int64)
    w_hash = np.empty(256, dtype=np.uint64)
    n_words = 0
    t = 0
    k = 0
    line = 0
    n = buf.shape[0]
    while t < n and line < n_lines:
        x = buf[t]
        if x == 10:
            line += 1
            t += 1
            continue
        if _is_space(x):
            t += 1
            continue
        a = t
        h = np.uint64(14695981039346656037)
        while t < n and not _is_space(buf[t]):
            h = (h ^ np.uint64(buf[t])) * np.uint64(1099511628211)
            t += 1
        length = t - a
        mask = cap - 1
        slot = np.int64(h & np.uint64(mask))
        while True:
            w = table[slot]
            if w < 0:
                break
            if w_hash[w] == h and w_len[w] == length and _same(buf, w_start[w], a, length):
                break
            slot = (slot + 1) & mask
        if w < 0:
            if n_words == w_start.shape[0]:
                w_start = np.concatenate((w_start, np.empty(n_words, np.int64)))
                w_len = np.concatenate((w_len, np.empty(n_words, np.int64)))
                w_hash = np.concatenate((w_hash, np.empty(n_words, np.uint64)))
            w = n_words
            w_start[w], w_len[w], w_hash[w] = a, length, h
            n_words += 1
            table[slot] = w
            if 2 * n_words > cap:
                cap *= 2
                mask = cap - 1
                table = np.full(cap, -1, dtype=np.int64)
                for v in range(n_words):
                    s = np.int64(w_hash[v] & np.uint64(mask))
                    while table[s] >= 0:
                        s = (s + 1) & mask
                    table[s] = v
        ids[k] = w
        k += 1
    return ids, counts, w_start[:n_words].copy(), w_len[:n_words].copy()
