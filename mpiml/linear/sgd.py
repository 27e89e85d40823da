"""Data-parallel minibatch SGD for logistic regression and linear SVMs.

Objective: ``F(w, b) = (1/n) sum_i loss(y_i (w.x_i + b)) + penalty(w)`` with
the logistic loss ``log(1 + exp(-m))`` or the hinge loss ``max(0, 1 - m)``
and penalty ``alpha/2 ||w||^2`` (l2), ``alpha ||w||_1`` (l1) or none; labels
-1/+1 (0/1 files are mapped).

Each rank holds a block of the examples.  The weight vector (plus the
intercept, in blocks of ``width`` values per row) lives in one parameter
table (:mod:`mpiml.consistency`), so the same code runs under BSP, SSP
(Ho et al. NIPS 2013), ESSP (Dai et al. AAAI 2015), asynchronous updates or
model averaging (McDonald et al. 2010; Zinkevich et al. 2010) by changing
``consistency``.  One clock is one minibatch per rank: read the rows the
minibatch needs, compute the minibatch (sub)gradient ``g_r``, increment the
table by ``-(lr / size) g_r``.  Under BSP that is synchronous SGD with a
global batch of ``size x batch`` examples and step ``lr`` (the serial
reference in tests/naive/linear.py).  With sparse data and no penalty only
the rows of the features present in the minibatch are read and updated.

An iteration of the training loop is ``clocks`` clocks (default: one pass
over the data), followed by ``sync()`` and an exact evaluation: training
loss (the objective), validation accuracy and log-loss, and the staleness
of the reads, per clock and per iteration.  With ``eval_every = K`` (less
than ``clocks``), the exact objective is also evaluated after every K-th
clock inside the iteration, by non-blocking reductions that complete while
the next clocks run (:mod:`mpiml.linear.evaluation`): no barrier between
evaluations, the staleness bound untouched.

Minibatches are a pure function of ``(seed, rank, step)`` (consecutive
slices of per-epoch permutations), so checkpoints hold the weights and the
table clock and nothing else; resuming at the same rank count under BSP
continues bit for bit.
"""

from __future__ import annotations

import time

import numpy as np

from ..consistency import STALE_BINS, make_table
from ..errors import ConfigError, InputError
from ..io.checkpoint import State
from ..io.libsvm import read_labelled
from ..partition import require_nonempty
from ..runtime.algorithm import Algorithm
from . import kernels
from .settings import LinearSettings

LOSSES = {"logistic": kernels.LOGISTIC, "hinge": kernels.HINGE}
PENALTIES = {"none": kernels.NONE, "l2": kernels.L2, "l1": kernels.L1}


class Sampler:
    """Minibatch rows of one rank: consecutive slices of per-epoch random
    permutations of its ``n_local`` rows; ``rows(step)`` is a pure function
    of ``(seed, rank, step)``."""

    def __init__(self, n_local: int, batch: int, seed: int, rank: int):
        self.n, self.batch, self.seed, self.rank = int(n_local), int(batch), int(seed), int(rank)
        self._perms: dict = {}

    def _perm(self, epoch: int) -> np.ndarray:
        p = self._perms.get(epoch)
        if p is None:
            if len(self._perms) > 4:
                self._perms.clear()
            p = np.random.default_rng([self.seed, self.rank, epoch, 0x51D]).permutation(self.n)
            self._perms[epoch] = p
        return p

    def rows(self, step: int) -> np.ndarray:
        pos = np.arange(step * self.batch, (step + 1) * self.batch, dtype=np.int64)
        epochs = pos // self.n
        out = np.empty(self.batch, dtype=np.int64)
        for e in np.unique(epochs):
            m = epochs == e
            out[m] = self._perm(int(e))[pos[m] % self.n]
        return out


def table_shape(n_features: int, width: int) -> tuple[int, int]:
    """(rows, width) of the table holding ``n_features`` weights + intercept."""
    w = max(1, min(int(width), n_features + 1))
    return -(-(n_features + 1) // w), w


class LinearSGD(Algorithm):
    """Logistic regression / linear SVM by data-parallel minibatch SGD.

    Parameters
    ----------
    settings : LinearSettings, or its fields as keywords (``data``, ``loss``,
        ``penalty``, ``alpha``, ``lr``, ``batch``, ``clocks``, ``consistency``,
        ``staleness``, ``every``, ...); see
        :class:`mpiml.linear.settings.LinearSettings`.  Each worker adds
        ``-(lr / size) x`` its minibatch gradient; ``clocks`` 0 is one pass
        over the training data per iteration.
    """

    name = "linear"
    schema = 1
    partition_what = "examples"
    Settings = LinearSettings
    table_ = None
    evaluator_ = None

    @property
    def consistency(self) -> str:
        return self.settings.consistency_label()

    @property
    def columns(self) -> tuple:
        va = "va_logloss" if self.loss == "logistic" else "va_hinge"
        return (("tr_acc", "tr_acc", "{:.4f}"), ("va_acc", "va_acc", "{:.4f}"),
                ("va_loss", va, "{:.4f}"), ("clock", "clock", "{:d}"),
                ("stale_mean", "stale_mean", "{:.2f}"), ("stale_max", "stale_max", "{:d}"),
                ("stale_hist", "staleness histogram", "{}"))

    # ------------------------------------------------------------------ setup
    def setup(self, comm) -> int:
        self.train_ = read_labelled(comm, self.data, self.fmt, self.labels, self.dataset,
                                    self.labels_dataset, self.n_features)
        d = self.train_.n_features
        self.valid_ = None
        if self.valid:
            self.valid_ = read_labelled(comm, self.valid, self.fmt, self.valid_labels, self.dataset,
                                        self.labels_dataset, d)
        with comm.agree("checking the data"):
            require_nonempty(self.train_.n_total, comm.size, "training examples")
            if d < 1:
                raise InputError("no features", self.data)
        self.n_rows_, self.width_ = table_shape(d, self.width)
        self.clocks_ = self.clocks or max(1, -(-self.train_.n_total // (comm.size * self.batch)))
        self.table_ = make_table(comm, self.settings.consistency, self.n_rows_, self.width_, staleness=self.staleness,
                                 every=self.every, debug=self.debug_staleness, name="weights")
        self.sampler_ = Sampler(self.train_.n_local, self.batch, self.seed, comm.rank)
        self.all_rows_ = np.arange(self.n_rows_)
        self.loss_code_, self.pen_code_ = LOSSES[self.loss], PENALTIES[self.penalty]
        return self.train_.n_local

    def initialize(self, comm) -> None:
        self._set_weights(np.zeros(self.n_rows_ * self.width_))

    def _set_weights(self, wvec) -> None:
        d = self.train_.n_features
        self.coef_ = wvec[:d].copy()
        self.intercept_ = float(wvec[d])

    def _packed(self, coef, intercept) -> np.ndarray:
        w = np.zeros(self.n_rows_ * self.width_)
        w[:coef.size] = coef
        w[coef.size] = intercept
        return w.reshape(self.n_rows_, self.width_)

    # -------------------------------------------------------------- iteration
    def _minibatch_rows(self, rows) -> np.ndarray:
        """Table rows a minibatch reads: all of them, unless the data are
        sparse and there is no penalty (then the rows of its features)."""
        t = self.train_
        if not t.sparse or self.pen_code_ != kernels.NONE:
            return self.all_rows_
        feats = np.concatenate([t.indices[t.indptr[i]:t.indptr[i + 1]] for i in rows] +
                               [np.array([t.n_features])])
        return np.unique(feats // self.width_)

    def _one_clock(self, step: int, straggler) -> float:
        t, table, W = self.train_, self.table_, self.width_
        rows = self.sampler_.rows(step)
        row_ids = self._minibatch_rows(rows)
        w = np.zeros(self.n_rows_ * W)
        w.reshape(self.n_rows_, W)[row_ids] = table.get(row_ids)
        t0 = time.perf_counter()
        g = np.zeros_like(w)
        if t.sparse:
            loss_sum = kernels.grad_csr(t.indptr, t.indices, t.values, t.n_features, t.y, rows, w,
                                        self.loss_code_, g)
        else:
            loss_sum = kernels.grad_dense(t.X, t.y, rows, w, self.loss_code_, g)
        g *= 1.0 / rows.size
        kernels.add_penalty(w, t.n_features, self.alpha, self.pen_code_, g, 1.0)
        delta = (-self.lr / self._size) * g.reshape(self.n_rows_, W)[row_ids]
        straggler.delay(time.perf_counter() - t0)
        table.inc(row_ids, delta)
        if self.evaluator_ is not None:
            self.evaluator_.add(row_ids, delta, W)
        table.poll()
        table.clock()
        return float(loss_sum)

    def step(self, comm, iteration: int, straggler) -> dict:
        self._size = comm.size
        K = self.clocks_
        per_clock = np.zeros((K, 2 + STALE_BINS))
        E = self.eval_every if 0 < self.eval_every < K else 0
        t_start = time.perf_counter()
        reached = {}
        if E and self.evaluator_ is None:
            self.evaluator_ = self._new_evaluator(comm, self.table_.snapshot().reshape(-1))
        for k in range(K):
            # a transient straggler's draw is per clock, not per iteration
            straggler.begin_iteration()
            per_clock[k, 0] = self._one_clock((iteration - 1) * K + k, straggler)
            per_clock[k, 1] = self.batch
            per_clock[k, 2:] = self.table_.pop_staleness()
            if E:
                clock = int(self.table_.clock_)
                if (k + 1) % E == 0 and k + 1 < K:
                    reached[clock] = time.perf_counter() - t_start
                    self.evaluator_.start(clock)
                self.evaluator_.poll()
        evals = []
        if E:
            self.evaluator_.poll(block=True)
            evals = [self._eval_record(*done) for done in self.evaluator_.pop_done()]
            for e in evals:       # seconds into the iteration when this rank reached the clock
                e["seconds"] = reached.get(e["clock"])
            if self.target_loss is not None and any(e["objective"] <= self.target_loss for e in evals):
                self.converged_ = True
        t_eval = time.perf_counter()
        wvec = self.table_.snapshot().reshape(-1)
        self._set_weights(wvec)
        tr = self._evaluate(comm, self.train_, wvec)
        va = self._evaluate(comm, self.valid_, wvec) if self.valid_ is not None else None
        eval_s = time.perf_counter() - t_eval
        per_clock = comm.allreduce(per_clock, kind="linear:stats")
        hist = per_clock[:, 2:].sum(axis=0).astype(np.int64)
        pen = self._penalty_value()
        objective = tr["loss"] + pen
        self.objective_ = objective
        if self.target_loss is not None and objective <= self.target_loss:
            self.converged_ = True
        if E:       # the next evaluations start from the complete table of now
            self.evaluator_.base[:] = wvec
            self.evaluator_.own[:] = 0.0
        stale_vals = np.arange(STALE_BINS)
        n_reads = int(hist.sum())
        nz = np.flatnonzero(hist)
        return {
            "objective": objective, "tr_acc": tr["acc"],
            "va_acc": None if va is None else va["acc"],
            "va_loss": None if va is None else va["logloss" if self.loss == "logistic" else "loss"],
            "va_logloss": None if va is None else va["logloss"],
            "clock": int(self.table_.clock_),
            "stale_mean": float((hist * stale_vals).sum() / max(n_reads, 1)),
            "stale_max": int(nz.max()) if nz.size else 0,
            "stale_hist": " ".join(f"{int(s)}{'+' if s == STALE_BINS - 1 else ''}:{int(hist[s])}"
                                   for s in nz),
            "eval_s": float(comm.allreduce_scalar(eval_s, "max", kind="linear:stats")),
            "clock_loss": (per_clock[:, 0] / np.maximum(per_clock[:, 1], 1)).tolist(),
            "evals": evals + [{"clock": int(self.table_.clock_), "objective": objective}] if E else [],
            "clock_staleness": [{str(int(s)): int(h[s]) for s in np.flatnonzero(h)}
                                for h in per_clock[:, 2:].astype(np.int64)],
        }

    def _new_evaluator(self, comm, base):
        from .evaluation import ClockEvaluator

        def score(wvec):
            tr = self._sums(self.train_, wvec)
            return (tr, self._sums(self.valid_, wvec) if self.valid_ is not None else None,
                    self._penalty_of(wvec[:self.train_.n_features]))
        return ClockEvaluator(comm, base, score)

    def _sums(self, data, wvec) -> np.ndarray:
        z = margins(data, wvec)
        loss_sum, correct, logloss = kernels.scores(z, data.y, self.loss_code_)
        return np.array([loss_sum, correct, logloss, data.n_local], dtype=np.float64)

    def _eval_record(self, clock, tr, va, penalty) -> dict:
        """An evaluation inside an iteration (objective as at iteration ends)."""
        n = max(tr[3], 1.0)
        rec = {"clock": int(clock), "objective": float(tr[0] / n) + penalty, "tr_acc": float(tr[1] / n)}
        if va is not None:
            rec["va_acc"] = float(va[1] / max(va[3], 1.0))
        return rec

    def _penalty_of(self, coef) -> float:
        if self.pen_code_ == kernels.L2:
            return 0.5 * self.alpha * float(coef @ coef)
        if self.pen_code_ == kernels.L1:
            return self.alpha * float(np.abs(coef).sum())
        return 0.0

    def _penalty_value(self) -> float:
        if self.pen_code_ == kernels.L2:
            return 0.5 * self.alpha * float(self.coef_ @ self.coef_)
        if self.pen_code_ == kernels.L1:
            return self.alpha * float(np.abs(self.coef_).sum())
        return 0.0

    def _evaluate(self, comm, data, wvec) -> dict:
        """Collective.  Mean loss, accuracy and log-loss of ``wvec`` on ``data``."""
        z = margins(data, wvec)
        loss_sum, correct, logloss = kernels.scores(z, data.y, self.loss_code_)
        tot = comm.allreduce(np.array([loss_sum, correct, logloss, data.n_local], dtype=np.float64),
                             kind="linear:eval")
        n = max(tot[3], 1.0)
        return {"loss": float(tot[0] / n), "acc": float(tot[1] / n), "logloss": float(tot[2] / n)}

    def finish(self, comm) -> dict:
        self.table_.close()
        return {"objective": float(getattr(self, "objective_", float("nan"))),
                "n_features": int(self.train_.n_features), "clocks": int(self.table_.clock_),
                "loss": self.loss, "consistency": self.consistency,
                "max_staleness": int(self.table_.max_staleness_)}

    # ------------------------------------------------------------ checkpoint
    def state(self, comm, iteration: int) -> State:
        return State(iteration=iteration,
                     replicated={"coef": self.coef_, "intercept": np.array([self.intercept_])},
                     meta={"clock": int(self.table_.clock_), "n_features": int(self.train_.n_features),
                           "loss": self.loss, "label_kind": self.train_.label_kind,
                           "objective": float(getattr(self, "objective_", float("nan")))})

    def restore(self, comm, ckpt) -> None:
        self._load(ckpt, int(ckpt.meta.get("clock", 0)))

    def warm_start(self, comm, ckpt) -> None:
        self._load(ckpt, 0)
        self.converged_ = False

    def _load(self, ckpt, clock: int) -> None:
        coef = np.asarray(ckpt.replicated("coef"), dtype=np.float64)
        d = self.train_.n_features
        if coef.shape != (d,):
            raise ConfigError(f"checkpoint weights have {coef.size} features, the data have {d}")
        b = float(np.asarray(ckpt.replicated("intercept")).reshape(-1)[0])
        self.table_.load(self._packed(coef, b), clock=clock)
        self.coef_, self.intercept_ = coef, b
        self.objective_ = float(ckpt.meta.get("objective", float("nan")))


def margins(data, wvec) -> np.ndarray:
    """Decision values ``w.x + b`` of every local example (``wvec``: coef then intercept)."""
    w = np.ascontiguousarray(wvec, dtype=np.float64)
    if data.sparse:
        return kernels.margins_csr(data.indptr, data.indices, data.values, data.n_features, w)
    return kernels.margins_dense(data.X, w)


def predict(coef, intercept, data, loss: str = "logistic", label_kind: str = "pm1"):
    """Serial.  Labels (in the training data's convention), decision values
    and, for the logistic loss, probabilities of the positive class."""
    coef = np.asarray(coef, dtype=np.float64).reshape(-1)
    if data.n_features != coef.size:
        raise InputError(f"data have {data.n_features} features, the model has {coef.size}", data.path)
    w = np.zeros(coef.size + 1)
    w[:coef.size] = coef
    w[coef.size] = float(intercept)
    z = margins(data, w)
    neg = 0 if label_kind == "01" else -1
    labels = np.where(z >= 0, 1, neg).astype(np.int64)
    proba = 1.0 / (1.0 + np.exp(-z)) if loss == "logistic" else None
    return labels, z, proba


def checkpoint_weights(ck) -> tuple[np.ndarray, float]:
    """Serial.  ``(coef, intercept)`` of a linear checkpoint: SGD's replicated
    arrays, or L-BFGS's feature-sharded ``w`` (read whole: prediction is
    serial)."""
    if "w" in ck.array_names["distributed"]:
        w = np.asarray(ck.read_rows("w"), dtype=np.float64)
        if ck.meta.get("fit_intercept", False):
            return w[:-1], float(w[-1])
        return w, 0.0
    return ck.replicated("coef"), float(np.asarray(ck.replicated("intercept")).reshape(-1)[0])


def predict_checkpoint(ck, path, labels=None, dataset=None, fmt="auto", with_data=False):
    """Serial.  Score the examples of ``path`` with the linear model in the
    opened checkpoint ``ck`` (:class:`mpiml.io.ckpt_read.Checkpoint`).

    Returns ``(labels, decision values, probabilities or None)``; LIBSVM
    labels in the file are ignored (``with_data=True`` reads and checks them,
    and returns the data as a fourth element), indices beyond the model's
    features are errors (file:line).
    """
    from ..comm.serial import SerialComm
    coef, b = checkpoint_weights(ck)
    loss = ck.meta.get("loss", ck.config.get("loss", "logistic"))
    data = read_labelled(SerialComm(), path, fmt, labels, dataset, None, int(coef.size),
                         need_labels=with_data, real_labels=loss == "squared")
    out = predict(coef, b, data, loss, ck.meta.get("label_kind", "pm1"))
    return (*out, data) if with_data else out
