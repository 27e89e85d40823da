"""The prioritiser: weights ``(delta)^2 + eta`` and weighted sampling.

Pure functions; the random numbers of a round come from its own generator
(:func:`round_rng`), never from a global state.
"""

from __future__ import annotations

import numpy as np

# Distinguishes the scheduler's random streams from any other user of the seed.
STREAM = 0x5AD


def round_rng(seed: int, round_: int, stream: int = STREAM) -> np.random.Generator:
    """The generator of round ``round_``: a pure function of (seed, round)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(stream), int(round_)])


def initial_priorities(changes, eta: float) -> np.ndarray:
    """Priorities ``changes^2 + eta`` (``changes``: how much each parameter
    would move now, or zeros)."""
    c = np.asarray(changes, dtype=np.float64)
    return c * c + float(eta)


def update_priorities(priorities: np.ndarray, idx, deltas, eta: float) -> None:
    """In place: ``priorities[idx] = deltas^2 + eta`` for the parameters just updated."""
    d = np.asarray(deltas, dtype=np.float64)
    priorities[np.asarray(idx, dtype=np.int64)] = d * d + float(eta)


def sample_weighted(rng: np.random.Generator, weights: np.ndarray, m: int) -> np.ndarray:
    """``m`` distinct indices drawn with probability proportional to
    ``weights``, successively without replacement, in draw order.

    Gumbel top-m: the ``m`` largest ``log w_j + G_j`` (``G_j`` standard
    Gumbel) are distributed as m successive weighted draws without
    replacement, and sorting them by key gives the draw order.  O(n) per
    call; indices with weight 0 are never drawn (unless fewer than ``m``
    have positive weight, then only the positive ones are returned).
    """
    w = np.asarray(weights, dtype=np.float64)
    n = w.size
    m = int(min(m, n))
    if m <= 0:
        return np.empty(0, dtype=np.int64)
    u = rng.random(n)
    with np.errstate(divide="ignore"):
        keys = np.log(w) - np.log(-np.log1p(-u))   # -log(-log(1-u)) is Gumbel; 1-u in (0, 1]
    if m < n:
        top = np.argpartition(-keys, m - 1)[:m]
    else:
        top = np.arange(n)
    top = top[np.argsort(-keys[top], kind="stable")]
    top = top[np.isfinite(keys[top])]
    return top.astype(np.int64)
