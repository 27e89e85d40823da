"""Random streams of LDA, as pure functions of ``(seed, rank, position)``.

Every random number a run uses comes from here, so a checkpoint needs only the
sweep counter as its RNG position, and a serial replay (tests/naive/lda.py)
can draw exactly what every rank drew.
"""

from __future__ import annotations

import numpy as np

_INIT, _SWEEP, _VALID, _FOLD = 0x1DA0, 0x1DA1, 0x1DA2, 0x1DA3


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, *map(int, key)])


def init_topics(seed: int, rank: int, n_tokens: int, n_topics: int) -> np.ndarray:
    """Initial topic of each of a rank's tokens (uniform)."""
    return _rng(seed, _INIT, rank).integers(0, n_topics, size=n_tokens).astype(np.int32)


def sweep_uniforms(seed: int, rank: int, sweep: int, n_tokens: int) -> np.ndarray:
    """The uniforms a rank consumes in sweep ``sweep`` (0-based), one per token,
    in the order it samples its tokens."""
    return _rng(seed, _SWEEP, rank, sweep).random(n_tokens)


def valid_init(seed: int, rank: int, n_tokens: int, n_topics: int) -> np.ndarray:
    """Initial topics of a rank's observed held-out tokens (document completion)."""
    return _rng(seed, _VALID, rank).integers(0, n_topics, size=n_tokens).astype(np.int32)


def fold_uniforms(seed: int, rank: int, n: int) -> np.ndarray:
    """Uniforms of the fold-in sweeps of document completion (the same at every evaluation)."""
    return _rng(seed, _FOLD, rank).random(n)
