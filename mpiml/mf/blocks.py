"""Pure data layout for blocked matrix factorisation.

Users (rows) and items (columns) are first split over ranks with
:func:`mpiml.partition.block_range`; each rank's share is then split into
``blocks_per_rank`` blocks.  So rank ``r`` owns the same users whatever
``blocks_per_rank`` is (ALS and DSGD agree on who owns a W row), and the
column blocks ``g·b … g·b+b−1`` form COWOR's group ``g``.

Within a block the ratings are sorted by (user, item): that canonical order
is what makes a block's seeded shuffle, and hence the whole model,
independent of how the data arrived.  Re-blocking for another rank count is
:func:`split_by_owner` (who gets what) followed by :func:`make_blocks` with the
new layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..comm.shuffle import split_by_owner  # noqa: F401 - re-exported for mf

from ..partition import block_offsets, block_owner, block_range


def _nested_offsets(n: int, n_ranks: int, b: int) -> np.ndarray:
    out = [0]
    for r in range(n_ranks):
        lo, hi = block_range(n, n_ranks, r)
        out.extend((lo + block_offsets(hi - lo, b)[1:]).tolist())
    return np.asarray(out, dtype=np.int64)


@dataclass(frozen=True)
class BlockLayout:
    """Row/column block boundaries for ``n_ranks · blocks_per_rank`` blocks per side."""

    n_users: int
    n_items: int
    n_ranks: int
    blocks_per_rank: int = 1

    @property
    def d(self) -> int:
        return self.n_ranks * self.blocks_per_rank

    @cached_property
    def row_offsets(self) -> np.ndarray:
        return _nested_offsets(self.n_users, self.n_ranks, self.blocks_per_rank)

    @cached_property
    def col_offsets(self) -> np.ndarray:
        return _nested_offsets(self.n_items, self.n_ranks, self.blocks_per_rank)

    def user_range(self, rank: int) -> tuple[int, int]:
        """Users (W rows) owned by ``rank``."""
        return block_range(self.n_users, self.n_ranks, rank)

    def item_range(self, rank: int) -> tuple[int, int]:
        """Items owned by ``rank`` for ALS (DSGD's H blocks move)."""
        return block_range(self.n_items, self.n_ranks, rank)

    def user_owner(self, users) -> np.ndarray:
        return np.asarray(block_owner(np.asarray(users, dtype=np.int64), self.n_users, self.n_ranks))

    def item_owner(self, items) -> np.ndarray:
        return np.asarray(block_owner(np.asarray(items, dtype=np.int64), self.n_items, self.n_ranks))

    def row_block_of(self, users) -> np.ndarray:
        return np.searchsorted(self.row_offsets, np.asarray(users), side="right") - 1

    def col_block_of(self, items) -> np.ndarray:
        return np.searchsorted(self.col_offsets, np.asarray(items), side="right") - 1

    def col_block_range(self, j: int) -> tuple[int, int]:
        off = self.col_offsets
        return int(off[j]), int(off[j + 1])

    def row_block_range(self, i: int) -> tuple[int, int]:
        off = self.row_offsets
        return int(off[i]), int(off[i + 1])


@dataclass
class RatingBlocks:
    """One rank's ratings cut into (own row block, column block) blocks.

    ``users`` are relative to the rank's first user, ``items`` relative to the
    first item of the rating's column block; block ``(x, j)`` (``x`` the
    rank-local row block, ``j`` the global column block) is
    ``slice(ptr[x, j], ptr[x, j + 1])``.
    """

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    ptr: np.ndarray
    user_lo: int
    first_row_block: int

    def block(self, row_block: int, col_block: int):
        """``(users, items, values)`` views of global block ``(row_block, col_block)``."""
        x = row_block - self.first_row_block
        lo, hi = self.ptr[x, col_block], self.ptr[x, col_block + 1]
        return self.users[lo:hi], self.items[lo:hi], self.values[lo:hi]

    def nnz(self, row_block: int, col_block: int) -> int:
        x = row_block - self.first_row_block
        return int(self.ptr[x, col_block + 1] - self.ptr[x, col_block])

    @property
    def max_block_nnz(self) -> int:
        return int(np.diff(self.ptr, axis=1).max(initial=0))


def make_blocks(users, items, values, layout: BlockLayout, rank: int,
                value_dtype=np.float32) -> RatingBlocks:
    """Block ``rank``'s ratings (all users must be in ``layout.user_range(rank)``)."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    lo, hi = layout.user_range(rank)
    if users.size and (users.min() < lo or users.max() >= hi):
        raise ValueError(f"rank {rank} was given users outside its range [{lo}, {hi})")
    b, d = layout.blocks_per_rank, layout.d
    x = layout.row_block_of(users) - rank * b
    j = layout.col_block_of(items)
    key = x * d + j
    n_local, n_items = max(hi - lo, 1), max(layout.n_items, 1)
    if b * d * n_local * n_items < 2 ** 62:
        # One int64 sort key (block, user, item) instead of a three-key lexsort
        # (~5x faster); both give the (block, user, item) order, ties cannot occur
        # between different (user, item) pairs.
        order = np.argsort((key * n_local + (users - lo)) * n_items + items, kind="stable")
    else:
        order = np.lexsort((items, users, key))
    counts = np.bincount(key, minlength=b * d) if key.size else np.zeros(b * d, np.int64)
    ptr = np.zeros((b, d + 1), dtype=np.int64)
    flat = np.concatenate([[0], np.cumsum(counts)])
    for xx in range(b):
        ptr[xx] = flat[xx * d: xx * d + d + 1]
    col_lo = layout.col_offsets[:-1]
    return RatingBlocks(
        users=(users[order] - lo).astype(np.int32),
        items=(items[order] - col_lo[j[order]]).astype(np.int32),
        values=np.asarray(values)[order].astype(value_dtype),
        ptr=ptr, user_lo=lo, first_row_block=rank * b)


def csr_by_row(rows, cols, values, n_rows: int):
    """CSR ``(indptr, cols, values)`` sorted by (row, col) for local rows 0..n_rows-1."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr, cols[order], np.asarray(values, dtype=np.float64)[order]


# ------------------------------------------------------- automatic blocking
DEFAULT_L2_BYTES = 1 << 20
_SYS_CACHE = "/sys/devices/system/cpu/cpu0/cache"


def l2_cache_bytes(root: str = _SYS_CACHE) -> int | None:
    """Size in bytes of cpu0's level-2 data/unified cache from Linux sysfs
    (``index*/level`` and ``index*/size``, e.g. ``2048K``), or None if absent."""
    import glob
    import os
    for d in sorted(glob.glob(os.path.join(root, "index*"))):
        try:
            with open(os.path.join(d, "level")) as f:
                level = f.read().strip()
            with open(os.path.join(d, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(d, "size")) as f:
                text = f.read().strip()
        except OSError:
            continue
        if level != "2" or kind not in ("Unified", "Data"):
            continue
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
        digits = text[:-1] if text[-1:].isalpha() else text
        if digits.isdigit() and int(digits) > 0:
            return int(digits) * mult
    return None


def auto_blocks_per_rank(n_users: int, n_items: int, n_ranks: int, k: int, itemsize: int,
                         cache_bytes: int) -> tuple[int, str]:
    """The smallest ``blocks_per_rank`` B whose blocks' factor rows fit half
    the cache, and a one-line reason.

    A block's SGD pass reads and writes each of its W rows and H rows many
    times in random order; the update is memory-bound unless those rows stay
    in the core's private L2.  A block touches ``ceil(n_users / (P·B))`` W rows
    and ``ceil(n_items / (P·B))`` H rows of ``k · itemsize`` bytes each; half
    the L2 is the budget because the block's ratings (12-16 bytes each,
    streamed through a shuffled copy) pass through the same cache.  B is
    capped so that every row block holds at least one user and item.
    """
    P = max(int(n_ranks), 1)
    row = int(k) * int(itemsize)
    budget = max(int(cache_bytes) // 2, row)

    def need(b):
        return (-(-n_users // (P * b)) + -(-n_items // (P * b))) * row

    cap = max(1, min(n_users, n_items) // P)
    b = 1
    while b < cap and need(b) > budget:
        b += 1
    why = (f"auto: a block's W+H rows take {need(b) / 1024:.0f} KiB of k={k} x {itemsize} B, "
           f"budget {budget / 1024:.0f} KiB = half the {cache_bytes / 1024:.0f} KiB L2")
    if need(b) > budget:
        why += f" (capped at {cap}: one user/item per block)"
    return b, why
