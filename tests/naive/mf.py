"""Slow serial references for matrix factorisation.

* ``py_*``: plain-Python versions of the numba kernels (float64), to check
  the kernels' arithmetic.
* :func:`serial_dsgd`: one process walks the same stratified schedule over
  the whole W and H — blocks, shuffles, step sizes, Fugue extra updates — with
  plain loops; it calls the numba block kernel so that the distributed run
  can be required to equal it bit for bit.
* :func:`serial_als`: weighted-λ ALS with ``numpy.linalg.solve`` per row.
"""

from __future__ import annotations

import math

import numpy as np

from mpiml.mf import kernels
from mpiml.mf.common import block_seed, default_init_scale, init_factor_rows
from mpiml.mf.rowstate import slow_dims
from mpiml.mf.schedule import Schedule
from mpiml.partition import block_offsets, block_range

_M = (1 << 64) - 1


def _py_mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M
    return z ^ (z >> 31)


def py_shuffled_order(n: int, seed: int) -> list[int]:
    """Fisher–Yates with the kernel's splitmix64 stream."""
    out = list(range(n))
    state = int(seed)
    for t in range(n - 1, 0, -1):
        state = (state + 0x9E3779B97F4A7C15) & _M
        j = ((_py_mix(state) >> 32) * (t + 1)) >> 32
        out[t], out[j] = out[j], out[t]
    return out


def py_sample_index(seed: int, t: int, n: int) -> int:
    z = _py_mix((int(seed) + t * 0x9E3779B97F4A7C15) & _M)
    return ((z >> 32) * n) >> 32


def _py_step(W, H, u, i, r, lr, lam):
    w, h = W[u].copy(), H[i].copy()
    e = r - float(np.sum(w * h))
    W[u] = w + lr * (e * h - lam * w)
    H[i] = h + lr * (e * w - lam * h)
    return e


def py_sgd_block(W, H, users, items, values, lr, lam, seed):
    """SGD pass in the kernel's shuffled order; returns the online Σ e²."""
    sse = 0.0
    for t in py_shuffled_order(len(users), seed):
        e = _py_step(W, H, users[t], items[t], values[t], lr, lam)
        sse += e * e
    return sse


def py_sgd_sampled(W, H, users, items, values, lr, lam, seed, start, count):
    for t in range(start, start + count):
        x = py_sample_index(seed, t, len(users))
        _py_step(W, H, users[x], items[x], values[x], lr, lam)


def _py_step_rows(W, H, GW, GH, BW, BH, u, i, r, eta, lam, mu, adaptive, bias, ks, slow_only):
    """The adaptive / bias update written out.  Adaptive: coordinates
    ``[0, ks)`` (and the biases) step by ``eta / sqrt(G[row, 0])``, the rest by
    ``eta / sqrt(G[row, 1])`` (not at all when ``slow_only``), each G taken
    before the update and then grown by its part's mean squared gradient."""
    k = W.shape[1]
    w, h = W[u].copy(), H[i].copy()
    e = r - float(np.dot(w, h)) - ((mu + BW[u] + BH[i]) if bias else 0.0)
    gw, gh = lam * w - e * h, lam * h - e * w
    if not adaptive:
        W[u], H[i] = w - eta * gw, h - eta * gh
        if bias:
            BW[u], BH[i] = BW[u] - eta * (lam * BW[u] - e), BH[i] - eta * (lam * BH[i] - e)
        return e
    s = slice(0, ks)
    su, si = eta / math.sqrt(GW[u, 0]), eta / math.sqrt(GH[i, 0])
    W[u, s], H[i, s] = w[s] - su * gw[s], h[s] - si * gh[s]
    gu2, gi2 = float(np.dot(gw[s], gw[s])), float(np.dot(gh[s], gh[s]))
    if bias:
        gbu, gbi = lam * BW[u] - e, lam * BH[i] - e
        BW[u] -= su * gbu
        BH[i] -= si * gbi
        gu2, gi2 = gu2 + gbu * gbu, gi2 + gbi * gbi
    n0 = ks + (1 if bias else 0)
    GW[u, 0] += gu2 / n0
    GH[i, 0] += gi2 / n0
    if ks < k and not slow_only:
        f = slice(ks, k)
        su, si = eta / math.sqrt(GW[u, 1]), eta / math.sqrt(GH[i, 1])
        W[u, f], H[i, f] = w[f] - su * gw[f], h[f] - si * gh[f]
        GW[u, 1] += float(np.dot(gw[f], gw[f])) / (k - ks)
        GH[i, 1] += float(np.dot(gh[f], gh[f])) / (k - ks)
    return e


def py_sgd_block_rows(W, H, GW, GH, BW, BH, users, items, values, eta, lam, mu, seed, adaptive, bias,
                      ks, slow_only):
    """:func:`py_sgd_block` with adaptive steps and/or biases; returns the online Σ e²."""
    sse = 0.0
    for t in py_shuffled_order(len(users), seed):
        e = _py_step_rows(W, H, GW, GH, BW, BH, users[t], items[t], float(values[t]), eta, lam, mu,
                          adaptive, bias, ks, slow_only)
        sse += e * e
    return sse


def py_sgd_sampled_rows(W, H, GW, GH, BW, BH, users, items, values, eta, lam, mu, seed, start, count,
                        adaptive, bias, ks, slow_only):
    for t in range(start, start + count):
        x = py_sample_index(seed, t, len(users))
        _py_step_rows(W, H, GW, GH, BW, BH, users[x], items[x], float(values[x]), eta, lam, mu, adaptive,
                      bias, ks, slow_only)


def py_block_loss_bias(W, H, BW, BH, mu, users, items, values):
    sse = reg = 0.0
    for u, i, r in zip(users, items, values):
        e = r - mu - BW[u] - BH[i] - float(np.dot(W[u], H[i]))
        sse += e * e
        reg += float(np.dot(W[u], W[u]) + np.dot(H[i], H[i]) + BW[u] ** 2 + BH[i] ** 2)
    return sse, reg


def py_block_loss(W, H, users, items, values):
    sse = reg = 0.0
    for u, i, r in zip(users, items, values):
        e = r - float(np.dot(W[u], H[i]))
        sse += e * e
        reg += float(np.dot(W[u], W[u]) + np.dot(H[i], H[i]))
    return sse, reg


def py_als_rows(rows_ratings, F, lam, k):
    """``rows_ratings[a]`` = list of (col, value); weighted-λ solve per row."""
    out = np.zeros((len(rows_ratings), k))
    for a, ent in enumerate(rows_ratings):
        if not ent:
            continue
        cols = [c for c, _ in ent]
        v = np.array([x for _, x in ent])
        Fa = F[cols]
        out[a] = np.linalg.solve(Fa.T @ Fa + lam * len(ent) * np.eye(k), Fa.T @ v)
    return out


def _nested(n, P, b):
    out = [0]
    for r in range(P):
        lo, hi = block_range(n, P, r)
        out += [lo + int(x) for x in block_offsets(hi - lo, b)[1:]]
    return out


def _blocks(users, items, values, roff, coff, dtype=np.float32):
    """Dict (i, j) -> (users, items, values) sorted by (user, item), global ids,
    values in ``dtype``."""
    d = len(roff) - 1
    out = {}
    for i in range(d):
        for j in range(d):
            sel = sorted((int(u), int(it), float(v)) for u, it, v in zip(users, items, values)
                         if roff[i] <= u < roff[i + 1] and coff[j] <= it < coff[j + 1])
            out[(i, j)] = (np.array([s[0] for s in sel], dtype=np.int32),
                           np.array([s[1] for s in sel], dtype=np.int32),
                           np.array([s[2] for s in sel], dtype=dtype))
    return out


def serial_dsgd(train, n_users, n_items, *, n_ranks, blocks_per_rank=1, k=4, lam=0.05, lr=0.01,
                step="bold", decay=0.0, order="WOR", seed=0, n_epochs=3, valid=None,
                fugue_extra=None, init_scale=None, bias=False, state=None, dtype="float32"):
    """Serial simulation of DSGD (and Fugue when ``fugue_extra`` gives the
    extra-update counts ``[epoch][sub-epoch, row block]``), with factors and
    ratings in ``dtype`` (the kernels' arithmetic follows their arrays).

    ``step="adaptive"``: ``lr`` is eta0 and two accumulators per W and H row
    (slow and fast coordinates, starting at 1) scale the steps, the fast
    coordinates resting in the first epoch; ``bias``: global mean (the block-order
    sum of the training ratings / their count) plus user and item biases.
    Returns ``(W, H, records)`` with records ``{"lr", "objective", "valid_sse"}``;
    with a dict ``state`` it also receives ``GW``, ``GH``, ``BW``, ``BH``, ``mu``.
    """
    P, b = n_ranks, blocks_per_rank
    d = P * b
    roff, coff = _nested(n_users, P, b), _nested(n_items, P, b)
    dtype = np.dtype(dtype)
    blocks = _blocks(*train, roff, coff, dtype)
    vblocks = _blocks(*valid, roff, coff, dtype) if valid is not None else None
    tot = total = 0.0
    for key in sorted(blocks):
        tot += float(kernels.sum_squares(blocks[key][2]))
        total += float(kernels.sum_values(blocks[key][2]))
    mu = total / len(train[0]) if bias else 0.0
    if init_scale is None:
        init_scale = 1.0 / np.sqrt(k) if bias or step == "adaptive" else default_init_scale(tot, len(train[0]), k)
    W = init_factor_rows(seed, "W", 0, n_users, k, init_scale, dtype)
    H = init_factor_rows(seed, "H", 0, n_items, k, init_scale, dtype)
    adaptive = step == "adaptive"
    GW, GH = np.ones((n_users, 2), dtype), np.ones((n_items, 2), dtype)
    ks = slow_dims(k)
    BW, BH = np.zeros(n_users, dtype), np.zeros(n_items, dtype)
    plain = not (adaptive or bias)
    sched = Schedule(order, P, b, seed)
    n = max(len(v[0]) for v in blocks.values())
    scratch = (np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, dtype))
    cur_lr, prev, records = lr, None, []
    for e in range(n_epochs):
        eff = lr / (1 + decay * e) if step == "decay" else cur_lr
        for s in range(d):
            cols = sched.stratum(e, s)
            for i in range(d):
                j = int(cols[i])
                u, it, v = blocks[(i, j)]
                if plain:
                    kernels.sgd_block(W, H, u, it, v, *scratch, eff, lam, block_seed(seed, e, i, j))
                else:
                    kernels.sgd_block_rows(W, H, GW, GH, BW, BH, u, it, v, *scratch, eff, lam, mu,
                                           block_seed(seed, e, i, j), adaptive, bias, ks, e == 0)
            if fugue_extra is not None:
                for i in range(d):
                    j = int(cols[i])
                    c = int(fugue_extra[e][s, i])
                    if c and plain:
                        kernels.sgd_sampled(W, H, *blocks[(i, j)], eff, lam,
                                            block_seed(seed, e, i, j, 7), 0, c)
                    elif c:
                        kernels.sgd_sampled_rows(W, H, GW, GH, BW, BH, *blocks[(i, j)], eff, lam, mu,
                                                 block_seed(seed, e, i, j, 7), 0, c, adaptive, bias, ks,
                                                 e == 0)
        sse = reg = vsse = 0.0
        nw, nh = np.empty(n_users), np.empty(n_items)
        kernels.row_norms(W, nw)
        kernels.row_norms(H, nh)

        def loss(blk):
            if bias:
                return kernels.block_loss_bias_normed(W, H, BW, BH, mu, nw, nh, *blk)
            return kernels.block_loss_normed(W, H, nw, nh, *blk)
        for key in sorted(blocks):
            a, bb = loss(blocks[key])
            sse += a
            reg += bb
            vsse += loss(vblocks[key])[0] if vblocks is not None else 0.0
        obj = sse + lam * reg
        if step == "bold" and prev is not None:
            cur_lr *= 1.05 if obj < prev else 0.5
        prev = obj
        records.append({"lr": eff, "objective": obj, "valid_sse": vsse})
    if state is not None:
        state.update(GW=GW, GH=GH, BW=BW, BH=BH, mu=mu)
    return W, H, records


def serial_als(train, n_users, n_items, *, k, lam, seed, n_epochs, init_scale, dtype="float64"):
    """Weighted-λ ALS with dense per-row solves in float64, each solution
    rounded to ``dtype`` when stored; returns ``(W, H, objectives)``."""
    users, items, values = train
    by_u = [[] for _ in range(n_users)]
    by_i = [[] for _ in range(n_items)]
    for u, i, r in sorted(zip(users.tolist(), items.tolist(), values.tolist())):
        by_u[u].append((i, r))
    for u, i, r in sorted(zip(items.tolist(), users.tolist(), values.tolist())):
        by_i[u].append((i, r))
    H = init_factor_rows(seed, "H", 0, n_items, k, init_scale, dtype)
    W = np.zeros((n_users, k), dtype)
    objs = []
    for _ in range(n_epochs):
        W = py_als_rows(by_u, H.astype(np.float64), lam, k).astype(dtype)
        H = py_als_rows(by_i, W.astype(np.float64), lam, k).astype(dtype)
        W64, H64 = W.astype(np.float64), H.astype(np.float64)
        pred = np.einsum("ij,ij->i", W64[users], H64[items])
        reg = np.sum(W64[users] ** 2) + np.sum(H64[items] ** 2)
        objs.append(float(np.sum((values - pred) ** 2) + lam * reg))
    return W, H, objs


def rmse(W, H, users, items, values) -> float:
    pred = np.einsum("ij,ij->i", np.asarray(W, np.float64)[users], np.asarray(H, np.float64)[items])
    return math.sqrt(float(np.mean((values - pred) ** 2)))
