"""Serial reference for the parallel-corpus reader: ``str.split()`` per line.

Pairs whose source or target side has no token are dropped; vocabularies are
the sorted (Python string order) words of the kept pairs; source ids start
at 1 (0 is NULL).
"""

import numpy as np


def lines_of(text: str) -> list:
    """Lines as the reader counts them: ``\\n`` ends a line, and a last line
    without a newline is still a line."""
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") or not text else lines


def read_pairs(src_text: str, tgt_text: str) -> dict:
    src = [line.split() for line in lines_of(src_text)]
    tgt = [line.split() for line in lines_of(tgt_text)]
    assert len(src) == len(tgt)
    kept = [n for n in range(len(src)) if src[n] and tgt[n]]
    src_vocab = sorted({w for n in kept for w in src[n]})
    tgt_vocab = sorted({w for n in kept for w in tgt[n]})
    si = {w: i + 1 for i, w in enumerate(src_vocab)}
    ti = {w: i for i, w in enumerate(tgt_vocab)}
    return {
        "line_index": kept,
        "src": [[si[w] for w in src[n]] for n in kept],
        "tgt": [[ti[w] for w in tgt[n]] for n in kept],
        "src_vocab": ["<NULL>"] + src_vocab,
        "tgt_vocab": tgt_vocab,
        "empty_lines": [n + 1 for n in range(len(src)) if not (src[n] and tgt[n])],
    }


def split_csr(ids: np.ndarray, ptr: np.ndarray) -> list:
    return [ids[ptr[i]:ptr[i + 1]].tolist() for i in range(ptr.size - 1)]
