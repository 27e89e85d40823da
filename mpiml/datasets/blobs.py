"""Gaussian blobs for K-means (seeded)."""

from __future__ import annotations

import numpy as np


def make_blobs(n: int, d: int, k: int, seed: int = 0, spread: float = 10.0, noise: float = 1.0):
    """``n`` points in ``d`` dimensions around ``k`` random centres.

    Returns (X float64 (n, d), true labels int64 (n,), centres (k, d)).
    """
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-spread, spread, size=(k, d))
    labels = rng.integers(0, k, size=n)
    X = centres[labels] + rng.normal(0.0, noise, size=(n, d))
    return X, labels.astype(np.int64), centres
