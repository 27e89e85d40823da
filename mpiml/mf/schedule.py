"""Stratum schedules for DSGD and Fugue, as pure functions.

The ratings matrix is cut into ``d × d`` blocks, ``d = n_ranks ·
blocks_per_rank``; rank ``r`` owns row blocks ``r·b … r·b+b−1`` (and the
matching rows of W, which never move).  A *stratum* assigns one column block
to every row block so that no two row blocks share a column block; during a
sub-epoch every rank runs SGD on its ``b`` blocks of the stratum, which are
interchangeable between ranks because they share no rows or columns (Gemulla,
Nijkamp, Haas, Sismanis, KDD 2011).  An epoch is ``d`` sub-epochs.

Orders (the names of the authors' code):

SEQ
    the base Latin square, column block ``(i + s) mod d`` for row block ``i``
    at sub-epoch ``s``.
RSEQ
    SEQ after one random relabelling of row and column blocks (fixed for the
    whole run).
WR
    every sub-epoch draws one of the ``d`` strata of the base square with
    replacement (an epoch need not cover every block).
WOR
    rows and columns of the Latin square shuffled afresh each epoch (default).
COWOR
    WOR over the ``n_ranks × n_ranks`` square of *groups* (a rank's ``b`` row
    blocks, ``b`` consecutive column blocks); a group visit is ``b``
    sub-epochs on a shuffled local ``b × b`` Latin square, so column blocks
    move only every ``b`` sub-epochs, all ``b`` at once.

Everything is a function of ``(seed, epoch, sub_epoch)``: a resumed run needs
only the seed and the position, and every rank computes every other rank's
assignment without talking to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import ConfigError

ORDERS = ("SEQ", "RSEQ", "WR", "WOR", "COWOR")

_TAGS = {"RSEQ": 1, "WR": 2, "WOR": 3, "COWOR": 4}


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, *map(int, key)])


@dataclass(frozen=True)
class Moves:
    """Column blocks to move after a sub-epoch.

    ``sends[dest]`` / ``recvs[source]`` list column block ids in increasing
    order; blocks that stay on this rank are not listed.
    """

    sends: dict
    recvs: dict


@dataclass(frozen=True)
class Schedule:
    """Pure stratum schedule for ``n_ranks`` ranks.

    Parameters
    ----------
    order : {"SEQ", "RSEQ", "WR", "WOR", "COWOR"}
    n_ranks : int
    blocks_per_rank : int
        ``b``; the matrix has ``d = n_ranks · b`` row and column blocks.
    seed : int
    """

    order: str = "WOR"
    n_ranks: int = 1
    blocks_per_rank: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ConfigError(f"unknown stratum order {self.order!r}; choose one of {', '.join(ORDERS)}")
        if self.n_ranks < 1 or self.blocks_per_rank < 1:
            raise ConfigError("n_ranks and blocks_per_rank must be >= 1")

    # ------------------------------------------------------------ geometry
    @property
    def d(self) -> int:
        """Number of row (and column) blocks."""
        return self.n_ranks * self.blocks_per_rank

    @property
    def n_sub(self) -> int:
        """Sub-epochs per epoch."""
        return self.d

    def row_blocks(self, rank: int) -> range:
        """Row blocks owned by ``rank``."""
        b = self.blocks_per_rank
        return range(rank * b, (rank + 1) * b)

    def next_position(self, epoch: int, sub: int) -> tuple[int, int]:
        """The sub-epoch after ``(epoch, sub)``."""
        return (epoch, sub + 1) if sub + 1 < self.n_sub else (epoch + 1, 0)

    # ------------------------------------------------------------- strata
    def stratum(self, epoch: int, sub: int) -> np.ndarray:
        """Column block of every row block at ``(epoch, sub)`` (a permutation of 0..d-1)."""
        if not 0 <= sub < self.n_sub or epoch < 0:
            raise ValueError(f"position ({epoch}, {sub}) outside the schedule")
        return _stratum(self.order, self.n_ranks, self.blocks_per_rank, self.seed, epoch, sub).copy()

    def work(self, epoch: int, sub: int, rank: int) -> list[tuple[int, int]]:
        """``(row_block, col_block)`` pairs ``rank`` updates at ``(epoch, sub)``."""
        cols = _stratum(self.order, self.n_ranks, self.blocks_per_rank, self.seed, epoch, sub)
        return [(i, int(cols[i])) for i in self.row_blocks(rank)]

    def held(self, epoch: int, sub: int, rank: int) -> list[int]:
        """Column blocks (H blocks) that ``rank`` holds during ``(epoch, sub)``, sorted."""
        return sorted(c for _, c in self.work(epoch, sub, rank))

    def holders(self, epoch: int, sub: int) -> np.ndarray:
        """Rank holding each column block during ``(epoch, sub)``."""
        cols = _stratum(self.order, self.n_ranks, self.blocks_per_rank, self.seed, epoch, sub)
        out = np.empty(self.d, dtype=np.int64)
        out[cols] = np.arange(self.d) // self.blocks_per_rank
        return out

    def moves(self, epoch: int, sub: int, rank: int) -> Moves:
        """H blocks ``rank`` sends and receives between ``(epoch, sub)`` and the next sub-epoch.

        One point-to-point exchange realises it; with ``blocks_per_rank = 1``
        each rank has at most one destination and one source (see
        :meth:`partner`), but the pattern is a permutation, not a fixed ring.
        """
        now = self.holders(epoch, sub)
        nxt = self.holders(*self.next_position(epoch, sub))
        sends: dict = {}
        recvs: dict = {}
        for c in range(self.d):
            a, b = int(now[c]), int(nxt[c])
            if a == b:
                continue
            if a == rank:
                sends.setdefault(b, []).append(c)
            if b == rank:
                recvs.setdefault(a, []).append(c)
        return Moves(sends, recvs)

    def partner(self, epoch: int, sub: int, rank: int) -> tuple[int, int]:
        """``(dest, source)`` for the H-block exchange after ``(epoch, sub)`` when
        ``blocks_per_rank == 1``; ``(rank, rank)`` when the block stays."""
        if self.blocks_per_rank != 1:
            raise ValueError("partner() needs blocks_per_rank == 1; use moves()")
        m = self.moves(epoch, sub, rank)
        dest = next(iter(m.sends), rank)
        source = next(iter(m.recvs), rank)
        return dest, source


@lru_cache(maxsize=4096)
def _stratum(order: str, P: int, b: int, seed: int, epoch: int, sub: int) -> np.ndarray:
    d = P * b
    rows = np.arange(d)
    if order == "SEQ":
        out = (rows + sub) % d
    elif order == "RSEQ":
        g = _rng(seed, _TAGS[order])
        alpha, gamma = g.permutation(d), g.permutation(d)
        out = gamma[(alpha + sub) % d]
    elif order == "WR":
        shift = int(_rng(seed, _TAGS[order], epoch, sub).integers(d))
        out = (rows + shift) % d
    elif order == "WOR":
        g = _rng(seed, _TAGS[order], epoch)
        alpha, beta = g.permutation(d), g.permutation(d)
        out = (alpha + beta[sub]) % d
    else:  # COWOR
        g = _rng(seed, _TAGS[order], epoch)
        alpha, beta = g.permutation(P), g.permutation(P)
        visit, t = divmod(sub, b)
        out = np.empty(d, dtype=np.int64)
        for r in range(P):
            group = (alpha[r] + beta[visit]) % P
            delta = _rng(seed, _TAGS[order], epoch, visit, r).permutation(b)
            x = np.arange(b)
            out[r * b + x] = group * b + (x + delta[t]) % b
    out = np.asarray(out, dtype=np.int64)
    out.setflags(write=False)
    return out
