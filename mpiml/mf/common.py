"""Pieces shared by the MF solvers: triplet containers, data redistribution,
rank-count-independent factor initialisation, seeds and step-size rules."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..errors import ConfigError, InputError
from ..comm.shuffle import shuffle_by_owner

Triplets = namedtuple("Triplets", "users items values")
Triplets.__doc__ = "Ratings as parallel arrays: dense user ids, dense item ids, values."

_MASK = 0xFFFFFFFFFFFFFFFF


def as_triplets(obj) -> Triplets:
    """Accept a :class:`Triplets`, anything with ``users/items/values`` or a 3-tuple."""
    if obj is None:
        return None
    if hasattr(obj, "users"):
        u, i, v = obj.users, obj.items, obj.values
    else:
        u, i, v = obj
    return Triplets(np.asarray(u, dtype=np.int64), np.asarray(i, dtype=np.int64),
                    np.asarray(v, dtype=np.float64))


def agree_valid(comm, valid):
    """Collective.  Validation data is used if any rank has some; ranks without
    it then contribute an empty share (so every rank makes the same calls)."""
    flag = comm.allreduce(np.array([0 if valid is None else 1], np.int64), op="max",
                          kind="mf:stats")[0]
    if not flag:
        return None
    return valid if valid is not None else Triplets(np.empty(0, np.int64), np.empty(0, np.int64),
                                                    np.empty(0, np.float64))


def check_triplets(t: Triplets, n_users: int, n_items: int, what: str = "ratings") -> None:
    """Raise InputError if ids are out of range or values are not finite (local check)."""
    if not (t.users.shape == t.items.shape == t.values.shape) or t.users.ndim != 1:
        raise InputError(f"{what}: users, items and values must be 1-D arrays of one length")
    if t.users.size:
        if t.users.min() < 0 or t.users.max() >= n_users:
            raise InputError(f"{what}: user id outside [0, {n_users})")
        if t.items.min() < 0 or t.items.max() >= n_items:
            raise InputError(f"{what}: item id outside [0, {n_items})")
        if not np.all(np.isfinite(t.values)):
            raise InputError(f"{what}: NaN or infinite rating")


def redistribute(comm, t: Triplets, owner: np.ndarray, kind: str = "mf:shuffle") -> Triplets:
    """Collective.  Send every rating to rank ``owner[t]``; returns what this rank owns."""
    return Triplets(*shuffle_by_owner(comm, owner, t.users, t.items, t.values, kind=kind))


def block_seed(seed: int, *key: int) -> np.uint64:
    """A 64-bit seed derived from ``seed`` and a key (epoch, block, ...)."""
    ss = np.random.SeedSequence([int(seed) & _MASK, *(int(k) for k in key)])
    return ss.generate_state(1, np.uint64)[0]


def hashed_uniform(seed: int, tag: int, lo: int, hi: int, k: int) -> np.ndarray:
    """Uniform [0, 1) values for rows ``lo..hi-1`` of a ``· × k`` matrix, each a
    pure function of (seed, tag, row, col): the same on any rank count."""
    key = np.uint64(block_seed(seed, tag))
    idx = np.arange(lo, hi, dtype=np.uint64)[:, None] * np.uint64(k) + np.arange(k, dtype=np.uint64)
    z = idx * np.uint64(0x9E3779B97F4A7C15) + key
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0 ** 53)


USER_TAG, ITEM_TAG = 101, 202


def init_factor_rows(seed: int, which: str, lo: int, hi: int, k: int, scale: float,
                     dtype=np.float32) -> np.ndarray:
    """Initial rows ``lo..hi-1`` of W (``which="W"``) or H: ``scale · U(0, 1)``."""
    tag = USER_TAG if which == "W" else ITEM_TAG
    return np.ascontiguousarray((scale * hashed_uniform(seed, tag, lo, hi, k)).astype(dtype))


def default_init_scale(sum_sq: float, count: int, k: int) -> float:
    """Scale s such that U(0, s) factors give E[w·h] = RMS rating (k s²/4 = rms)."""
    rms = np.sqrt(sum_sq / count) if count else 1.0
    return float(2.0 * np.sqrt(max(rms, 1e-3) / k))


def ordered_totals(comm, local: dict, width: int, kind: str = "mf:totals") -> np.ndarray:
    """Collective.  Sum per-key float tuples over all ranks in sorted-key order.

    Every rank gets the same bits whatever the rank count or MPI reduction
    algorithm, and a serial loop over the keys in order reproduces them.
    """
    merged: dict = {}
    for part in comm.allgather_obj(local, kind=kind):
        merged.update(part)
    tot = [0.0] * width
    for key in sorted(merged):
        for a in range(width):
            tot[a] += float(merged[key][a])
    return np.asarray(tot)


class StepSize:
    """Step-size rule: ``"adaptive"`` (``lr`` is the base step eta0 of the
    per-row rule ``eta0 / sqrt(G_row)``; the accumulators live with the
    factor rows, see :func:`mpiml.mf.kernels.sgd_block_rows`, so the epoch
    step itself stays ``lr``), ``"bold"`` driver (×``up`` after the objective
    fell, ×``down`` after it rose; Gemulla et al. 2011), ``"fixed"``, or
    ``"decay"`` (``lr / (1 + decay · epoch)``).  Its state is part of a
    checkpoint."""

    RULES = ("adaptive", "bold", "fixed", "decay")

    def __init__(self, lr: float, rule: str = "bold", decay: float = 0.0,
                 up: float = 1.05, down: float = 0.5):
        if rule not in self.RULES:
            raise ConfigError(f"unknown step-size rule {rule!r}; choose one of {', '.join(self.RULES)}")
        if not lr > 0:
            raise ConfigError(f"learning rate must be > 0, got {lr}")
        self.lr0, self.rule, self.decay, self.up, self.down = float(lr), rule, float(decay), up, down
        self.lr = float(lr)
        self.prev = None

    def current(self, epoch: int) -> float:
        if self.rule == "decay":
            return self.lr0 / (1.0 + self.decay * epoch)
        return self.lr

    def update(self, objective: float) -> None:
        """Feed the objective reached at the end of an epoch."""
        if self.rule == "bold" and self.prev is not None:
            self.lr *= self.up if objective < self.prev else self.down
        self.prev = float(objective)

    def state(self) -> dict:
        return {"lr": self.lr, "prev": self.prev}

    def load(self, state: dict) -> None:
        self.lr = float(state["lr"])
        self.prev = None if state["prev"] is None else float(state["prev"])
