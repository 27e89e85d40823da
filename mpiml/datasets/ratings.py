"""Seeded synthetic ratings: a low-rank matrix plus Gaussian noise of known σ.

``r_ui = offset + w*_u · h*_i + σ ε``, with ``w*``, ``h*`` having i.i.d.
N(0, 1/√rank) entries (so the signal has unit variance) and a uniformly random
set of observed (u, i) pairs without repetition.  A model that recovered
``W*``, ``H*`` (and the offset) exactly would have RMSE σ on held-out entries,
which is what the solvers' tests compare against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SyntheticRatings:
    users: np.ndarray      # int64, dense ids
    items: np.ndarray      # int64
    values: np.ndarray     # float64
    n_users: int
    n_items: int
    W: np.ndarray          # true factors (n_users × rank)
    H: np.ndarray          # (n_items × rank)
    noise: float
    offset: float


def synthetic_ratings(n_users: int, n_items: int, rank: int = 5, density: float = 0.1,
                      noise: float = 0.1, offset: float = 0.0, seed: int = 0,
                      min_per_user: int = 1) -> SyntheticRatings:
    """Draw a seeded synthetic ratings matrix.

    Parameters
    ----------
    n_users, n_items : int
    rank : int
        Rank of the true matrix.
    density : float
        Fraction of entries observed (sampled without replacement).
    noise : float
        σ of the additive Gaussian noise.
    offset : float
        Added to every rating (e.g. 3 for a 1–5-like scale).
    seed : int
    min_per_user : int
        Every user gets at least this many ratings (so no W row is unidentifiable).
    """
    if not 0 < density <= 1:
        raise ValueError("density must be in (0, 1]")
    rng = np.random.default_rng(seed)
    sd = rank ** -0.25
    W = rng.normal(0.0, sd, (n_users, rank))
    H = rng.normal(0.0, sd, (n_items, rank))
    nnz = int(round(density * n_users * n_items))
    flat = rng.choice(n_users * n_items, size=nnz, replace=False)
    if min_per_user > 0:
        have = np.bincount(flat // n_items, minlength=n_users)
        extra = [u * n_items + rng.choice(n_items, min_per_user - have[u], replace=False)
                 for u in np.flatnonzero(have < min_per_user)]
        if extra:
            flat = np.unique(np.concatenate([flat, *extra]))
    flat = np.sort(flat)
    users, items = flat // n_items, flat % n_items
    values = offset + np.einsum("ij,ij->i", W[users], H[items]) + noise * rng.standard_normal(flat.size)
    return SyntheticRatings(users.astype(np.int64), items.astype(np.int64), values,
                            n_users, n_items, W, H, float(noise), float(offset))


def write_triplets(path, data: SyntheticRatings, sep: str = " ", one_based: bool = False) -> None:
    """Write ``u<sep>i<sep>r`` lines (one per rating) for the file readers."""
    base = 1 if one_based else 0
    with open(path, "w") as fh:
        for u, i, r in zip(data.users, data.items, data.values):
            fh.write(f"{u + base}{sep}{i + base}{sep}{r:.6f}\n")
