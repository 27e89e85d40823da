"""Ratings prepared for matrix factorisation: dense id maps, duplicates,
the validation split, and distribution by user.

Raw ids (from :func:`mpiml.io.ratings.read_raw_ratings`) are mapped to dense
indices ``0..n-1`` in sorted raw-id order, identically on every rank and for
every rank count.  The maps (``user_ids``, ``item_ids``: dense → raw) belong
with the saved model.

Duplicate (user, item) pairs, policy ``duplicates``:

``last`` (default)
    the entry on the latest line wins (a re-rating replaces the earlier one);
    the number of dropped entries is returned as ``n_duplicates`` so the caller
    can print a warning.
``first`` / ``mean``
    keep the earliest entry / the mean of all entries.
``error``
    :class:`~mpiml.errors.InputError` naming both lines.

Train/validation split: with ``valid_fraction`` a rating goes to validation
iff a hash of (dense user, dense item, seed) falls below the fraction — the
same split for any rank count.  Alternatively ``valid_path`` names a separate
file (same format); its ratings of users or items absent from the training
data are dropped and counted (``n_valid_unknown``).

The result is distributed by user: rank ``r`` holds the ratings of users
``partition.block_range(n_users, size, r)``, which is where the MF solvers
want them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InputError
from ..io.ratings import read_raw_ratings
from ..partition import block_owner

DUPLICATES = ("last", "first", "mean", "error")


@dataclass
class Ratings:
    """This rank's ratings: dense ids, values, and global line (row) numbers."""

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    lines: np.ndarray


@dataclass
class RatingsData:
    """What :func:`read_ratings` returns (``train``/``valid`` distributed by user)."""

    train: Ratings
    valid: Ratings | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    n_duplicates: int = 0
    n_valid_unknown: int = 0

    @property
    def n_users(self) -> int:
        return int(self.user_ids.size)

    @property
    def n_items(self) -> int:
        return int(self.item_ids.size)


def lookup(ids: np.ndarray, raw) -> np.ndarray:
    """Dense indices of raw ids in a sorted id map, ``-1`` where unknown."""
    raw = np.asarray(raw, dtype=ids.dtype if ids.dtype.kind != "U" else str)
    pos = np.searchsorted(ids, raw)
    ok = pos < ids.size
    ok[ok] = ids[pos[ok]] == raw[ok]
    return np.where(ok, pos, -1)


def _global_ids(comm, local: np.ndarray, kind: str) -> np.ndarray:
    """Collective.  Sorted union of every rank's raw ids."""
    mine = np.unique(local)
    if kind == "int":
        return np.unique(np.concatenate(comm.allgather_array(mine.astype(np.int64), kind="read:ids")))
    parts = comm.allgather_obj(mine.tolist(), kind="read:ids")
    return np.unique(np.array([x for p in parts for x in p], dtype=str))


def _by_user_owner(comm, r: Ratings, n_users: int) -> Ratings:
    """Collective.  Move every rating to the rank owning its user."""
    from ..comm.shuffle import shuffle_by_owner
    owner = block_owner(r.users, n_users, comm.size) if r.users.size else np.empty(0, np.int64)
    return Ratings(*shuffle_by_owner(comm, owner, r.users, r.items, r.values, r.lines, kind="read:shuffle"))


def _dedupe(r: Ratings, policy: str, path, ids) -> tuple[Ratings, int]:
    """Apply the duplicate policy to ratings that are all on their user's rank."""
    key = r.users * np.int64(max(len(ids[1]), 1)) + r.items
    if np.all(r.lines[1:] > r.lines[:-1]):      # usual: arrived in line order, so a stable
        order = np.argsort(key, kind="stable")  # sort keeps equal pairs in line order
    else:
        order = np.lexsort((r.lines, key))
    u, i, v, ln = r.users[order], r.items[order], r.values[order], r.lines[order]
    same = (u[1:] == u[:-1]) & (i[1:] == i[:-1])
    n_dup = int(same.sum())
    if not n_dup:
        return Ratings(u, i, v, ln), 0
    if policy == "error":
        a = int(np.flatnonzero(same)[0])
        raise InputError(f"duplicate rating for user {ids[0][u[a]]} and item {ids[1][i[a]]} "
                         f"(first on line {ln[a]}); choose a duplicates policy", path, int(ln[a + 1]))
    first = np.concatenate([[True], ~same])
    last = np.concatenate([~same, [True]])
    if policy == "mean":
        gid = np.cumsum(first) - 1
        v = np.bincount(gid, weights=v) / np.bincount(gid)
        return Ratings(u[first], i[first], v, ln[first]), n_dup
    keep = last if policy == "last" else first
    return Ratings(u[keep], i[keep], v[keep], ln[keep]), n_dup


def split_mask(users, items, n_items: int, fraction: float, seed: int) -> np.ndarray:
    """True for ratings that go to validation: a seeded hash of (user, item)
    below ``fraction`` — independent of how the ratings are distributed."""
    key = np.uint64(np.random.SeedSequence([int(seed) & (2 ** 64 - 1), 31337]).generate_state(1, np.uint64)[0])
    z = np.asarray(users, np.uint64) * np.uint64(n_items) + np.asarray(items, np.uint64)
    z = z * np.uint64(0x9E3779B97F4A7C15) + key
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0 ** 53) < fraction


def _take(r: Ratings, m: np.ndarray) -> Ratings:
    return Ratings(r.users[m], r.items[m], r.values[m], r.lines[m])


def read_ratings(comm, path, fmt: str = "auto", *, valid_fraction: float = 0.0, valid_path=None,
                 seed: int = 0, duplicates: str = "last") -> RatingsData:
    """Collective.  Read ratings, map ids to dense indices, split off validation.

    Parameters
    ----------
    comm : communicator (``rank``, ``size``, ``allgather_obj``, ``allgather_array``,
        ``alltoallv``, ``allreduce``, ``agree``)
    path : file of training ratings (see the module docstring for formats)
    fmt : one of :data:`FORMATS`
    valid_fraction : fraction of ratings held out for validation (hash split)
    valid_path : a separate validation file instead (same format)
    seed : seeds the hash split
    duplicates : one of :data:`DUPLICATES`

    Returns
    -------
    RatingsData
        ``train``/``valid`` hold this rank's users' ratings (dense ids).

    Raises
    ------
    InputError
        on every rank, naming ``file:line``, for unreadable files, malformed
        lines, NaN/infinite ratings, or duplicates under ``duplicates="error"``.
    """
    if duplicates not in DUPLICATES:
        raise ConfigError(f"unknown duplicates policy {duplicates!r}; choose one of {', '.join(DUPLICATES)}")
    if not 0.0 <= valid_fraction < 1.0:
        raise ConfigError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    if valid_fraction and valid_path is not None:
        raise ConfigError("give either a validation fraction or a validation file, not both")
    raw = read_raw_ratings(comm, path, fmt)
    user_ids = _global_ids(comm, raw.users, raw.kind)
    item_ids = _global_ids(comm, raw.items, raw.kind)
    with comm.agree(f"checking {path}"):
        if not user_ids.size:
            raise InputError("no ratings found", path)
    r = Ratings(np.searchsorted(user_ids, raw.users), np.searchsorted(item_ids, raw.items),
                raw.values, raw.lines)
    r = _by_user_owner(comm, r, user_ids.size)
    with comm.agree(f"checking {path} for duplicates"):
        r, n_dup = _dedupe(r, duplicates, path, (user_ids, item_ids))
    valid, n_unknown = None, 0
    if valid_fraction:
        m = split_mask(r.users, r.items, item_ids.size, valid_fraction, seed)
        r, valid = _take(r, ~m), _take(r, m)
    elif valid_path is not None:
        vr = read_raw_ratings(comm, valid_path, fmt, force_str=raw.kind == "str")
        if vr.kind != raw.kind:       # compare as strings when kinds differ
            u_ids, i_ids = user_ids.astype(str), item_ids.astype(str)
            vu, vi = vr.users.astype(str), vr.items.astype(str)
        else:
            u_ids, i_ids, vu, vi = user_ids, item_ids, vr.users, vr.items
        du, di = lookup(u_ids, vu), lookup(i_ids, vi)
        known = (du >= 0) & (di >= 0)
        n_unknown = int((~known).sum())
        valid = _by_user_owner(comm, Ratings(du[known], di[known], vr.values[known], vr.lines[known]),
                               user_ids.size)
        with comm.agree(f"checking {valid_path} for duplicates"):
            valid, n_vdup = _dedupe(valid, duplicates, valid_path, (user_ids, item_ids))
        n_dup += n_vdup
    tot = comm.allreduce(np.array([n_dup, n_unknown], np.int64), kind="read:counts")
    return RatingsData(r, valid, user_ids, item_ids, int(tot[0]), int(tot[1]))
