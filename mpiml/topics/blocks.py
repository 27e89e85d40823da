"""Word blocks for the model-parallel rotation (pure functions).

The vocabulary is cut into ``P`` contiguous word ranges holding about equal
numbers of corpus tokens, so that every sub-epoch gives each rank a similar
amount of work whatever the word-frequency distribution.
"""

from __future__ import annotations

import numpy as np


def word_blocks(word_counts, n_blocks: int) -> np.ndarray:
    """Offsets (``n_blocks + 1``) of contiguous word ranges with about equal
    token counts; every block is non-empty when there are enough words."""
    c = np.asarray(word_counts, dtype=np.int64)
    V = c.size
    P = int(n_blocks)
    cum = np.cumsum(c)
    total = int(cum[-1]) if V else 0
    off = np.zeros(P + 1, dtype=np.int64)
    off[P] = V
    for b in range(1, P):
        cut = int(np.searchsorted(cum, total * b / P, side="left")) + 1 if total else (V * b) // P
        # keep at least one word per block (when V >= P) and the offsets increasing
        off[b] = min(max(cut, off[b - 1] + (1 if V >= P else 0)), V - (P - b if V >= P else 0))
    return off


def block_of_words(offsets, n_words: int) -> np.ndarray:
    """Block index of every word id."""
    return (np.searchsorted(np.asarray(offsets), np.arange(n_words), side="right") - 1).astype(np.int64)


def tokens_by_block(words, offsets) -> list[np.ndarray]:
    """Indices of the tokens of each word block, each in token order."""
    blk = block_of_words(offsets, int(np.asarray(offsets)[-1]))[np.asarray(words, dtype=np.int64)]
    order = np.argsort(blk, kind="stable")
    bounds = np.searchsorted(blk[order], np.arange(len(offsets)))
    return [order[bounds[b]:bounds[b + 1]].astype(np.int64) for b in range(len(offsets) - 1)]
