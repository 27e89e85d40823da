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
def _same(store, a, buf, b, n):
    for t in range(n):
        if store[a + t] != buf[b + t]:
            return False
    return True


@njit(cache=True)
def _mix(h):
    # FNV-1a's low bits depend only on the low bits of the input; fold the
    # high bits in before masking to a table slot.
    return h ^ (h >> np.uint64(29))


@njit(cache=True)
def _tokenize_run(buf, t, line, n_lines, ids, k, table, w_start, w_len, w_off, w_hash, store,
                  used, n_words):
    """The loop of :func:`tokenize_ids`, from byte ``t`` until the end or until
    a new word does not fit (table at half load, word arrays or store full);
    then it returns with ``t`` at that word so the caller grows and resumes.
    No array is reassigned here, which keeps numba's loop free of reference
    counting (measured: 3.5x faster than the same loop with growth inline)."""
    n = buf.shape[0]
    low = np.uint64(0xFFFFFFFF)
    mask = np.uint64(table.shape[0] - 1)
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
        tag = h >> np.uint64(32)
        slot = _mix(h) & mask
        w = -1
        while True:
            e = table[slot]
            if e == 0:
                break
            if (e >> np.uint64(32)) == tag:
                v = np.int64(e & low) - 1
                if w_len[v] == length and _same(store, w_off[v], buf, a, length):
                    w = v
                    break
            slot = (slot + np.uint64(1)) & mask
        if w < 0:
            if (n_words == w_start.shape[0] or used + length > store.shape[0]
                    or 2 * (n_words + 1) > table.shape[0]):
                return a, line, k, used, n_words, True
            store[used:used + length] = buf[a:t]
            w = n_words
            w_start[w], w_len[w], w_off[w], w_hash[w] = a, length, used, h
            used += length
            n_words += 1
            table[slot] = (tag << np.uint64(32)) | np.uint64(w + 1)
        ids[k] = w
        k += 1
    return t, line, k, used, n_words, False


@njit(cache=True)
def _grown(a, n):
    out = np.empty(max(2 * a.shape[0], n), dtype=a.dtype)
    out[:a.shape[0]] = a
    return out


@njit(cache=True)
def tokenize_ids(buf, n_lines):
    """Word ids of the ASCII-whitespace separated tokens of a byte block.

    Returns ``(ids, counts, word_start, word_len)``: a local id per token
    (ids in order of first occurrence), tokens per line (``\\n`` ends a line,
    lines past ``n_lines`` are ignored) and where each distinct word first
    occurs in ``buf``.  Words are found in an open-addressing hash table
    (FNV-1a hashes) that doubles at half load.  A table entry holds the
    word id and the high 32 bits of its hash, so a probe reads one array;
    a candidate is confirmed against a compact copy of the distinct words
    (small enough to stay in cache), not against the block.
    """
    counts = line_token_counts(buf, n_lines)
    n_tok = 0
    for c in counts:
        n_tok += c
    ids = np.empty(n_tok, dtype=np.int32)
    table = np.zeros(1024, dtype=np.uint64)          # 0: empty, else tag << 32 | (id + 1)
    w_start = np.empty(256, dtype=np.int64)
    w_len = np.empty(256, dtype=np.int64)
    w_off = np.empty(256, dtype=np.int64)
    w_hash = np.empty(256, dtype=np.uint64)
    store = np.empty(4096, dtype=np.uint8)
    t, line, k, used, n_words = 0, 0, 0, 0, 0
    while True:
        t, line, k, used, n_words, full = _tokenize_run(buf, t, line, n_lines, ids, k, table,
                                                        w_start, w_len, w_off, w_hash, store,
                                                        used, n_words)
        if not full:
            break
        if n_words == w_start.shape[0]:
            w_start = _grown(w_start, 0)
            w_len = _grown(w_len, 0)
            w_off = _grown(w_off, 0)
            w_hash = _grown(w_hash, 0)
        end = t
        while end < buf.shape[0] and not _is_space(buf[end]):
            end += 1
        if used + end - t > store.shape[0]:
            store = _grown(store, used + end - t)
        if 2 * (n_words + 1) > table.shape[0]:
            cap = 2 * table.shape[0]
            mask = np.uint64(cap - 1)
            table = np.zeros(cap, dtype=np.uint64)
            for v in range(n_words):
                hv = w_hash[v]
                sl = _mix(hv) & mask
                while table[sl] != 0:
                    sl = (sl + np.uint64(1)) & mask
                table[sl] = ((hv >> np.uint64(32)) << np.uint64(32)) | np.uint64(v + 1)
    return ids, counts, w_start[:n_words].copy(), w_len[:n_words].copy()
