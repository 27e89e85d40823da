"""Checkpoints of the feature-sharded L-BFGS solver (:mod:`mpiml.linear.lbfgs`).

Layout: ``distributed/w``, ``distributed/grad`` (D rows) and ``distributed/S``,
``distributed/Y`` (D x m, columns oldest to newest) are written by feature
block, each rank its own rows; ``distributed/margins`` (and
``valid_margins``) by example rows; the Gram matrix of the history is
replicated; the number of pairs, ``v.v`` and the objective are metadata.
Reading takes hyperslabs, so a checkpoint resumes on any rank count.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .qn import History


class CheckpointMixin:
    """``state``/``restore``/``warm_start`` of :class:`~mpiml.linear.lbfgs.LinearLBFGS`."""

    def state(self, comm, iteration: int):
        from ..io.checkpoint import State
        lay, h = self.layout_, self.hist_
        dist = {"w": (self.w_.local, lay.lo, lay.n), "grad": (self.g_.local, lay.lo, lay.n),
                "S": (h.S, lay.lo, lay.n), "Y": (h.Y, lay.lo, lay.n),
                "margins": (self.z_, self.train_.offset, self.train_.n_total)}
        if self.zv_ is not None:
            dist["valid_margins"] = (self.zv_, self.valid_.offset, self.valid_.n_total)
        rep = {"gram_SS": h.SS, "gram_SY": h.SY, "gram_YY": h.YY, "gram_Sv": h.Sv, "gram_Yv": h.Yv}
        return State(iteration=iteration, replicated=rep, distributed=dist,
                     meta={"solver": "lbfgs", "pairs": int(h.k), "vv": float(h.vv), "objective": self.f_,
                           "n_features": int(self.d_), "fit_intercept": bool(self.fit_intercept),
                           "loss": self.loss, "penalty": self.penalty,
                           "label_kind": self.train_.label_kind, "skipped": int(h.skipped),
                           "stop_reason": self.stop_reason_})

    def _read_w(self, ckpt) -> np.ndarray:
        """This rank's slice of a checkpoint's weights (an L-BFGS checkpoint's
        distributed ``w``, or an SGD checkpoint's replicated coef/intercept);
        reads only the rows of this rank's features."""
        lay, d = self.layout_, self.d_
        w = np.zeros(lay.n_local)
        hi = min(lay.hi, d)
        if "w" in ckpt.array_names["distributed"]:
            stored_fi = bool(ckpt.meta.get("fit_intercept", False))
            stored_d = ckpt.distributed_shape("w")[0] - int(stored_fi)
            if stored_d != d:
                raise ConfigError(f"checkpoint weights have {stored_d} features, the data have {d}")
            if hi > lay.lo:
                w[:hi - lay.lo] = ckpt.read_rows("w", lay.lo, hi)
            b = float(ckpt.read_rows("w", d, d + 1)[0]) if stored_fi else 0.0
        else:
            coef = np.asarray(ckpt.replicated("coef"), dtype=np.float64).reshape(-1)
            if coef.size != d:
                raise ConfigError(f"checkpoint weights have {coef.size} features, the data have {d}")
            if hi > lay.lo:
                w[:hi - lay.lo] = coef[lay.lo:hi]
            b = float(np.asarray(ckpt.replicated("intercept")).reshape(-1)[0])
        if self.fit_intercept and lay.hi == lay.n and lay.n_local:
            w[-1] = b
        return w

    def restore(self, comm, ckpt) -> None:
        """Same or another rank count: every sharded array is read as this
        rank's hyperslab (features for w, g, S, Y; rows for the margins)."""
        self._comm = comm
        lay = self.layout_
        if "w" not in ckpt.array_names["distributed"] or "margins" not in ckpt.array_names["distributed"]:
            raise ConfigError(f"{ckpt.dir} is not an L-BFGS checkpoint (use --init-from to start "
                              f"from its weights)")
        if ckpt.distributed_shape("w")[0] != lay.n:
            raise ConfigError(f"checkpoint has {ckpt.distributed_shape('w')[0]} coordinates, "
                              f"this run {lay.n}")
        m_stored = ckpt.distributed_shape("S")[1]
        if m_stored != self.history:
            raise ConfigError(f"checkpoint history is {m_stored} pairs, --history is {self.history}")
        self.w_ = self._vec(ckpt.read_rows("w", lay.lo, lay.hi).astype(np.float64))
        self.g_ = self._vec(ckpt.read_rows("grad", lay.lo, lay.hi).astype(np.float64))
        self.v_ = self._vec(self._direction_vector(self.w_.local, self.g_.local))
        h = self.hist_ = History(lay.n_local, self.history)
        h.S[...], h.Y[...] = ckpt.read_rows("S", lay.lo, lay.hi), ckpt.read_rows("Y", lay.lo, lay.hi)
        h.SS[...], h.SY[...], h.YY[...] = (ckpt.replicated(k) for k in ("gram_SS", "gram_SY", "gram_YY"))
        h.Sv[...], h.Yv[...] = ckpt.replicated("gram_Sv"), ckpt.replicated("gram_Yv")
        h.k, h.vv, h.skipped = int(ckpt.meta["pairs"]), float(ckpt.meta["vv"]), int(ckpt.meta["skipped"])
        t = self.train_
        self.z_ = ckpt.read_rows("margins", t.offset, t.offset + t.n_local).astype(np.float64)
        self.zv_ = None
        if self.valid_ is not None:
            if "valid_margins" not in ckpt.array_names["distributed"]:
                raise ConfigError("the checkpoint was trained without --valid")
            v = self.valid_
            self.zv_ = ckpt.read_rows("valid_margins", v.offset, v.offset + v.n_local).astype(np.float64)
        self.f_ = float(ckpt.meta["objective"])
        self.pg_norm_ = float(np.sqrt(h.vv))
        self.stop_reason_ = ckpt.meta.get("stop_reason")

    def warm_start(self, comm, ckpt) -> None:
        """A new run from any linear checkpoint's weights (memory empty)."""
        self._start_from(comm, self._read_w(ckpt))
        self.converged_ = False
