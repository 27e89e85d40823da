"""Matrix factorisation for the training runtime (``mpiml train mf``), and the
serial model used by ``mpiml predict`` / ``mpiml recommend``.

Factorises a sparse ratings matrix ``V ≈ W Hᵀ`` (users × items, rank ``k``)
by minimising ``Σ_Ω (r_ui − w_u·h_i)² + λ Σ_Ω (‖w_u‖² + ‖h_i‖²)`` with one of
three distributed solvers:

``dsgd``
    stratified SGD with H column blocks rotating between ranks (Gemulla,
    Nijkamp, Haas, Sismanis, KDD 2011), :class:`mpiml.mf.dsgd.DSGD`;
``fugue``
    the same rotation, with extra updates on ranks that wait for a slow one
    (Kumar, Beutel, Ho, Xing, AISTATS 2014);
``als``
    blocked alternating least squares with weighted-λ regularisation (Zhou,
    Wilkinson, Schreiber, Pan, AAIM 2008), :class:`mpiml.mf.als.ALS`.

One runtime iteration is one epoch.  Checkpoints hold W and H as
row-distributed arrays (H re-laid out by item ranges when a rank holds several
column blocks), the raw id maps (``replicated/user_ids``, ``item_ids``; string
ids as UTF-8 fixed-width bytes, because HDF5 has no numpy unicode type), and in
``meta`` the solver state (epoch, step size, seed ...).  Every random stream
is a pure function of the seed and the schedule position, so resuming at the
same rank count continues bit for bit; another rank count re-blocks by reading
hyperslabs of W and H.
"""

from __future__ import annotations

import re
import resource
import sys
import time

import numpy as np

from ..comm.shuffle import shuffle_by_owner
from ..errors import CheckpointError, InputError
from ..io.checkpoint import State
from .data import lookup, read_ratings
from ..partition import block_owner, block_range
from ..runtime.algorithm import Algorithm
from .common import Triplets
from .settings import MFSettings
_INT = re.compile(r"[+-]?\d+")

_BASE_COLUMNS = (("train_rmse", "tr_rmse", "{:.4f}"), ("valid_rmse", "va_rmse", "{:.4f}"))
_SGD_COLUMNS = (("lr", "step", "{:.4g}"),)
_FUGUE_COLUMNS = (("extra_updates", "extra", "{:d}"), ("extra_min", "extra_min", "{:d}"),
                  ("extra_max", "extra_max", "{:d}"))


def encode_ids(ids: np.ndarray) -> tuple[np.ndarray, str]:
    """An id map as an HDF5-storable array and its kind (``"int"`` or ``"str"``)."""
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64), "int"
    return np.char.encode(ids.astype(str), "utf-8"), "str"


def decode_ids(arr: np.ndarray, kind: str) -> np.ndarray:
    """Inverse of :func:`encode_ids`."""
    arr = np.asarray(arr)
    if kind == "int":
        return arr.astype(np.int64)
    return np.char.decode(arr, "utf-8") if arr.dtype.kind == "S" else arr.astype(str)


class MatrixFactorization(Algorithm):
    """Distributed matrix factorisation (DSGD, Fugue or ALS) for the runtime.

    Parameters
    ----------
    settings : MFSettings, or its fields as keywords (``data``, ``fmt``,
        ``solver``, ``k``, ``lam``, ``lr``, ``step_rule``, ``order``,
        ``blocks_per_rank``, ``fugue_*``, ``seed``, ...); see
        :class:`mpiml.mf.settings.MFSettings`.
    """

    name = "mf"
    schema = 1
    partition_what = "ratings"
    Settings = MFSettings

    @property
    def columns(self) -> tuple:
        return _BASE_COLUMNS + (() if self.solver == "als" else _SGD_COLUMNS) + \
            (_FUGUE_COLUMNS if self.solver == "fugue" else ())

    def _make_solver(self):
        from .als import ALS
        from .dsgd import DSGD
        if self.solver == "als":
            return ALS(k=self.k, lam=self.lam, seed=self.seed, dtype=self.dtype)
        return DSGD(k=self.k, lam=self.lam, lr=self.lr, step=self.step_rule, decay=self.decay,
                    order=self.order, blocks_per_rank=self.blocks_per_rank, seed=self.seed,
                    fugue=self.solver == "fugue", fugue_cap=self.fugue_cap, fugue_chunk=self.fugue_chunk,
                    fugue_fixed=self.fugue_fixed, dtype=self.dtype)

    def setup(self, comm) -> int:
        """Collective.  Read and split the ratings, distribute them for the solver,
        initialise the factors; returns this rank's number of training ratings."""
        t0 = time.perf_counter()
        data = read_ratings(comm, self.data, self.fmt, valid_fraction=self.valid_fraction,
                            valid_path=self.valid, seed=self.seed, duplicates=self.duplicates)
        t1 = time.perf_counter()
        self.user_ids_, self.item_ids_ = data.user_ids, data.item_ids
        self.n_duplicates_, self.n_valid_unknown_ = data.n_duplicates, data.n_valid_unknown
        if comm.rank == 0:
            if data.n_duplicates:
                sys.stderr.write(f"mpiml: warning: {data.n_duplicates} duplicate (user, item) rating(s) "
                                 f"merged (--duplicates {self.duplicates})\n")
            if data.n_valid_unknown:
                sys.stderr.write(f"mpiml: warning: {data.n_valid_unknown} validation rating(s) of users "
                                 f"or items absent from the training data were dropped\n")
        tr = data.train
        train = Triplets(tr.users, tr.items, tr.values)
        valid = None if data.valid is None else Triplets(data.valid.users, data.valid.items, data.valid.values)
        self.solver_ = self._make_solver()
        self.solver_.setup(comm, train, data.n_users, data.n_items, valid)
        self.setup_seconds_ = {"read_s": t1 - t0, "prepare_s": time.perf_counter() - t1}
        self._note()
        self.extra_total_ = 0
        self.last_ = {}
        return int(train.users.size)

    def _note(self) -> None:
        """The banner's addition to the partition line: factor type and blocking."""
        s = self.solver_
        self.partition_note = f"factors {self.dtype}" + ("" if self.solver == "als" else f", {s.blocks_note_}")

    def initialize(self, comm) -> None:
        """Nothing to do: the solver initialised its factors in :meth:`setup`."""

    # ------------------------------------------------------------- iteration
    def step(self, comm, iteration: int, straggler) -> dict:
        """Collective.  One epoch of the solver; the progress-table metrics."""
        s = self.solver_
        rec = s.run_epoch(straggle=straggler.delay)
        va = rec["valid_rmse"] if s.n_valid_ else None
        out = {"objective": float(rec["objective"]), "train_rmse": float(rec["train_rmse"]),
               "valid_rmse": None if va is None else float(va)}
        if self.solver != "als":
            out["lr"] = float(rec["lr"])
        if self.solver == "fugue":
            per_rank = np.asarray(rec["extra_updates"]).sum(axis=0)
            out.update(extra_updates=int(per_rank.sum()), extra_min=int(per_rank.min()),
                       extra_max=int(per_rank.max()), extra_per_rank=[int(x) for x in per_rank])
            if "fugue_wait_seconds" in rec:   # seconds per rank, summed over the sub-epochs
                out.update(fugue_wait_per_rank=[float(x) for x in rec["fugue_wait_seconds"].sum(axis=0)],
                           fugue_own_per_rank=[float(x) for x in rec["fugue_own_seconds"].sum(axis=0)])
            self.extra_total_ += int(per_rank.sum())
        self.last_ = {key: out[key] for key in ("objective", "train_rmse", "valid_rmse")}
        if self.target_rmse is not None and va is not None and va <= self.target_rmse:
            self.converged_ = True
        return out

    def finish(self, comm) -> dict:
        """Collective.  Summary of the run: the same numbers on every rank, with
        each rank's setup phases (reading the file with its id maps and split;
        distributing and blocking)
        and peak resident set size (``ru_maxrss``, kB on Linux)."""
        s = self.solver_
        mine = (self.setup_seconds_["read_s"], self.setup_seconds_["prepare_s"],
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
        per_rank = comm.allgather_obj(mine, kind="mf:finish")
        return {"read_s": [p[0] for p in per_rank], "prepare_s": [p[1] for p in per_rank],
                "peak_rss_mb": [p[2] for p in per_rank], "dtype": self.dtype,
                "blocks_per_rank": None if self.solver == "als" else int(s.blocks_per_rank_),
                "solver": self.solver, "epochs": int(s.epoch_), "k": self.k,
                "n_users": int(self.user_ids_.size), "n_items": int(self.item_ids_.size),
                "n_train": int(s.n_train_), "n_valid": None if s.n_valid_ is None else int(s.n_valid_),
                "n_duplicates": int(self.n_duplicates_), "extra_updates": int(self.extra_total_),
                **self.last_}

    # ------------------------------------------------------------ checkpoint
    def state(self, comm, iteration: int) -> State:
        """Collective.  W and H by rows, id maps, solver state."""
        s = self.solver_
        lf = s.local_factors()
        n = {"W": int(self.user_ids_.size), "H": int(self.item_ids_.size)}
        dist = {}
        for name in ("W", "H"):
            pieces = lf[name]
            if name == "H" and self.solver != "als" and self.solver_.blocks_per_rank_ > 1:
                lo, rows = _relayout(comm, pieces, n[name], self.k)
            else:
                lo, rows = pieces[0]
            dist[name] = (rows, lo, n[name])
        users, ukind = encode_ids(self.user_ids_)
        items, ikind = encode_ids(self.item_ids_)
        meta = {"solver": self.solver, "k": self.k, "solver_state": s.state_dict(),
                "user_id_kind": ukind, "item_id_kind": ikind, "last": self.last_,
                "extra_total": self.extra_total_}
        return State(iteration=iteration, replicated={"user_ids": users, "item_ids": items},
                     distributed=dist, meta=meta)

    def _check_model(self, ckpt) -> None:
        meta = ckpt.meta
        for what, mine in (("user", self.user_ids_), ("item", self.item_ids_)):
            theirs = decode_ids(ckpt.replicated(f"{what}_ids"), meta.get(f"{what}_id_kind", "int"))
            if not (theirs.shape == mine.shape and theirs.dtype.kind == mine.dtype.kind
                    and np.array_equal(theirs, mine)):
                raise CheckpointError(f"{ckpt.dir}: the model has {theirs.size} {what}s, {self.data} has "
                                      f"{mine.size}, or their ids differ (was the data changed?)")
        k = ckpt.distributed_shape("W")[1]
        if k != self.k:
            raise CheckpointError(f"{ckpt.dir}: the model has rank {k}, --rank is {self.k}")

    def resume_conflicts(self, stored: dict, config: dict | None = None) -> list[str]:
        """The settings' resume guard, with two MF rules: a checkpoint written
        before ``--dtype`` existed holds DSGD/Fugue factors in float32 and ALS
        factors in float64 (what those versions computed in), and
        ``--blocks-per-rank auto`` continues with the checkpoint's blocking
        (which :meth:`restore` keeps), while an explicit B must equal the
        checkpoint's."""
        if "dtype" not in stored:
            stored = {**stored, "dtype": "float64" if stored.get("solver") == "als" else "float32"}
        out = self.settings.resume_conflicts(stored)
        if self.blocks_per_rank == "auto":
            out = [c for c in out if not c.startswith("--blocks-per-rank ")]
        return out

    def restore(self, comm, ckpt) -> None:
        """Continue the run in ``ckpt`` (bit-identical at the same rank count)."""
        self._check_model(ckpt)
        written = ckpt.arrays.get("distributed/W", {}).get("dtype")
        if written is not None and np.dtype(written) != np.dtype(self.dtype):
            raise CheckpointError(f"{ckpt.dir}: the factors were written in {np.dtype(written).name}, "
                                  f"--dtype is {self.dtype} (give --dtype {np.dtype(written).name})")
        self.solver_.load_state(ckpt.meta["solver_state"], ckpt.read_rows)
        if self.solver != "als":
            self._note()
        self.last_ = dict(ckpt.meta.get("last", {}))
        self.extra_total_ = int(ckpt.meta.get("extra_total", 0))

    def warm_start(self, comm, ckpt) -> None:
        """A new run (epoch 0, fresh step size) from ``ckpt``'s W and H; any solver."""
        self._check_model(ckpt)
        s = self.solver_
        state = {"epoch": 0}
        if self.solver != "als":
            state["step"] = s.step_.state()
        s.load_state(state, ckpt.read_rows)
        self.converged_ = False


def _relayout(comm, pieces, n_total: int, k: int):
    """Collective.  Move row pieces ``[(global lo, rows), ...]`` so that every
    rank holds the contiguous rows ``block_range(n_total, size, rank)``."""
    lo, hi = block_range(n_total, comm.size, comm.rank)
    dtype = pieces[0][1].dtype if pieces else np.float32
    idx = np.concatenate([np.arange(a, a + len(r), dtype=np.int64) for a, r in pieces] or
                         [np.empty(0, np.int64)])
    rows = np.concatenate([r for _, r in pieces] or [np.empty((0, k), dtype)]).astype(dtype, copy=False)
    owner = block_owner(idx, n_total, comm.size) if idx.size else np.empty(0, np.int64)
    got_idx, got_rows = shuffle_by_owner(comm, owner, idx, rows, kind="mf:ckpt-relayout")
    out = np.empty((hi - lo, k), dtype)
    out[got_idx - lo] = got_rows.reshape(-1, k)
    return lo, out


# ------------------------------------------------------------ serial model
def dense_index(ids: np.ndarray, raw) -> np.ndarray:
    """Positions of raw ids (numbers or text tokens) in a sorted id map, ``-1``
    where unknown; a token that is not an integer is unknown to integer ids."""
    raw = np.asarray(raw)
    if ids.dtype.kind not in "iu":
        return lookup(ids, raw.astype(str))
    if raw.dtype.kind in "iu":
        return lookup(ids, raw.astype(np.int64))
    tok = raw.astype(str)
    ok = np.array([bool(_INT.fullmatch(t)) for t in tok], dtype=bool)
    vals = np.zeros(tok.size, np.int64)
    vals[ok] = [int(t) for t in tok[ok]]
    return np.where(ok, lookup(ids, vals), -1)


class FactorModel:
    """A trained factorisation for scoring (serial, no MPI).

    ``W`` (users × k) and ``H`` (items × k) in float64; ``user_ids`` /
    ``item_ids`` map dense rows to raw ids (sorted).
    """

    def __init__(self, W, H, user_ids, item_ids, path=None):
        self.W, self.H = np.asarray(W, np.float64), np.asarray(H, np.float64)
        self.user_ids, self.item_ids, self.path = user_ids, item_ids, path

    @classmethod
    def from_checkpoint(cls, ckpt) -> "FactorModel":
        """Load from an open :class:`mpiml.io.ckpt_read.Checkpoint` of ``mf``."""
        if ckpt.algorithm != "mf":
            raise CheckpointError(f"{ckpt.dir} is a checkpoint of {ckpt.algorithm!r}, not 'mf'")
        m = ckpt.meta
        return cls(ckpt.read_rows("W"), ckpt.read_rows("H"),
                   decode_ids(ckpt.replicated("user_ids"), m.get("user_id_kind", "int")),
                   decode_ids(ckpt.replicated("item_ids"), m.get("item_id_kind", "int")), ckpt.dir)

    def user_index(self, raw) -> np.ndarray:
        """Dense rows of raw user ids, ``-1`` where unknown."""
        return dense_index(self.user_ids, raw)

    def item_index(self, raw) -> np.ndarray:
        """Dense rows of raw item ids, ``-1`` where unknown."""
        return dense_index(self.item_ids, raw)

    def predict(self, users_raw, items_raw) -> np.ndarray:
        """Scores ``w_u · h_i`` for raw id pairs; NaN where a user or item is unknown."""
        u, i = self.user_index(users_raw), self.item_index(items_raw)
        out = np.full(u.size, np.nan)
        ok = (u >= 0) & (i >= 0)
        out[ok] = np.einsum("ij,ij->i", self.W[u[ok]], self.H[i[ok]])
        return out

    def recommend(self, user_raw, top: int, exclude=()) -> tuple[np.ndarray, np.ndarray]:
        """The ``top`` items with the highest score for one raw user id, best
        first (ties by item order), skipping dense item indices in ``exclude``.
        Returns ``(raw item ids, scores)``."""
        u = int(self.user_index([user_raw])[0])
        if u < 0:
            raise InputError(f"user {user_raw!r} is not in the model ({self.user_ids.size} users)", self.path)
        scores = self.H @ self.W[u]
        keep = np.ones(scores.size, bool)
        keep[np.asarray(list(exclude), dtype=np.int64)] = False
        cand = np.flatnonzero(keep)
        order = cand[np.lexsort((cand, -scores[cand]))][:max(int(top), 0)]
        return self.item_ids[order], scores[order]
