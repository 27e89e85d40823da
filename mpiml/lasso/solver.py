"""Lasso and elastic net by scheduled parallel coordinate descent.

Objective (scikit-learn's ``ElasticNet``; ``l1_ratio = 1`` is the Lasso)::

    (1/2n) ||y - X beta||^2 + alpha (l1_ratio ||beta||_1 + (1 - l1_ratio)/2 ||beta||^2)

Model parallelism with STRADS scheduling (Lee et al. NIPS 2014): each rank
holds whole columns of X (column j on rank ``j % size``), all of y, the
residual ``r = y - X beta`` and beta (both replicated).  A round updates the
``P`` coordinates the schedule (:mod:`mpiml.sched`) picks, all from the
residual at the start of the round (Shotgun semantics; Bradley et al. ICML
2011).  Each rank updates the picked coordinates it owns (soft-thresholding,
:mod:`.kernels`), then **one Allreduce** of ``n + P`` doubles -- the residual
change ``sum_j -(new_j - old_j) x_j`` and the P new coefficient values (zero
from ranks that do not own them) -- leaves every rank with the same r, beta
and priorities.  Bytes handed to MPI per round: ``8 (n + P)`` per rank,
``8 p (n + P)`` over the p ranks (none on one rank).

An iteration (one table row) is ``rounds`` rounds; after it the objective
(no communication: r and beta are replicated) and, when due, the duality
gap as scikit-learn computes it (one 8-byte max-Allreduce of
``max_j |x_j . r - l2 beta_j|``).  An alpha is done when
``gap <= tol ||y||^2 / n`` (scikit-learn's test; the gap shown is that of
the objective above).  A path (``alphas``/``n_alphas``) warm-starts each
alpha from the previous solution, as ``lasso_path``.

Schedules are pure functions of (seed, round, priorities), so the state to
resume bit for bit is beta, r, the priorities and the round counter.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import ConfigError, InputError
from ..io.checkpoint import State
from ..io.columns import read_columns
from ..runtime.algorithm import Algorithm
from ..sched import Scheduler, initial_priorities
from . import kernels
from .conflicts import conflict_graph
from .settings import LassoSettings


def alpha_grid(xty_absmax: float, n: int, l1_ratio: float, n_alphas: int, eps: float) -> np.ndarray:
    """scikit-learn's ``_alpha_grid``: log-spaced from alpha_max down to eps alpha_max."""
    alpha_max = xty_absmax / (n * l1_ratio)
    if alpha_max <= np.finfo(float).resolution:
        return np.full(n_alphas, np.finfo(float).resolution)
    return np.logspace(np.log10(alpha_max * eps), np.log10(alpha_max), num=n_alphas)[::-1]


class Lasso(Algorithm):
    """Distributed Lasso / elastic net (see the module docstring).

    Parameters
    ----------
    settings : LassoSettings, or its fields as keywords.
    """

    name = "lasso"
    schema = 1
    Settings = LassoSettings
    partition_what = "columns"
    columns = (("alpha", "alpha", "{:.4g}"), ("gap", "gap", "{:.3e}"), ("updates", "updates", "{:d}"),
               ("rejected", "rejected", "{:d}"), ("nnz", "nnz", "{:d}"))

    # ------------------------------------------------------------------ setup
    def setup(self, comm) -> int:
        self.block_ = b = read_columns(comm, self.data, self.fmt, self.labels, self.dataset,
                                       self.labels_dataset, self.n_features)
        with comm.agree("preparing the columns"):
            if self.intercept and b.sparse:
                raise ConfigError("--intercept centres the columns, which would make LIBSVM data "
                                  "dense; centre the data yourself or leave out --intercept")
            mean, scale = self._preprocess()
        d, n = b.n_features, b.n_rows
        self.n_, self.d_ = n, d
        # Column statistics for prediction in the original units (replicated).
        stats = np.zeros(2 * d)
        stats[b.cols] = mean
        stats[d + b.cols] = scale
        stats = comm.allreduce(stats, kind="lasso:setup")
        self.x_mean_, self.x_scale_ = stats[:d], stats[d:]
        P = min(self.parallel, d)
        self.rounds_per_iter_ = self.rounds or -(-d // P)
        t0 = time.perf_counter()
        graph = conflict_graph(comm, b, self.norms_, self.rho) if self.schedule == "sap" else None
        self.conflict_s_ = time.perf_counter() - t0
        self.sched_ = Scheduler(self.schedule, d, P, self.seed, graph, self.candidates or None)
        self.n_conflicts_ = graph.n_edges if graph is not None else 0
        xty = np.abs(self._xt(self.yc_)).max(initial=0.0)
        xty = comm.allreduce_scalar(float(xty), "max", kind="lasso:setup")
        if self.settings.alpha_list():
            self.alphas_ = np.asarray(self.settings.alpha_list())
        elif self.n_alphas:
            self.alphas_ = alpha_grid(xty, n, self.l1_ratio, self.n_alphas, self.eps)
        else:
            self.alphas_ = np.asarray([self.alpha])
        self.yy_ = float(self.yc_ @ self.yc_)
        self.owner_ = np.arange(d, dtype=np.int64) % comm.size
        self._buf = np.zeros(n + P)
        self._out = np.zeros(n + P)
        kernels.warm()
        self.sched_.conflicts.select(np.zeros(0, dtype=np.int64), 1)   # compile the check, too
        return b.n_local

    def _preprocess(self):
        """Centre (with intercept) and scale (with standardize) the local
        columns in place; squared column norms.  Column statistics are
        local, so they are the same on any number of ranks."""
        b, n = self.block_, self.block_.n_rows
        y = b.y
        self.y_mean_ = float(y.mean()) if self.intercept else 0.0
        self.yc_ = y - self.y_mean_
        if not b.sparse:
            mean = b.XT.mean(axis=1) if b.n_local else np.zeros(0)
            std = b.XT.std(axis=1) if b.n_local else np.zeros(0)
        else:
            col = np.repeat(np.arange(b.n_local), np.diff(b.indptr))
            s1 = np.bincount(col, weights=b.values, minlength=b.n_local)
            s2 = np.bincount(col, weights=b.values * b.values, minlength=b.n_local)
            mean = s1 / n
            std = np.sqrt(np.maximum(s2 / n - mean * mean, 0.0))
        scale = np.where(std > 0, std, 1.0) if self.standardize else np.ones(b.n_local)
        if not b.sparse:
            if self.intercept:
                b.XT -= mean[:, None]
            if self.standardize:
                b.XT /= scale[:, None]
            self.norms_ = np.einsum("ij,ij->i", b.XT, b.XT)
        else:
            if self.standardize:
                b.values /= np.repeat(scale, np.diff(b.indptr))
            col = np.repeat(np.arange(b.n_local), np.diff(b.indptr))
            self.norms_ = np.bincount(col, weights=b.values * b.values, minlength=b.n_local)
        return (mean if self.intercept else np.zeros(b.n_local)), scale

    def _xt(self, v) -> np.ndarray:
        """``X_local^T v`` (one value per local column)."""
        b = self.block_
        if not b.sparse:
            return b.XT @ v
        out = np.empty(b.n_local)
        kernels.xtr_csc(b.indptr, b.indices, b.values, v, out)
        return out

    # --------------------------------------------------------- initialisation
    def initialize(self, comm) -> None:
        self.beta_ = np.zeros(self.d_)
        self.r_ = self.yc_.copy()
        self.prio_ = np.ones(self.d_)
        self.round_ = 0
        self.alpha_idx_ = 0
        self.iter_in_alpha_ = 0
        self.path_ = []          # per finished alpha: dict(alpha, gap, iterations, converged)
        self.path_coef_ = []
        self.gap_ = float("nan")
        self.objective_ = float("nan")
        self.converged_ = False

    def _penalties(self):
        a = float(self.alphas_[self.alpha_idx_])
        return a, self.n_ * a * self.l1_ratio, self.n_ * a * (1.0 - self.l1_ratio)

    def _start_alpha(self, comm) -> None:
        """SAP priorities for a new alpha: how far each coordinate would move
        if it were updated now (one Allreduce of d doubles)."""
        if self.schedule != "sap":
            return
        _, l1, l2 = self._penalties()
        b = self.block_
        own = self.beta_[b.cols]
        z = self._xt(self.r_) + self.norms_ * own
        with np.errstate(divide="ignore", invalid="ignore"):   # zero columns: masked below
            new = np.sign(z) * np.maximum(np.abs(z) - l1, 0.0) / (self.norms_ + l2)
        change = np.zeros(self.d_)
        change[b.cols] = np.where(self.norms_ > 0, new - own, 0.0)
        change = comm.allreduce(change, kind="lasso:priorities")
        self.prio_ = initial_priorities(change, self.eta)

    # ------------------------------------------------------------- iteration
    def step(self, comm, iteration: int, straggler) -> dict:
        if self.iter_in_alpha_ == 0:
            self._start_alpha(comm)
        alpha, l1, l2 = self._penalties()
        R = self.rounds_per_iter_
        if comm.size == 1:
            t0 = time.perf_counter()
            updates, rejected, dmax = self._rounds_serial(R, l1, l2)
            straggler.delay(time.perf_counter() - t0)
        else:
            updates, rejected, dmax = self._rounds_parallel(comm, R, l1, l2, straggler)
        self.iter_in_alpha_ += 1
        wmax = float(np.abs(self.beta_).max(initial=0.0))
        due = (self.gap_every and self.iter_in_alpha_ % self.gap_every == 0)
        gap = None
        objective = self._objective(alpha)
        if due or wmax == 0.0 or dmax <= self.tol * wmax:
            gap_sk = self._gap(comm, l1, l2)
            gap = gap_sk / self.n_
            self.gap_ = gap
            if gap_sk <= self.tol * self.yy_:
                self._finish_alpha(alpha, gap, True)
        if (self.alpha_max_iter and self.iter_in_alpha_ >= self.alpha_max_iter
                and self.iter_in_alpha_ > 0):
            self._finish_alpha(alpha, self.gap_, False)
        self.objective_ = objective
        return {"objective": objective, "alpha": alpha, "gap": gap, "updates": int(updates),
                "rejected": int(rejected), "nnz": int(np.count_nonzero(self.beta_)),
                "rounds": int(R), "max_change": dmax}

    def _finish_alpha(self, alpha, gap, converged) -> None:
        self.path_.append({"alpha": float(alpha), "gap": float(gap), "converged": bool(converged),
                           "iterations": int(self.iter_in_alpha_)})
        self.path_coef_.append(self.beta_.copy())
        self.alpha_idx_ += 1
        self.iter_in_alpha_ = 0
        if self.alpha_idx_ >= self.alphas_.size:
            self.converged_ = True
            self.alpha_idx_ = self.alphas_.size - 1   # the last alpha stays current

    def _rounds_serial(self, R, l1, l2):
        """One rank holds every column: whole rounds in one kernel call."""
        b, s = self.block_, self.sched_
        newb = np.empty(s.parallel)
        if s.needs_priorities:
            updates = rejected = 0
            dmax = 0.0
            for _ in range(R):
                rd = s.plan(self.round_, self.prio_)
                dmax = max(dmax, self._kernel_rounds(rd.selected[None, :], l1, l2, newb))
                updates += rd.selected.size
                rejected += rd.n_rejected
                self.round_ += 1
            return updates, rejected, dmax
        sched = s.plan_many(self.round_, R)
        dmax = self._kernel_rounds(sched, l1, l2, newb)
        self.round_ += R
        return sched.size, 0, dmax

    def _kernel_rounds(self, sched, l1, l2, newb):
        b = self.block_
        if b.sparse:
            return kernels.rounds_csc(b.indptr, b.indices, b.values, sched, self.r_, self.beta_,
                                      self.norms_, l1, l2, self.prio_, self.eta, newb)
        return kernels.rounds_dense(b.XT, sched, self.r_, self.beta_, self.norms_, l1, l2,
                                    self.prio_, self.eta, newb)

    def _rounds_parallel(self, comm, R, l1, l2, straggler):
        """Several ranks: per round, local updates then one Allreduce of
        (residual change, new coefficients)."""
        b, s, n = self.block_, self.sched_, self.n_
        size, rank = comm.size, comm.rank
        buf, out = self._buf, self._out
        updates = rejected = 0
        dmax = 0.0
        for _ in range(R):
            rd = s.plan(self.round_, self.prio_ if s.needs_priorities else None)
            sel = rd.selected
            t0 = time.perf_counter()
            pos = np.flatnonzero(self.owner_[sel] == rank)
            mine = sel[pos]
            buf.fill(0.0)
            newb = np.empty(mine.size)
            loc = mine // size
            if b.sparse:
                kernels.round_csc(b.indptr, b.indices, b.values, loc, mine, self.r_, self.beta_,
                                  self.norms_, l1, l2, buf[:n], newb)
            else:
                kernels.round_dense(b.XT, loc, mine, self.r_, self.beta_, self.norms_, l1, l2,
                                    buf[:n], newb)
            buf[n + pos] = newb
            straggler.delay(time.perf_counter() - t0)
            comm.allreduce(buf, kind="lasso:round", out=out)
            dmax = max(dmax, kernels.apply_round(self.r_, out[:n], self.beta_, sel,
                                                 out[n:n + sel.size], self.prio_, self.eta))
            updates += sel.size
            rejected += rd.n_rejected
            self.round_ += 1
        return updates, rejected, dmax

    # ------------------------------------------------------ objective and gap
    def _objective(self, alpha) -> float:
        beta, r = self.beta_, self.r_
        return float(0.5 * (r @ r) / self.n_ + alpha * (self.l1_ratio * np.abs(beta).sum()
                                                        + 0.5 * (1.0 - self.l1_ratio) * (beta @ beta)))

    def _gap(self, comm, l1, l2) -> float:
        """Collective.  scikit-learn's duality gap (``gap_enet``, formulation
        A) in its units (n x the objective's)."""
        b, beta, r = self.block_, self.beta_, self.r_
        xta = self._xt(r) - l2 * beta[b.cols]
        m = float(np.abs(xta).max(initial=0.0))
        m = comm.allreduce_scalar(m, "max", kind="lasso:gap")
        R2, Ry = float(r @ r), float(r @ self.yc_)
        w1, w2 = float(np.abs(beta).sum()), float(beta @ beta)
        primal = 0.5 * (R2 + l2 * w2) + l1 * w1
        scale = l1 / m if m > l1 else 1.0
        dual = -0.5 * scale * scale * (R2 + l2 * w2) + scale * Ry
        return primal - dual

    # ----------------------------------------------------------------- model
    def coef_original(self, beta=None):
        """Coefficients and intercept in the units of the input data."""
        beta = self.beta_ if beta is None else beta
        coef = beta / self.x_scale_
        return coef, float(self.y_mean_ - self.x_mean_ @ coef) if self.intercept else 0.0

    def finish(self, comm) -> dict:
        coef, b0 = self.coef_original()
        self.coef_, self.intercept_ = coef, b0
        return {"alpha": float(self.alphas_[self.alpha_idx_]), "n_alphas": int(self.alphas_.size),
                "objective": float(self.objective_), "gap": float(self.gap_),
                "nnz": int(np.count_nonzero(self.beta_)), "rounds": int(self.round_),
                "path": list(self.path_), "schedule": self.schedule,
                "parallel": int(self.sched_.parallel), "conflicts": int(self.n_conflicts_),
                "conflict_s": float(self.conflict_s_), "n": int(self.n_), "d": int(self.d_),
                "bytes_per_round": int(8 * comm.size * (self.n_ + self.sched_.parallel))
                if comm.size > 1 else 0}

    # ------------------------------------------------------------ checkpoint
    def state(self, comm, iteration: int) -> State:
        coef, b0 = self.coef_original()
        k = len(self.path_coef_)
        path = np.asarray(self.path_coef_).reshape(k, self.d_) if k else np.zeros((0, self.d_))
        return State(iteration=iteration,
                     replicated={"beta": self.beta_, "residual": self.r_, "priorities": self.prio_,
                                 "coef": coef, "intercept": np.array([b0]), "alphas": self.alphas_,
                                 "path_beta": path, "x_mean": self.x_mean_, "x_scale": self.x_scale_},
                     meta={"round": int(self.round_), "alpha_idx": int(self.alpha_idx_),
                           "iter_in_alpha": int(self.iter_in_alpha_), "path": self.path_,
                           "gap": float(self.gap_), "objective": float(self.objective_),
                           "y_mean": float(self.y_mean_), "n_features": int(self.d_)})

    def _check_shapes(self, ckpt):
        beta = np.asarray(ckpt.replicated("beta"), dtype=np.float64)
        if beta.shape != (self.d_,):
            raise ConfigError(f"checkpoint has {beta.size} coefficients, the data have {self.d_} features")
        return beta

    def restore(self, comm, ckpt) -> None:
        self.initialize(comm)
        self.beta_ = self._check_shapes(ckpt)
        r = np.asarray(ckpt.replicated("residual"), dtype=np.float64)
        if r.shape != (self.n_,):
            raise ConfigError(f"checkpoint residual has {r.size} rows, the data have {self.n_}")
        self.r_ = r
        self.prio_ = np.asarray(ckpt.replicated("priorities"), dtype=np.float64)
        m = ckpt.meta
        self.round_, self.alpha_idx_ = int(m["round"]), int(m["alpha_idx"])
        self.iter_in_alpha_ = int(m["iter_in_alpha"])
        self.path_ = list(m.get("path", []))
        pb = ckpt.replicated("path_beta")
        self.path_coef_ = [np.asarray(row) for row in pb]
        self.gap_, self.objective_ = float(m.get("gap", np.nan)), float(m.get("objective", np.nan))

    def warm_start(self, comm, ckpt) -> None:
        """A new run from a checkpoint's coefficients (any settings): the
        residual is recomputed, r = y - X beta (one Allreduce of n doubles)."""
        self.initialize(comm)
        self.beta_ = self._check_shapes(ckpt)
        b = self.block_
        if b.sparse:
            xb = np.zeros(self.n_)
            own = self.beta_[b.cols]
            col = np.repeat(np.arange(b.n_local), np.diff(b.indptr))
            np.add.at(xb, b.indices, b.values * own[col])
        else:
            xb = b.XT.T @ self.beta_[b.cols]
        self.r_ = self.yc_ - comm.allreduce(xb, kind="lasso:warm")


def predict(coef, intercept, X=None, csr=None) -> np.ndarray:
    """Serial.  ``X @ coef + intercept`` for dense rows ``X`` or a CSR triple
    ``(indptr, indices, values)``."""
    coef = np.asarray(coef, dtype=np.float64)
    if X is not None:
        if X.shape[1] != coef.size:
            raise InputError(f"data have {X.shape[1]} features, the model has {coef.size}")
        return X @ coef + intercept
    indptr, indices, values = csr
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    return np.bincount(rows, weights=values * coef[indices], minlength=indptr.size - 1) + intercept


__all__ = ["Lasso", "alpha_grid", "predict"]
