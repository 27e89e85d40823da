"""Slow, obviously-correct serial references for mpiml.linear and the tables.

* ``sgd_bsp``: synchronous minibatch SGD exactly as the BSP table runs it
  (every rank's minibatch gradient at the same weights, the increments
  ``-(lr/size) g_r`` summed in rank order), plain numpy, dense features.
* ``sgd_average``: local SGD with model averaging every ``every`` clocks.
* ``SSPSpec``: the SSP contract of Ho et al. (NIPS 2013) as a serial state
  machine: for any interleaving of get/inc/clock it gives, per read, the
  least a correct table may return (every update from clocks <= c-s-1 of the
  others, plus all of the reader's own) and the most (everything flushed,
  plus the reader's own).  With non-negative increments these bound every
  entry of a correct read; with s = 0 the least is exactly the BSP value.
"""

import numpy as np


# ------------------------------------------------------------------ SGD
def batch_rows(n_local, batch, seed, rank, step):
    """Rows of minibatch ``step`` on ``rank``: position p of the endless
    sequence of per-epoch permutations (same draws as mpiml's Sampler)."""
    out = []
    for p in range(step * batch, (step + 1) * batch):
        epoch, k = divmod(p, n_local)
        perm = np.random.default_rng([seed, rank, epoch, 0x51D]).permutation(n_local)
        out.append(perm[k])
    return np.array(out, dtype=np.int64)


def loss_and_slope(z, y, loss):
    m = y * z
    if loss == "logistic":
        return np.logaddexp(0.0, -m), -y / (1.0 + np.exp(m))
    return np.maximum(0.0, 1.0 - m), np.where(m < 1.0, -y, 0.0)


def minibatch_gradient(X, y, rows, w, loss, penalty, alpha):
    """Mean (sub)gradient over ``rows`` plus the penalty's, for ``w`` = coef + [intercept]."""
    d = X.shape[1]
    Xb = X[rows]
    z = Xb @ w[:d] + w[d]
    _, s = loss_and_slope(z, y[rows], loss)
    g = np.zeros(d + 1)
    g[:d] = Xb.T @ s / len(rows)
    g[d] = s.sum() / len(rows)
    if penalty == "l2":
        g[:d] += alpha * w[:d]
    elif penalty == "l1":
        g[:d] += alpha * np.sign(w[:d])
    return g


def objective(X, y, w, loss, penalty, alpha):
    d = X.shape[1]
    lv, _ = loss_and_slope(X @ w[:d] + w[d], y, loss)
    pen = {"l2": 0.5 * alpha * w[:d] @ w[:d], "l1": alpha * np.abs(w[:d]).sum(), "none": 0.0}[penalty]
    return lv.mean() + pen


def sgd_bsp(blocks, ys, loss, penalty, alpha, lr, batch, seed, n_clocks):
    """``blocks[r]``, ``ys[r]``: rank r's dense rows and labels.  Returns w (d + 1)."""
    size = len(blocks)
    w = np.zeros(blocks[0].shape[1] + 1)
    for t in range(n_clocks):
        total = np.zeros_like(w)
        for r in range(size):
            rows = batch_rows(len(ys[r]), batch, seed, r, t)
            total += -(lr / size) * minibatch_gradient(blocks[r], ys[r], rows, w, loss, penalty, alpha)
        w = w + total
    return w


def sgd_average(blocks, ys, loss, penalty, alpha, lr, batch, seed, n_clocks, every):
    """Each rank steps ``-lr g_r`` on its own copy; every ``every`` clocks
    (and at the end) the copies are replaced by their mean."""
    size = len(blocks)
    ws = [np.zeros(blocks[0].shape[1] + 1) for _ in range(size)]
    for t in range(n_clocks):
        for r in range(size):
            rows = batch_rows(len(ys[r]), batch, seed, r, t)
            ws[r] = ws[r] - lr * minibatch_gradient(blocks[r], ys[r], rows, ws[r], loss, penalty, alpha)
        if (t + 1) % every == 0 or t + 1 == n_clocks:
            mean = sum(ws) / size
            ws = [mean.copy() for _ in range(size)]
    return ws[0]


# ------------------------------------------------------------ table contract
class SSPSpec:
    """Serial model of an SSP table with ``size`` workers and bound ``s``
    (``None``: unbounded)."""

    def __init__(self, size, n_rows, width, s):
        self.size, self.s = size, s
        self.shape = (n_rows, width)
        self.clock = [0] * size
        self.pending = [np.zeros(self.shape) for _ in range(size)]
        # flushed[w][t]: worker w's updates of clock t
        self.flushed = [[] for _ in range(size)]

    def inc(self, w, rows, deltas):
        np.add.at(self.pending[w], rows, deltas)

    def blocked(self, w):
        """True while worker ``w`` must wait: after a clock, a bounded model
        blocks until the slowest worker is at most s clocks behind it."""
        return self.s is not None and min(self.clock) < self.clock[w] - self.s

    def do_clock(self, w):
        self.flushed[w].append(self.pending[w])
        self.pending[w] = np.zeros(self.shape)
        self.clock[w] += 1

    def bounds(self, w, rows):
        """(least, most) a correct read of ``rows`` by worker ``w`` may return."""
        c = self.clock[w]
        own = sum(self.flushed[w], np.zeros(self.shape)) + self.pending[w]
        least, most = own.copy(), own.copy()
        for v in range(self.size):
            if v == w:
                continue
            for t, upd in enumerate(self.flushed[v]):
                most += upd
                if self.s is not None and t <= c - self.s - 1:
                    least += upd
        return least[rows], most[rows]


def bsp_table_reads(n_rows, width, ops):
    """The values BSP reads return for a list of per-clock operations:
    ``ops[t][w] = (rows, deltas, read_rows)``: at clock t worker w first reads
    ``read_rows`` then increments.  Returns ``reads[t][w]``."""
    table = np.zeros((n_rows, width))
    reads = []
    for step in ops:
        reads.append([table[rr].copy() for _, _, rr in step])
        total = np.zeros_like(table)
        for rows, deltas, _ in step:
            np.add.at(total, rows, deltas)
        table = table + total
    return reads
