"""Batch L-BFGS and OWL-QN for linear models, with feature-sharded state.

Objective: ``F(w) = (1/n) sum_i loss(x_i . w [+ b], y_i) + penalty(w)``
with the smooth losses of :mod:`mpiml.linear.losses` (logistic, squared,
squared hinge) and ``alpha/2 ||w||^2`` (l2), ``alpha ||w||_1`` (l1) or no
penalty; the intercept ``b`` (``fit_intercept``) is never penalised.  l2 and
none are minimised by L-BFGS (Nocedal 1980), l1 by OWL-QN (Andrew & Gao,
ICML 2007).

Distribution (the Yahoo "billions of parameters" design on MPI): rows are
partitioned as the readers split them; the D = d (+1) coordinates of ``w``,
of the gradient and of every history pair are sharded in contiguous blocks
(:class:`~mpiml.linear.sharded.FeatureLayout`), so no rank holds a
full-length copy of any of them.  Each rank keeps the margins ``z`` of its
own rows.  One iteration:

1. direction ``p = -H v`` from the replicated Gram matrix of the history
   (:mod:`mpiml.linear.qn`), assembled locally on each shard; OWL-QN then
   zeroes components against the pseudo-gradient's sign (one scalar
   Allreduce for ``v . p``);
2. backtracking line search: L-BFGS fetches ``p`` once to the rows that
   need it (:class:`~mpiml.linear.exchange.FeatureExchange`), so a trial
   margin is ``z + t X p`` and a trial costs one Allreduce of 2 floats;
   OWL-QN's trial point is projected on an orthant, so each trial fetches
   its step ``delta`` and costs one fetch plus one Allreduce of 3 floats;
3. gradient at the accepted point: every rank's partial ``X^T loss'(z)``
   over the features its rows touch is summed into the owners (one
   ``push_add``: Reduce_scatter or Alltoallv);
4. the new pair and the new ``v`` against the basis (one Allreduce of
   ``6k + 6`` floats, ``k`` the pairs stored before it);
5. metrics (one Allreduce: 4 floats for the training set's accuracy and
   log-loss, or RMSE; with ``--valid`` 4 more, plus 2 x 1024 for the
   validation AUC's score histograms under a classification loss).  The
   training AUC is computed once, at the end.

Line search (the same rules as the serial reference, tests/naive/lbfgs.py):
Armijo condition ``F(w_t) <= F(w) + 1e-4 v.(w_t - w)``, first trial ``t = 1``
(``min(1, 1/||v||)`` without history), then for L-BFGS the minimiser of the
quadratic through ``F(w)``, its slope and ``F(w_t)``, kept within
``[0.1 t, 0.5 t]``, and for OWL-QN ``t / 2``; at most 40 trials.  A pair
with ``s.y <= eps y.y`` is not stored.  The run stops when the
(pseudo-)gradient norm ``||v||_2 <= tol``, when an accepted step lowers
``F`` by at most ``eps max(|F|, 1)`` (no progress left in floating point),
or when the line search fails.

Bytes per iteration, summed over ranks (payload as counted by
:class:`mpiml.comm.CommStats`), with ``H`` the halo size of the exchange
plan, ``p`` ranks, ``L`` line-search trials and ``k`` stored pairs: see
:func:`bytes_per_iteration`.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..io.libsvm import read_labelled
from ..partition import require_nonempty
from ..runtime.algorithm import Algorithm
from . import losses
from .exchange import FeatureExchange
from .lbfgs_state import CheckpointMixin
from .qn import History, constrain_direction, orthant, orthant_project, pseudo_gradient
from .settings import LinearSettings
from .sharded import FeatureLayout, ShardedVector

C1 = 1e-4
MAX_TRIALS = 40
EPS = 2.220446049250313e-16


def bytes_per_iteration(halo: int, size: int, trials: int, k: int, owlqn: bool,
                        metric_floats: int) -> int:
    """Payload bytes of one iteration over all ranks.

    ``8 H`` (gradient push) + ``8 H`` per fetch (one for L-BFGS, one per
    trial for OWL-QN) + ``8 p`` x (floats Allreduced: ``2 L`` or ``3 L + 1``
    for the trials, ``6k + 6`` for the Gram update, ``metric_floats``).
    ``k = -1``: the line search failed, so there was no push and no update.
    """
    fetches = trials if owlqn else 1
    floats = (3 * trials + 1 if owlqn else 2 * trials) + metric_floats
    if k < 0:
        return 8 * halo * fetches + 8 * size * floats
    return 8 * halo * (1 + fetches) + 8 * size * (floats + 6 * k + 6)


class Rows:
    """One data set's rows in the coordinates of the exchange buffer.

    ``X`` has the buffer's feature positions as columns (CSR, or the dense
    block when the buffer is every feature); the intercept, if fitted, is the
    buffer's last entry.
    """

    def __init__(self, data, touched: np.ndarray, d: int, fit_intercept: bool):
        self.y, self.n = data.y, data.n_local
        self.icpt = touched.size - 1 if fit_intercept else None
        self.n_buf = touched.size
        if not data.sparse and touched.size - int(fit_intercept) == d:
            self.X = data.X
        else:
            cols = data.indices if data.sparse else None
            if cols is None:
                coo = sp.csr_matrix(data.X)
                indptr, cols, vals = coo.indptr, coo.indices.astype(np.int64), coo.data
            else:
                indptr, vals = data.indptr, data.values
            pos = np.searchsorted(touched, cols)
            self.X = sp.csr_matrix((vals, pos, indptr), shape=(self.n, touched.size - int(fit_intercept)))

    def matvec(self, buf: np.ndarray) -> np.ndarray:
        nf = self.n_buf - (self.icpt is not None)
        z = self.X @ buf[:nf]
        if self.icpt is not None:
            z = z + buf[self.icpt]
        return np.asarray(z, dtype=np.float64).reshape(-1)

    def rmatvec(self, sig: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n_buf)
        nf = self.n_buf - (self.icpt is not None)
        out[:nf] = self.X.T @ sig
        if self.icpt is not None:
            out[self.icpt] = sig.sum()
        return out


def touched_features(data, d: int) -> np.ndarray:
    """Sorted global features the rows of ``data`` touch (all for dense rows)."""
    if data is None:
        return np.zeros(0, dtype=np.int64)
    if not data.sparse:
        return np.arange(d, dtype=np.int64)
    return np.unique(data.indices)


class LinearLBFGS(CheckpointMixin, Algorithm):
    """Linear models by batch L-BFGS / OWL-QN on feature shards (see the
    module docstring).  Options: :class:`~mpiml.linear.settings.LinearSettings`
    (``solver="lbfgs"``; ``history``, ``tol``, ``fit_intercept``, ``exchange``)."""

    name = "linear"
    schema = 1
    Settings = LinearSettings
    partition_what = "examples"

    @property
    def consistency(self) -> str:
        x = self.__dict__.get("x_")
        what = "OWL-QN" if self.penalty == "l1" else "L-BFGS"
        return f"bsp ({what}, feature-sharded{'' if x is None else ', ' + x.plan + ' exchange'})"

    # ------------------------------------------------------------------ setup
    @property
    def columns(self):
        if self.loss == "squared":
            cols = [("tr_rmse", "tr_rmse", "{:.4f}")]
            if self.valid:
                cols.append(("va_rmse", "va_rmse", "{:.4f}"))
        else:
            cols = [("tr_acc", "tr_acc", "{:.4f}"), ("tr_logloss", "tr_logloss", "{:.4f}")]
            if self.valid:
                cols += [("va_acc", "va_acc", "{:.4f}"), ("va_logloss", "va_logloss", "{:.4f}"),
                         ("va_auc", "va_auc", "{:.4f}")]
        return tuple(cols) + (("pg_norm", "pg_norm", "{:.3e}"), ("step", "step", "{:.3g}"),
                              ("trials", "trials", "{:d}"))

    def setup(self, comm) -> int:
        real = self.loss == "squared"
        self.train_ = read_labelled(comm, self.data, self.fmt, self.labels, self.dataset,
                                    self.labels_dataset, self.n_features, real_labels=real)
        d = self.train_.n_features
        self.valid_ = None
        if self.valid:
            self.valid_ = read_labelled(comm, self.valid, self.fmt, self.valid_labels, self.dataset,
                                        self.labels_dataset, d, real_labels=real)
        with comm.agree("checking the data"):
            require_nonempty(self.train_.n_total, comm.size, "training examples")
            if d < 1:
                raise InputError("no features", self.data)
        self._comm = comm
        self.d_ = d
        self.D_ = d + int(self.fit_intercept)
        self.layout_ = FeatureLayout(self.D_, comm.size, comm.rank)
        touched = np.union1d(touched_features(self.train_, d), touched_features(self.valid_, d))
        if self.fit_intercept:
            touched = np.append(touched, d)
        self.x_ = FeatureExchange(comm, self.layout_, touched, self.exchange, kind="lbfgs")
        self.rows_ = Rows(self.train_, self.x_.touched, d, self.fit_intercept)
        self.vrows_ = None if self.valid_ is None else Rows(self.valid_, self.x_.touched, d,
                                                           self.fit_intercept)
        lay = self.layout_
        # Coordinates of my slice under the penalty (the intercept is not).
        self.penalised_ = np.arange(lay.lo, lay.hi) < d
        self.n_pen_ = int(self.penalised_.sum())      # a prefix of the slice
        self.owlqn_ = self.penalty == "l1"
        self.n_ = float(self.train_.n_total)
        # per iteration: training acc/log-loss (or RMSE), validation with AUC
        self.metric_floats_ = losses.metric_floats(self.loss, False) + \
            (losses.metric_floats(self.loss, True) if self.valid_ is not None else 0)
        return self.train_.n_local

    def _vec(self, local=None) -> ShardedVector:
        return ShardedVector(self._comm, self.layout_, local)

    # ------------------------------------------------------------- objective
    def _penalty_local(self, w: np.ndarray) -> float:
        wp = w[:self.n_pen_]
        if self.penalty == "l2":
            return 0.5 * self.alpha * float(wp @ wp)
        if self.penalty == "l1":
            return self.alpha * float(np.abs(wp).sum())
        return 0.0

    def _value(self, comm, z, w, extra=()) -> tuple[float, np.ndarray]:
        """Collective.  F at margins ``z`` and slice ``w`` (one Allreduce)."""
        loc = np.array([losses.loss_sum(z, self.rows_.y, self.loss), self._penalty_local(w), *extra])
        tot = comm.allreduce(loc, kind="lbfgs:trial")
        return float(tot[0] / self.n_ + tot[1]), tot

    def _gradient(self, comm, z, w) -> np.ndarray:
        """Collective.  Slice of the smooth part's gradient (loss + l2)."""
        sig = losses.slopes(z, self.rows_.y, self.loss) / self.n_
        g = self.x_.push_add(self.rows_.rmatvec(sig))
        if self.penalty == "l2":
            g[:self.n_pen_] += self.alpha * w[:self.n_pen_]
        return g

    def _direction_vector(self, w, g) -> np.ndarray:
        return pseudo_gradient(w, g, self.alpha, self.penalised_) if self.owlqn_ else g

    # ------------------------------------------------------------- lifecycle
    def initialize(self, comm) -> None:
        self._start_from(comm, np.zeros(self.layout_.n_local))

    def _start_from(self, comm, w: np.ndarray) -> None:
        """Collective.  Margins, objective, gradient and empty memory at ``w``."""
        self._comm = comm
        buf = self.x_.fetch(w)
        self.z_ = self.rows_.matvec(buf)
        self.zv_ = None if self.vrows_ is None else self.vrows_.matvec(buf)
        self.w_ = self._vec(w.copy())
        self.f_, _ = self._value(comm, self.z_, w)
        self.g_ = self._vec(self._gradient(comm, self.z_, w))
        self.v_ = self._vec(self._direction_vector(w, self.g_.local))
        self.hist_ = History(self.layout_.n_local, self.history)
        self.hist_.start(comm, self.v_.local)
        self.pg_norm_ = float(np.sqrt(self.hist_.vv))
        self.stop_reason_ = None
        if self.pg_norm_ <= self.tol:
            self.converged_, self.stop_reason_ = True, "gradient norm <= tol at the start"

    def step(self, comm, iteration: int, straggler) -> dict:
        self._comm = comm
        t_start = time.perf_counter()
        h, w, v = self.hist_, self.w_.local, self.v_.local
        c = h.coefficients()
        p = h.combine(c, v)
        if self.owlqn_:
            p = constrain_direction(p, v)
            slope = self._vec(p).dot(self.v_, kind="lbfgs:slope")
        else:
            slope = h.directional(c)
        if not slope < 0:          # not a descent direction: restart from -v
            h.k = 0
            p, slope = -v.copy(), -h.vv
        t = 1.0 if h.k else min(1.0, 1.0 / np.sqrt(h.vv))
        straggler.delay(time.perf_counter() - t_start)
        accepted, trials = self._line_search(comm, w, v, p, slope, t)
        if accepted is None:
            self.gram_k_ = -1
            self.converged_, self.stop_reason_ = True, "line search failed (no decrease)"
            return self._record(comm, iteration, 0.0, trials)
        t, w_new, f_new, z_new, zv_new = accepted
        g_new = self._gradient(comm, z_new, w_new)
        s, y = w_new - w, g_new - self.g_.local
        self.w_.local[...] = w_new
        self.g_.local[...] = g_new
        self.v_.local[...] = self._direction_vector(w_new, g_new)
        f_old = self.f_
        self.z_, self.zv_, self.f_ = z_new, zv_new, f_new
        self.gram_k_ = h.k      # pairs the Gram update is taken against (bytes formula)
        h.update(comm, s, y, self.v_.local)
        self.pg_norm_ = float(np.sqrt(h.vv))
        if self.pg_norm_ <= self.tol:
            self.converged_, self.stop_reason_ = True, "projected-gradient norm <= tol"
        elif f_old - f_new <= EPS * max(abs(f_old), abs(f_new), 1.0):
            # F no longer changes in floating point: further steps are noise
            self.converged_, self.stop_reason_ = True, "objective decrease below machine precision"
        elif self.target_loss is not None and self.f_ <= self.target_loss:
            self.converged_, self.stop_reason_ = True, "objective <= --target-loss"
        return self._record(comm, iteration, t, trials)

    def _line_search(self, comm, w, v, p, slope, t):
        """Collective.  Backtracking Armijo search along ``p`` (see the module
        docstring); returns ``((t, w_t, F_t, z_t, zv_t) or None, trials)``."""
        f0, z, zv = self.f_, self.z_, self.zv_
        if not self.owlqn_:
            pbuf = self.x_.fetch(p)
            Xp = self.rows_.matvec(pbuf)
            for trial in range(1, MAX_TRIALS + 1):
                w_t = w + t * p
                z_t = z + t * Xp
                f_t, _ = self._value(comm, z_t, w_t)
                if f_t <= f0 + C1 * t * slope:
                    zv_t = None if zv is None else zv + t * self.vrows_.matvec(pbuf)
                    return (t, w_t, f_t, z_t, zv_t), trial
                denom = 2.0 * (f_t - f0 - slope * t)
                tq = -slope * t * t / denom if np.isfinite(f_t) and denom > 0 else 0.1 * t
                t = min(max(tq, 0.1 * t), 0.5 * t)
            return None, MAX_TRIALS
        xi = orthant(w, v)
        for trial in range(1, MAX_TRIALS + 1):
            w_t = orthant_project(w + t * p, xi, self.penalised_)
            delta = w_t - w
            dbuf = self.x_.fetch(delta)
            z_t = z + self.rows_.matvec(dbuf)
            f_t, tot = self._value(comm, z_t, w_t, extra=(float(v @ delta),))
            if f_t <= f0 + C1 * tot[2]:
                zv_t = None if zv is None else zv + self.vrows_.matvec(dbuf)
                return (t, w_t, f_t, z_t, zv_t), trial
            t *= 0.5
        return None, MAX_TRIALS

    def _record(self, comm, iteration, t, trials) -> dict:
        """Collective.  The progress record (metrics: one Allreduce)."""
        parts = [losses.metric_sums(self.z_, self.rows_.y, self.loss, auc=False)]
        if self.zv_ is not None:
            parts.append(losses.metric_sums(self.zv_, self.vrows_.y, self.loss))
        tot = comm.allreduce(np.concatenate(parts), kind="lbfgs:metrics")
        cut = [0, parts[0].size, tot.size]
        rec = {"objective": self.f_, "pg_norm": self.pg_norm_, "step": float(t), "trials": int(trials),
               "pairs": int(self.hist_.k), "gram_pairs": int(getattr(self, "gram_k_", 0)),
               "exchange": self.x_.plan, "halo": int(self.x_.halo),
               "metric_floats": int(self.metric_floats_), "owlqn": bool(self.owlqn_)}
        for prefix, i in (("tr", 0), ("va", 1)):
            if i < len(parts):
                for key, val in losses.metrics_from_sums(tot[cut[i]:cut[i + 1]], self.loss).items():
                    rec[f"{prefix}_{key}"] = val
        self.last_metrics_ = rec
        return rec

    def finish(self, comm) -> dict:
        """Collective.  Summary, with the training AUC (one more Allreduce)."""
        tr = losses.metrics_from_sums(comm.allreduce(losses.metric_sums(self.z_, self.rows_.y, self.loss),
                                                     kind="lbfgs:final"), self.loss)
        out = {"objective": float(self.f_), "pg_norm": float(self.pg_norm_),
               "n_features": int(self.d_), "loss": self.loss, "penalty": self.penalty,
               "solver": "owlqn" if self.owlqn_ else "lbfgs", "exchange": self.x_.plan,
               "halo": int(self.x_.halo), "stop_reason": self.stop_reason_,
               "nnz_coef": int(comm.allreduce_scalar(int(np.count_nonzero(self.w_.local[self.penalised_])),
                                                     kind="lbfgs:final"))}
        out.update({k: v for k, v in getattr(self, "last_metrics_", {}).items()
                    if k[:3] in ("tr_", "va_")})
        out.update({f"tr_{k}": v for k, v in tr.items()})
        return out

    # ------------------------------------------------------------- accessors
    def coef_slice(self) -> tuple[int, np.ndarray]:
        """Local.  (first feature, this rank's slice of the coefficients)."""
        lay = self.layout_
        hi = min(lay.hi, self.d_)
        return lay.lo, self.w_.local[:max(hi - lay.lo, 0)]

    def intercept(self, comm) -> float:
        """Collective.  The intercept (0 without ``fit_intercept``)."""
        if not self.fit_intercept:
            return 0.0
        mine = float(self.w_.local[-1]) if self.layout_.hi == self.layout_.n and self.layout_.n_local else 0.0
        return float(comm.allreduce_scalar(mine, kind="lbfgs:final"))
