"""The three schedules built from the prioritiser and the dependency check."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dependency import ConflictGraph
from .priority import round_rng, sample_weighted

KINDS = ("sap", "random", "cyclic")


@dataclass(frozen=True)
class Round:
    """One round's schedule.

    selected : parameters to update together, in schedule order
    n_candidates : candidates drawn (sap) or ``selected.size`` (others)
    n_rejected : candidates dropped by the dependency check
    """

    index: int
    selected: np.ndarray
    n_candidates: int
    n_rejected: int


class Scheduler:
    """Which ``parallel`` parameters (of ``n``) to update in each round.

    Parameters
    ----------
    kind : "sap", "random" or "cyclic"
        ``sap``: draw ``candidates`` parameters by priority (Gumbel top-k),
        keep greedily those without a conflict in ``conflicts``, at most
        ``parallel``.  ``random``: ``parallel`` parameters uniformly without
        replacement (Shotgun; Bradley et al. ICML 2011).  ``cyclic``: the
        next ``parallel`` parameters in index order, wrapping around.
    n : number of parameters
    parallel : parameters per round (at most ``n``)
    seed : random seed
    conflicts : ConflictGraph, for ``sap`` (none: no conflicts)
    candidates : candidates drawn per round for ``sap`` (default 2 x parallel)

    :meth:`plan` is a pure function of ``(seed, round, priorities)``.
    """

    def __init__(self, kind: str, n: int, parallel: int, seed: int = 0,
                 conflicts: ConflictGraph | None = None, candidates: int | None = None):
        if kind not in KINDS:
            raise ValueError(f"schedule must be one of {', '.join(KINDS)}, got {kind!r}")
        if n < 1 or parallel < 1:
            raise ValueError(f"need n >= 1 and parallel >= 1, got n={n}, parallel={parallel}")
        self.kind, self.n, self.seed = kind, int(n), int(seed)
        self.parallel = int(min(parallel, n))
        self.candidates = int(min(n, candidates if candidates else 2 * self.parallel))
        self.conflicts = conflicts if conflicts is not None else ConflictGraph.empty(self.n)
        if self.conflicts.n != self.n:
            raise ValueError(f"conflict graph over {self.conflicts.n} parameters, scheduler has {self.n}")

    @property
    def needs_priorities(self) -> bool:
        return self.kind == "sap"

    def plan(self, round_: int, priorities: np.ndarray | None = None) -> Round:
        """The schedule of round ``round_`` (0-based)."""
        P = self.parallel
        if self.kind == "cyclic":
            sel = (np.int64(round_) * P + np.arange(P, dtype=np.int64)) % self.n
            return Round(round_, sel, P, 0)
        rng = round_rng(self.seed, round_)
        if self.kind == "random":
            sel = np.sort(rng.choice(self.n, size=P, replace=False)).astype(np.int64)
            return Round(round_, sel, P, 0)
        if priorities is None or len(priorities) != self.n:
            raise ValueError("the sap schedule needs one priority per parameter")
        cands = sample_weighted(rng, priorities, self.candidates)
        kept, rejected = self.conflicts.select(cands, P)
        return Round(round_, kept, int(cands.size), rejected)

    def plan_many(self, first: int, count: int) -> np.ndarray:
        """Rounds ``first .. first+count-1`` of a schedule that does not
        depend on priorities, as a ``count x parallel`` array."""
        if self.needs_priorities:
            raise ValueError("sap rounds depend on the priorities after each round; use plan()")
        out = np.empty((count, self.parallel), dtype=np.int64)
        for t in range(count):
            out[t] = self.plan(first + t).selected
        return out
