"""Per-row state of the SGD solvers that travels with its factor rows.

With ``step="adaptive"`` every W and H row has two accumulators of squared
gradients (the slow and fast coordinate parts of LIBMF's schedule, see
:func:`mpiml.mf.kernels.sgd_block_rows`); with ``bias=True`` a bias.  W's
stay with W on their rank; H's travel with their H block, packed after the
block's factor rows in the same message, so a rank always updates a row
together with its own state.  :class:`RowState` is a mixin of
:class:`mpiml.mf.dsgd.DSGD` (it uses its ``W_``, ``H_``, ``layout_``, ``k``,
``lam``, ``mu_``, ``adaptive_``, ``bias`` attributes).
"""

from __future__ import annotations

import numpy as np

from . import kernels


def slow_dims(k: int) -> int:
    """Coordinates in the "slow" part of the adaptive rule; the rest form the
    "fast" part, idle in epoch 1.  LIBMF uses its SIMD width (4 floats with
    SSE), which is k/8 at its usual k = 32; k/8 in general keeps a fast part
    at small k too (at k = 4 a slow part of all 4 coordinates left valid RMSE
    at 2.9 sigma after 20 epochs on data/generate.py's ratings, 1 coordinate
    reached 1.05 sigma)."""
    return max(1, k // 8)


class RowState:
    """Accumulators and biases of the factor rows: creation, packing for the
    H exchanges, the kernels that use them, checkpoint pieces."""

    # H blocks travel with their per-row state: the accumulators (adaptive
    # step) and item biases, packed after the block's factor rows.
    def _h_extras(self, moving: bool = True) -> list[tuple[str, int]]:
        """``(name, values per row)`` of the per-H-row dicts that travel with H
        (all of them when the blocks move; only the biases on the evaluation
        ring, which leaves every block where it was)."""
        return ([("GH_", 2)] if self.adaptive_ and moving else []) + ([("BH_", 1)] if self.bias else [])

    def _pack(self, js, extras, pop: bool = False) -> np.ndarray:
        take = (lambda d, j: d.pop(j)) if pop else (lambda d, j: d[j])
        parts = []
        for j in js:
            parts.append(take(self.H_, j).reshape(-1))
            parts.extend(take(getattr(self, name), j).reshape(-1) for name, _ in extras)
        return np.concatenate(parts)

    def _recv_size(self, js, extras):
        rows = sum(int(np.diff(self.layout_.col_block_range(j))[0]) for j in js)
        return rows * (self.k + sum(w for _, w in extras)), self.W_.dtype

    def _unpack(self, buf: np.ndarray, blocks, extras=()) -> None:
        off = 0
        for j in blocks:
            lo, hi = self.layout_.col_block_range(j)
            n = (hi - lo) * self.k
            self.H_[j] = buf[off:off + n].reshape(hi - lo, self.k)
            off += n
            for name, width in extras:
                part = buf[off:off + (hi - lo) * width]
                getattr(self, name)[j] = part.reshape(hi - lo, width) if width > 1 else part
                off += (hi - lo) * width

    def _init_row_state(self) -> None:
        """Accumulators at 1 (LIBMF's start: the first step is eta0) and zero
        biases for this rank's W rows and held H blocks."""
        dt = self.W_.dtype
        self._none, self._none2 = np.empty(0, dt), np.empty((0, 2), dt)
        self._plain = not (self.adaptive_ or self.bias)
        self.ks_ = slow_dims(self.k)
        n_w = self.W_.shape[0]
        sizes = {j: len(h) for j, h in self.H_.items()}
        self.GW_ = np.ones((n_w, 2), dt) if self.adaptive_ else self._none2
        self.GH_ = {j: np.ones((n, 2), dt) for j, n in sizes.items()} if self.adaptive_ else {}
        self.BW_ = np.zeros(n_w, dt) if self.bias else self._none
        self.BH_ = {j: np.zeros(n, dt) for j, n in sizes.items()} if self.bias else {}

    def _sgd_block(self, i: int, j: int, lr: float, seed, epoch: int) -> None:
        blk = self.blocks_.block(i, j)
        if self._plain:     # the original kernel: bold/fixed/decay runs keep their bits
            kernels.sgd_block(self.W_, self.H_[j], *blk, *self._scratch, lr, self.lam, seed)
        else:
            kernels.sgd_block_rows(self.W_, self.H_[j], self.GW_, self.GH_.get(j, self._none2), self.BW_,
                                   self.BH_.get(j, self._none), *blk, *self._scratch, lr, self.lam,
                                   self.mu_, seed, self.adaptive_, self.bias, self.ks_, epoch == 0)

    def _loss(self, H, BH, nw, nh, blk):
        """``(Σ e², Σ regulariser)`` of a block; ``nw``/``nh``: squared row norms of W, H."""
        if self.bias:
            return kernels.block_loss_bias_normed(self.W_, H, self.BW_, BH, self.mu_, nw, nh, *blk)
        return kernels.block_loss_normed(self.W_, H, nw, nh, *blk)

    def _sgd_sampled(self, j: int, blk, lr: float, seed, start: int, count: int, epoch: int) -> None:
        if self._plain:
            kernels.sgd_sampled(self.W_, self.H_[j], *blk, lr, self.lam, seed, start, count)
        else:
            kernels.sgd_sampled_rows(self.W_, self.H_[j], self.GW_, self.GH_.get(j, self._none2), self.BW_,
                                     self.BH_.get(j, self._none), *blk, lr, self.lam, self.mu_, seed, start,
                                     count, self.adaptive_, self.bias, self.ks_, epoch == 0)

    def _row_state_pieces(self) -> dict:
        """``{"GW": [(lo, rows)], "GH": [...], "BW": ..., "BH": ...}`` for what exists."""
        lay, out = self.layout_, {}
        for name, w, h in (("G", self.GW_, self.GH_), ("B", self.BW_, self.BH_)):
            if h:
                out[name + "W"] = [(self.user_lo_, w)]
                out[name + "H"] = [(lay.col_block_range(j)[0], h[j]) for j in sorted(h)]
        return out

    def _load_row_state(self, state: dict, read_rows) -> None:
        """Read the accumulators / biases a checkpoint holds (``state["accumulators"]``,
        ``state["bias"]``); the others keep their fresh values."""
        dt, lay = self.W_.dtype, self.layout_
        for name, flag, on, shape in (("G", "accumulators", self.adaptive_, (-1, 2)),
                                      ("B", "bias", self.bias, (-1,))):
            if on and state.get(flag):
                setattr(self, name + "W_", np.ascontiguousarray(
                    read_rows(name + "W", self.user_lo_, self.user_hi_), dtype=dt).reshape(shape))
                setattr(self, name + "H_", {j: np.ascontiguousarray(
                    read_rows(name + "H", *lay.col_block_range(j)), dtype=dt).reshape(shape) for j in self.H_})
