"""Blocked alternating least squares (the BSP baseline for DSGD/Fugue).

Minimises ``Σ_Ω (r_ui − w_u·h_i)² + λ (Σ_u n_u ‖w_u‖² + Σ_i n_i ‖h_i‖²)``,
the same objective as the SGD solvers, by exact row solves with weighted-λ
regularisation (Zhou, Wilkinson, Schreiber, Pan, AAIM 2008), distributed the
way Spark MLlib's "blocked" ALS is: rank ``r`` owns a block of users (W rows)
and a block of items (H rows); before solving its users it receives exactly
the H rows its ratings reference, from their owners, in one all-to-all (and
symmetrically for items).  Which rows go where is planned once in
:meth:`ALS.setup`.

A row's solve depends only on its ratings (in item order) and the referenced
rows, so any rank count gives the same model bit for bit.  Resume needs only
the epoch counter and H (W is recomputed from H first thing in an epoch; it
is saved as the model).
"""

from __future__ import annotations

import time

import numpy as np

from ..arrays import unique_sorted
from ..errors import ConfigError, NumericalError
from ..partition import block_owner, block_range
from . import kernels
from .blocks import csr_by_row, split_by_owner
from .common import agree_valid, as_triplets, check_triplets, init_factor_rows, redistribute


class RowFetch:
    """Collective plan for receiving given rows of a block-distributed matrix.

    Parameters
    ----------
    comm
    needed : sorted unique global row ids this rank needs
    n_total : number of rows of the matrix (distributed by ``block_range``)
    """

    def __init__(self, comm, needed: np.ndarray, n_total: int, kind: str):
        self.comm, self.kind, self.n_needed = comm, kind, needed.size
        owner = block_owner(needed, n_total, comm.size) if needed.size else np.empty(0, np.int64)
        asks = split_by_owner(owner, comm.size, needed)[0]
        lo = block_range(n_total, comm.size, comm.rank)[0]
        self.serve = [np.asarray(a, dtype=np.int64) - lo
                      for a in comm.alltoallv(asks, kind=kind + ":plan")]

    def fetch(self, local: np.ndarray) -> np.ndarray:
        """Collective.  Rows ``needed`` of the matrix (this rank holds ``local``), in ``needed`` order."""
        k = local.shape[1]
        got = self.comm.alltoallv([local[idx].reshape(-1) for idx in self.serve], kind=self.kind)
        return np.concatenate(got).reshape(self.n_needed, k)


def default_als_scale(comm, values: np.ndarray, n_total: int, k: int) -> float:
    """Collective.  Initial scale from the RMS rating, rounded to 4 digits so that
    reduction order (rank count) cannot change its bits."""
    s = comm.allreduce(np.array([float(np.dot(values, values))]), kind="mf:stats")[0]
    rms = float(np.sqrt(s / n_total)) if n_total else 1.0
    return float(f"{2.0 * np.sqrt(max(rms, 1e-3) / k):.4g}")


class ALS:
    """Blocked ALS with weighted-λ regularisation over all ranks.

    Parameters
    ----------
    k : int
    lam : float
        λ; row ``u`` is regularised by ``λ n_u``.
    seed : int
        Seeds the initial H (``init_scale · U(0, 1)``, rank-count independent).
    init_scale : float or None
    dtype : {"float64", "float32"}
        Type in which W and H are stored, exchanged and checkpointed.  Each
        row is solved in float64 (normal equations accumulated and Cholesky-
        factorised in float64 from the stored rows) and rounded to ``dtype``
        when stored.
    """

    def __init__(self, k: int = 32, lam: float = 0.05, seed: int = 0,
                 init_scale: float | None = None, dtype: str = "float64"):
        self.k, self.lam, self.seed, self.init_scale = k, lam, seed, init_scale
        self.dtype = dtype

    def setup(self, comm, train, n_users: int, n_items: int, valid=None) -> "ALS":
        """Collective.  Distribute ratings by user and by item owner and plan the row exchanges."""
        if self.k < 1 or self.lam <= 0:
            raise ConfigError("ALS needs k >= 1 and lam > 0")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype!r}")
        self.dtype_ = np.dtype(self.dtype)
        self.comm_ = comm
        P = comm.size
        train, valid = as_triplets(train), agree_valid(comm, as_triplets(valid))
        with comm.agree("checking the ratings"):
            check_triplets(train, n_users, n_items, "training ratings")
            if valid is not None:
                check_triplets(valid, n_users, n_items, "validation ratings")
        self.n_users_, self.n_items_ = int(n_users), int(n_items)
        ulo, uhi = self.user_range_ = block_range(n_users, P, comm.rank)
        ilo, ihi = self.item_range_ = block_range(n_items, P, comm.rank)
        by_user = redistribute(comm, train, block_owner(train.users, n_users, P))
        by_item = redistribute(comm, train, block_owner(train.items, n_items, P))
        vby_item = (None if valid is None else
                    redistribute(comm, valid, block_owner(valid.items, n_items, P)))

        need_h = unique_sorted(by_user.items)
        self.user_csr_ = csr_by_row(by_user.users - ulo, np.searchsorted(need_h, by_user.items),
                                    by_user.values, uhi - ulo)
        self.fetch_h_ = RowFetch(comm, need_h, n_items, "mf:als-h")
        vu = np.empty(0, np.int64) if vby_item is None else vby_item.users
        need_w = unique_sorted(np.concatenate([by_item.users, vu]))
        self.item_csr_ = csr_by_row(by_item.items - ilo, np.searchsorted(need_w, by_item.users),
                                    by_item.values, ihi - ilo)
        self.fetch_w_ = RowFetch(comm, need_w, n_users, "mf:als-w")
        indptr, slots, vals = self.item_csr_
        self._loss_train = (slots, np.repeat(np.arange(ihi - ilo), np.diff(indptr)), vals)
        self._loss_valid = None
        if vby_item is not None:
            self._loss_valid = (np.searchsorted(need_w, vby_item.users), vby_item.items - ilo,
                                vby_item.values)
        cnt = comm.allreduce(np.array([by_user.users.size, vu.size], np.int64), kind="mf:stats")
        self.n_train_, self.n_valid_ = int(cnt[0]), (None if valid is None else int(cnt[1]))
        scale = self.init_scale
        if scale is None:
            scale = default_als_scale(comm, by_user.values, self.n_train_, self.k)
        self.init_scale_ = scale
        self.H_ = init_factor_rows(self.seed, "H", ilo, ihi, self.k, scale, self.dtype_)
        self.W_ = np.zeros((uhi - ulo, self.k), self.dtype_)
        self.epoch_ = 0
        self.history_ = []
        return self

    def run_epoch(self, straggle=None) -> dict:
        """Collective.  Solve all W rows, then all H rows; return the epoch record."""
        comm = self.comm_
        st = comm.stats
        b0 = st.total_bytes
        c0 = (getattr(st, "comm_seconds", 0.0), getattr(st, "wait_seconds", 0.0))
        t_compute = 0.0
        h_rows = self.fetch_h_.fetch(self.H_)
        t0 = time.perf_counter()
        kernels.als_solve_rows(*self.user_csr_, h_rows, self.lam, self.W_)
        dt = time.perf_counter() - t0
        t_compute += dt
        if straggle is not None:
            straggle(dt)
        w_rows = self.fetch_w_.fetch(self.W_)
        t0 = time.perf_counter()
        kernels.als_solve_rows(*self.item_csr_, w_rows, self.lam, self.H_)
        dt = time.perf_counter() - t0
        t_compute += dt
        if straggle is not None:
            straggle(dt)
        sse, reg = kernels.block_loss(w_rows, self.H_, *self._loss_train)
        vsse = 0.0 if self._loss_valid is None else kernels.block_loss(w_rows, self.H_, *self._loss_valid)[0]
        sse, reg, vsse = comm.allreduce(np.array([sse, reg, vsse]), kind="mf:loss")
        objective = float(sse + self.lam * reg)
        if not np.isfinite(objective):
            raise NumericalError(f"ALS objective is {objective} after epoch {self.epoch_ + 1}")
        self.epoch_ += 1
        rec = {"epoch": self.epoch_, "objective": objective,
               "train_rmse": float(np.sqrt(sse / max(self.n_train_, 1))),
               "valid_rmse": (None if self.n_valid_ is None
                              else float(np.sqrt(vsse / max(self.n_valid_, 1)))),
               "seconds_compute": t_compute,
               "seconds_comm": getattr(st, "comm_seconds", 0.0) - c0[0],
               "seconds_wait": getattr(st, "wait_seconds", 0.0) - c0[1],
               "bytes": st.total_bytes - b0}
        self.history_.append(rec)
        return rec

    def fit(self, comm, train, n_users: int, n_items: int, valid=None, n_epochs: int = 10) -> "ALS":
        """Collective.  :meth:`setup` then ``n_epochs`` × :meth:`run_epoch`."""
        self.setup(comm, train, n_users, n_items, valid)
        for _ in range(n_epochs):
            self.run_epoch()
        return self

    # ------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict:
        return {"algorithm": "als", "epoch": self.epoch_, "seed": self.seed, "k": self.k,
                "lam": self.lam, "init_scale": self.init_scale_, "dtype": self.dtype}

    def local_factors(self) -> dict:
        """This rank's rows by global index: ``{"W": [(lo, rows)], "H": [(lo, rows)]}``."""
        return {"W": [(self.user_range_[0], self.W_)], "H": [(self.item_range_[0], self.H_)]}

    def load_state(self, state: dict, read_rows) -> None:
        """Resume from ``read_rows(which, lo, hi)`` (any rank count wrote the checkpoint)."""
        self.epoch_ = int(state["epoch"])
        self.W_ = np.ascontiguousarray(read_rows("W", *self.user_range_), dtype=self.dtype_)
        self.H_ = np.ascontiguousarray(read_rows("H", *self.item_range_), dtype=self.dtype_)
