"""Pure partitioning functions of (n, size, rank).

Nothing here talks to MPI, so every rank's share can be computed (and unit
tested) for all ranks in one process.

Policy: rows are split into ``size`` contiguous blocks whose lengths differ by
at most one, the first ``n % size`` blocks being one longer.  When there are
more ranks than rows the trailing ranks get *empty* blocks; algorithms that
cannot work with an empty share check :func:`require_nonempty` at start-up and
report a :class:`~mpiml.errors.ConfigError` on every rank.
"""

from __future__ import annotations

import zlib

import numpy as np

from .errors import ConfigError


def _check(n: int, size: int, rank: int | None = None) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if rank is not None and not 0 <= rank < size:
        raise ValueError(f"rank {rank} outside [0, {size})")


def block_sizes(n: int, size: int) -> np.ndarray:
    """Lengths of the ``size`` blocks of ``n`` rows (differ by at most one)."""
    _check(n, size)
    base, extra = divmod(n, size)
    sizes = np.full(size, base, dtype=np.int64)
    sizes[:extra] += 1
    return sizes


def block_offsets(n: int, size: int) -> np.ndarray:
    """Start offsets of the blocks, length ``size + 1`` (last entry is ``n``)."""
    out = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(block_sizes(n, size), out=out[1:])
    return out


def block_range(n: int, size: int, rank: int) -> tuple[int, int]:
    """Half-open row range ``[lo, hi)`` owned by ``rank``."""
    _check(n, size, rank)
    base, extra = divmod(n, size)
    lo = rank * base + min(rank, extra)
    hi = lo + base + (1 if rank < extra else 0)
    return lo, hi


def block_owner(index, n: int, size: int):
    """Rank owning global row ``index`` (scalar or array) under block_range."""
    _check(n, size)
    idx = np.asarray(index, dtype=np.int64)
    if np.any((idx < 0) | (idx >= n)):
        raise ValueError("index out of range")
    base, extra = divmod(n, size)
    cut = extra * (base + 1)
    if base == 0:
        owner = idx  # only the first `extra` ranks hold one row each
    else:
        owner = np.where(idx < cut, idx // (base + 1), extra + (idx - cut) // base)
    return owner if owner.ndim else int(owner)


def require_nonempty(n: int, size: int, what: str = "rows") -> None:
    """Raise ConfigError if some rank would receive no rows."""
    if n < size:
        raise ConfigError(
            f"{n} {what} cannot be split over {size} ranks (each rank needs at least one); "
            f"use at most {n} ranks")


def hash_owner(keys, size: int) -> np.ndarray:
    """Deterministic owner rank of integer keys (same on every rank/platform).

    Uses a multiplicative hash (Knuth) on the uint64 value so consecutive ids
    spread evenly; independent of Python's randomised ``hash``.
    """
    k = np.asarray(keys, dtype=np.uint64)
    h = (k * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
    return (h % np.uint64(size)).astype(np.int64)


def string_owner(key: str, size: int) -> int:
    """Deterministic owner of a string key (CRC32, stable across runs)."""
    return zlib.crc32(key.encode("utf-8")) % size


def grid_shape(size: int) -> tuple[int, int]:
    """Most square ``(rows, cols)`` factorisation of ``size`` with rows <= cols."""
    _check(0, size)
    r = int(np.sqrt(size))
    while size % r:
        r -= 1
    return r, size // r


def cyclic_indices(n: int, size: int, rank: int) -> np.ndarray:
    """Indices ``rank, rank + size, ...`` below ``n``: rank's share when item
    j belongs to rank ``j % size`` (empty when ``rank >= n``)."""
    _check(n, size, rank)
    return np.arange(rank, n, size, dtype=np.int64)


def cyclic_owner(index, size: int):
    """Rank owning item ``index`` under :func:`cyclic_indices`."""
    _check(0, size)
    return np.asarray(index, dtype=np.int64) % size
