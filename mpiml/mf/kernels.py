"""Numba kernels for matrix factorisation (the only numba importer in mpiml.mf).

Every kernel takes numpy arrays and scalars and updates factor rows in place;
randomness comes from an explicit 64-bit ``seed`` (splitmix64), never from a
global generator, so the same call gives the same result on any rank.

Objective (Gemulla et al. 2011; weighted-λ as in Zhou et al. 2008)::

    L(W, H) = Σ_(u,i)∈Ω (r_ui − w_u·h_i)² + λ Σ_(u,i)∈Ω (‖w_u‖² + ‖h_i‖²)

The per-rating term is what one SGD step descends, so SGD (DSGD, Fugue) and
ALS with λ·n_u regularisation minimise the same ``L``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)

# LLVM fast-math flags for the loops over the k factors.  "reassoc" lets the
# dot products and squared norms use SIMD partial sums (without it a float
# reduction must run one term after another); the summation order is then
# fixed by the compiled code, not by the data's position in memory (no
# alignment peeling on x86-64), so equal inputs give equal bits on every rank
# and in the serial replay that calls the same kernels.  "nnan"/"ninf" are
# left out: a diverging run must still produce the inf/NaN objective the
# driver checks for.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, inline="always")
def _mix(z):
    """splitmix64 finaliser: a well-mixed 64-bit value from a 64-bit counter."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _below(z, n):
    """Map a 64-bit random value to [0, n) by multiply-shift (Lemire)."""
    return np.int64(((z >> _S32) * np.uint64(n)) >> _S32)


@njit(cache=True)
def shuffled_order(n, seed, out):
    """Fill ``out[:n]`` with a permutation of 0..n-1 (Fisher–Yates, splitmix64 stream)."""
    state = np.uint64(seed)
    for t in range(n):
        out[t] = t
    for t in range(n - 1, 0, -1):
        state += _GOLDEN
        j = _below(_mix(state), t + 1)
        tmp = out[t]
        out[t] = out[j]
        out[j] = tmp


@njit(cache=True, fastmath=_FAST)
def sgd_block(W, H, users, items, values, scratch_i, scratch_u, scratch_v, lr, lam, seed):
    """One SGD pass over a block's ratings in a seeded shuffled order.

    ``W[users[t]]`` and ``H[items[t]]`` are updated in place with the step
    ``w += lr (e h − λ w)``, ``h += lr (e w − λ h)`` where ``e = r − w·h``
    (both from the old values).  The visiting order is
    ``shuffled_order(nnz, seed)``.  ``scratch_*`` (int, int, float, length
    ≥ nnz) receive the shuffled copy of the block: streaming through a copy is
    ~2-3x faster than indexing through the permutation (random loads of three
    arrays per update).  Returns the sum of squared errors seen before each
    update (the "online" loss).
    """
    n = users.shape[0]
    k = W.shape[1]
    shuffled_order(n, seed, scratch_i)
    for t in range(n):
        o = scratch_i[t]
        scratch_u[t] = users[o]
        scratch_v[t] = values[o]
        scratch_i[t] = items[o]   # o is no longer needed once read
    lr = W.dtype.type(lr)
    lam = W.dtype.type(lam)
    sse = 0.0
    for t in range(n):
        w = W[scratch_u[t]]
        h = H[scratch_i[t]]
        pred = W.dtype.type(0.0)
        for f in range(k):
            pred += w[f] * h[f]
        e = scratch_v[t] - pred
        sse += e * e
        for f in range(k):
            wf = w[f]
            hf = h[f]
            w[f] = wf + lr * (e * hf - lam * wf)
            h[f] = hf + lr * (e * wf - lam * hf)
    return sse


@njit(cache=True, fastmath=_FAST)
def sgd_sampled(W, H, users, items, values, lr, lam, seed, start, count):
    """Fugue's extra updates: ``count`` SGD steps on ratings sampled with
    replacement from the block, the t-th sample (t counted from ``start``)
    being a pure function of ``(seed, t)``.

    Splitting ``count`` into chunks with consecutive ``start`` gives exactly
    the same updates as one call, so a driver may stop after any chunk.
    """
    n = users.shape[0]
    if n == 0:
        return
    k = W.shape[1]
    lr = W.dtype.type(lr)
    lam = W.dtype.type(lam)
    base = np.uint64(seed)
    for t in range(start, start + count):
        idx = _below(_mix(base + np.uint64(t) * _GOLDEN), n)
        w = W[users[idx]]
        h = H[items[idx]]
        pred = W.dtype.type(0.0)
        for f in range(k):
            pred += w[f] * h[f]
        e = values[idx] - pred
        for f in range(k):
            wf = w[f]
            hf = h[f]
            w[f] = wf + lr * (e * hf - lam * wf)
            h[f] = hf + lr * (e * wf - lam * hf)


# The adaptive / bias kernels come in one compiled specialisation per
# (adaptive, bias, slow_only): numba freezes a closure's variables as
# constants, so the flags reach the inlined update as constants and every
# branch on them is folded before the loops are optimised.  (With the flags
# as runtime arguments of one function, the kernel ran 5-9x slower than the
# plain one.)  numba's cache keys a closure's compiled code by the values of
# its variables as well as by its bytecode, so the variants cache apart.


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _adagrad_part(w, h, e, lam, su, si):
    """Step the coordinates of the views ``w``, ``h`` (one part of a W row and
    an H row) by ``su``, ``si`` along the gradients with error ``e``; returns
    the sums of the squared gradients (W side, H side).

    The loop runs over views that start at 0: indexing ``w[f]`` for ``f`` in
    ``range(ks, k)`` of a whole row makes numba emit a negative-index test
    per access (it cannot prove ``ks >= 0``), which kept that loop scalar."""
    typ = w.dtype.type
    gu2 = typ(0.0)
    gi2 = typ(0.0)
    for f in range(w.shape[0]):
        wf = w[f]
        hf = h[f]
        gw = lam * wf - e * hf
        gh = lam * hf - e * wf
        gu2 += gw * gw
        gi2 += gh * gh
        w[f] = wf - su * gw
        h[f] = hf - si * gh
    return gu2, gi2


@njit(cache=True, inline="always")
def _slow_mask(W, ks):
    """Per coordinate of a W row, 1 in the slow part (``f < ks``), else 0 (W's dtype)."""
    slow = np.zeros(W.shape[1], W.dtype)
    slow[:ks] = 1.0
    return slow


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _step_rows(W, H, GW, GH, BW, BH, u, i, r, eta, lam, mu, ks, slow, adaptive, bias, slow_only):
    """One update of :func:`sgd_block_rows` (rows ``u`` of W, ``i`` of H);
    returns the error before it.  Only ever called with constant flags;
    ``slow`` is :func:`_slow_mask` of the row length and ``ks``."""
    k = W.shape[1]
    w = W[u]
    h = H[i]
    pred = W.dtype.type(0.0)
    for f in range(k):
        pred += w[f] * h[f]
    if bias:
        pred += mu + BW[u] + BH[i]
    e = r - pred
    if not adaptive:
        for f in range(k):
            wf = w[f]
            hf = h[f]
            w[f] = wf - eta * (lam * wf - e * hf)
            h[f] = hf - eta * (lam * hf - e * wf)
        if bias:
            bu = BW[u]
            bi = BH[i]
            BW[u] = bu - eta * (lam * bu - e)
            BH[i] = bi - eta * (lam * bi - e)
        return e
    typ = W.dtype.type
    su = eta / np.sqrt(GW[u, 0])
    si = eta / np.sqrt(GH[i, 0])
    if slow_only:
        gu2, gi2 = _adagrad_part(w[:ks], h[:ks], e, lam, su, si)
    else:
        # Both parts in one loop over all k coordinates.  Every quantity of
        # the rule (e, the gradients, both parts' steps from G before this
        # update) depends only on the values before the update, so the loop
        # may pick each coordinate's step by the 0/1 mask ``slow`` (1 for
        # f < ks): x·1 + y·0 is exactly x for finite steps (G >= 1).  A
        # 32-iteration loop is what LLVM's main vector loop needs here (8
        # floats x 4 interleaved); the two part loops of 4 and 28 ran in its
        # remainder.  The loop sums the squared gradients over the whole row;
        # the slow part's sums come from a ks-iteration loop over the old
        # values first (summing under the mask inside the fused loop as well
        # cost its speed), and the fast part's are the difference.
        gu2 = typ(0.0)
        gi2 = typ(0.0)
        for f in range(ks):
            gw = lam * w[f] - e * h[f]
            gh = lam * h[f] - e * w[f]
            gu2 += gw * gw
            gi2 += gh * gh
        su1 = eta / np.sqrt(GW[u, 1])
        si1 = eta / np.sqrt(GH[i, 1])
        one = typ(1.0)
        tu2 = typ(0.0)
        ti2 = typ(0.0)
        for f in range(k):
            wf = w[f]
            hf = h[f]
            gw = lam * wf - e * hf
            gh = lam * hf - e * wf
            tu2 += gw * gw
            ti2 += gh * gh
            m = slow[f]
            w[f] = wf - (su * m + su1 * (one - m)) * gw
            h[f] = hf - (si * m + si1 * (one - m)) * gh
        # The difference of two sums of the same non-negative terms in
        # different orders; when the fast part is empty (ks == k) or tiny it
        # may round below 0, which an accumulator must not do.
        n1 = typ(max(k - ks, 1))
        GW[u, 1] += max(tu2 - gu2, typ(0.0)) / n1
        GH[i, 1] += max(ti2 - gi2, typ(0.0)) / n1
    if bias:
        gw = lam * BW[u] - e
        gh = lam * BH[i] - e
        gu2 += gw * gw
        gi2 += gh * gh
        BW[u] -= su * gw
        BH[i] -= si * gh
    n0 = typ(ks + (1 if bias else 0))
    GW[u, 0] += gu2 / n0
    GH[i, 0] += gi2 / n0
    return e


def _make_block_rows(adaptive, bias, slow_only):
    @njit(cache=True, fastmath=_FAST, error_model="numpy")
    def block(W, H, GW, GH, BW, BH, users, items, values, scratch_i, scratch_u, scratch_v, eta, lam, mu,
              seed, ks):
        n = users.shape[0]
        shuffled_order(n, seed, scratch_i)
        for t in range(n):
            o = scratch_i[t]
            scratch_u[t] = users[o]
            scratch_v[t] = values[o]
            scratch_i[t] = items[o]
        typ = W.dtype.type
        eta = typ(eta)
        lam = typ(lam)
        mu = typ(mu)
        slow = _slow_mask(W, ks)
        sse = 0.0
        for t in range(n):
            e = _step_rows(W, H, GW, GH, BW, BH, scratch_u[t], scratch_i[t], typ(scratch_v[t]), eta, lam,
                           mu, ks, slow, adaptive, bias, slow_only)
            sse += np.float64(e) * np.float64(e)
        return sse
    return block


def _make_sampled_rows(adaptive, bias, slow_only):
    @njit(cache=True, fastmath=_FAST, error_model="numpy")
    def sampled(W, H, GW, GH, BW, BH, users, items, values, eta, lam, mu, seed, start, count, ks):
        n = users.shape[0]
        if n == 0:
            return
        typ = W.dtype.type
        eta = typ(eta)
        lam = typ(lam)
        mu = typ(mu)
        base = np.uint64(seed)
        slow = _slow_mask(W, ks)
        for t in range(start, start + count):
            idx = _below(_mix(base + np.uint64(t) * _GOLDEN), n)
            _step_rows(W, H, GW, GH, BW, BH, users[idx], items[idx], typ(values[idx]), eta, lam, mu, ks,
                       slow, adaptive, bias, slow_only)
    return sampled


def _variants():
    out = {}
    for adaptive in (False, True):
        for bias in (False, True):
            for slow_only in ((False, True) if adaptive else (False,)):
                out[adaptive, bias, slow_only] = (_make_block_rows(adaptive, bias, slow_only),
                                                  _make_sampled_rows(adaptive, bias, slow_only))
    return out


_ROWS = _variants()


def rows_kernels(adaptive: bool, bias: bool, slow_only: bool):
    """``(block, sampled)``: the compiled :func:`sgd_block_rows` /
    :func:`sgd_sampled_rows` of one variant, taking the same arguments but the
    three flags (a caller that runs many blocks looks them up once)."""
    return _ROWS[bool(adaptive), bool(bias), bool(slow_only) and bool(adaptive)]


def sgd_block_rows(W, H, GW, GH, BW, BH, users, items, values, scratch_i, scratch_u, scratch_v,
                   eta, lam, mu, seed, adaptive, bias, ks, slow_only):
    """:func:`sgd_block` with per-row adaptive steps and/or bias terms.

    One SGD update per rating, in the order ``shuffled_order(nnz, seed)``
    (as :func:`sgd_block`): with error ``e = r − pred`` (``pred = w·h``, plus
    ``mu + BW[u] + BH[i]`` with ``bias``), every coordinate ``x`` of the W row
    and the H row steps to ``x − s·g`` along its gradient ``g`` (``λ w − e h``,
    ``λ h − e w``; a bias's is ``λ b − e``).  Without ``adaptive``, ``s`` is
    ``eta``.  With ``adaptive`` (Chin, Zhuang, Juan, Lin, PAKDD 2015, as LIBMF
    runs it) a row's coordinates form two parts, the first ``ks`` ("slow",
    with the bias) and the rest ("fast"), each with its own accumulator
    ``G[row, part]`` (``GW``/``GH``, ``rows × 2``, start at 1): the part steps
    by ``eta / sqrt(G)`` with G *before* this update, and G then grows by the
    mean squared gradient over the part's coordinates.  With ``slow_only``
    (the first epoch) only the slow part moves, so the fast part starts the
    second epoch with its full step instead of one already shrunk by the
    large early gradients.

    Arrays a variant does not use may be empty.  All arrays share W's dtype;
    scalars are cast to it, so float32 and float64 factors each compute in
    their own precision.  Returns the online Σ e² (errors before each
    update) in float64.
    """
    block, _ = rows_kernels(adaptive, bias, slow_only)
    return block(W, H, GW, GH, BW, BH, users, items, values, scratch_i, scratch_u, scratch_v, eta, lam, mu,
                 seed, ks)


def sgd_sampled_rows(W, H, GW, GH, BW, BH, users, items, values, eta, lam, mu, seed, start, count,
                     adaptive, bias, ks, slow_only):
    """:func:`sgd_sampled` (same samples) with the updates of :func:`sgd_block_rows`."""
    _, sampled = rows_kernels(adaptive, bias, slow_only)
    sampled(W, H, GW, GH, BW, BH, users, items, values, eta, lam, mu, seed, start, count, ks)


@njit(cache=True, fastmath=_FAST, inline="always")
def _row_dot(W, H, u, i):
    """``W[u] · H[i]`` in the factors' dtype (SIMD partial sums, see ``_FAST``)."""
    w = W[u]
    h = H[i]
    pred = W.dtype.type(0.0)
    for f in range(W.shape[1]):
        pred += w[f] * h[f]
    return pred


@njit(cache=True, fastmath=_FAST)
def block_loss_bias_normed(W, H, BW, BH, mu, nw, nh, users, items, values):
    """:func:`block_loss_normed` for the model ``mu + BW[u] + BH[i] + w·h``:
    ``(Σ e², Σ (nw[u] + nh[i] + BW[u]² + BH[i]²))``.

    ``w·h`` in the factors' dtype (SIMD partial sums), then the biases, the
    error and both sums in float64, in array order: one dot product per
    rating, as without biases."""
    sse = 0.0
    reg = 0.0
    for t in range(users.shape[0]):
        u = users[t]
        i = items[t]
        pred = _row_dot(W, H, u, i)
        bu = np.float64(BW[u])
        bi = np.float64(BH[i])
        e = np.float64(values[t]) - (np.float64(mu) + bu + bi + np.float64(pred))
        sse += e * e
        reg += nw[u] + nh[i] + bu * bu + bi * bi
    return sse, reg


@njit(cache=True, fastmath=_FAST)
def block_loss(W, H, users, items, values):
    """Return ``(Σ e², Σ (‖w_u‖² + ‖h_i‖²))`` over the triplets, in float64
    (factors widened before multiplying, whatever their dtype).  The sums over
    the k factors use SIMD partial sums (see ``_FAST``), so equal inputs give
    bit-equal sums."""
    sse = 0.0
    reg = 0.0
    k = W.shape[1]
    for t in range(users.shape[0]):
        w = W[users[t]]
        h = H[items[t]]
        pred = 0.0
        nw = 0.0
        nh = 0.0
        for f in range(k):
            wf = np.float64(w[f])
            hf = np.float64(h[f])
            pred += wf * hf
            nw += wf * wf
            nh += hf * hf
        e = np.float64(values[t]) - pred
        sse += e * e
        reg += nw + nh
    return sse, reg


@njit(cache=True, fastmath=_FAST)
def row_norms(X, out):
    """``out[r] = ‖X[r]‖²`` in float64 (each row's terms widened first)."""
    k = X.shape[1]
    for r in range(X.shape[0]):
        s = 0.0
        for f in range(k):
            x = np.float64(X[r, f])
            s += x * x
        out[r] = s


@njit(cache=True, fastmath=_FAST)
def block_loss_normed(W, H, nw, nh, users, items, values):
    """:func:`block_loss` with the rows' squared norms given (``nw`` = ``row_norms(W)``,
    ``nh`` = ``row_norms(H)``): ``(Σ e², Σ (nw[u] + nh[i]))``.

    The prediction ``w·h`` is computed in the factors' dtype (SIMD partial
    sums, see ``_FAST``) and the error and both sums over the ratings in
    float64, in array order.  Per rating this is one dot product instead of
    three, which is what the per-epoch loss pass costs.
    """
    sse = 0.0
    reg = 0.0
    for t in range(users.shape[0]):
        u = users[t]
        i = items[t]
        pred = _row_dot(W, H, u, i)
        e = np.float64(values[t]) - np.float64(pred)
        sse += e * e
        reg += nw[u] + nh[i]
    return sse, reg


@njit(cache=True)
def predict_pairs(W, H, users, items, out):
    """``out[t] = W[users[t]] · H[items[t]]`` in float64."""
    k = W.shape[1]
    for t in range(users.shape[0]):
        s = 0.0
        for f in range(k):
            s += np.float64(W[users[t], f]) * np.float64(H[items[t], f])
        out[t] = s


@njit(cache=True)
def _cholesky_solve(A, b, k):
    """Solve A x = b in place (b becomes x) for symmetric positive definite A."""
    for j in range(k):
        s = A[j, j]
        for p in range(j):
            s -= A[j, p] * A[j, p]
        d = np.sqrt(s)
        A[j, j] = d
        for i in range(j + 1, k):
            s = A[i, j]
            for p in range(j):
                s -= A[i, p] * A[j, p]
            A[i, j] = s / d
    for i in range(k):               # L y = b
        s = b[i]
        for p in range(i):
            s -= A[i, p] * b[p]
        b[i] = s / A[i, i]
    for i in range(k - 1, -1, -1):   # Lᵀ x = y
        s = b[i]
        for p in range(i + 1, k):
            s -= A[p, i] * b[p]
        b[i] = s / A[i, i]


@njit(cache=True)
def als_solve_rows(indptr, cols, values, F, lam, out):
    """Weighted-λ ALS: for each row ``a`` of a CSR matrix, set

        out[a] = argmin_x Σ_j (v_aj − x·F[j])² + λ n_a ‖x‖²,
        i.e. (F_Ωᵀ F_Ω + λ n_a I) x = F_Ωᵀ v_a   (Zhou et al. 2008),

    where ``cols`` index rows of ``F``.  Rows with no entries get zeros.
    Float64 arithmetic whatever ``F``'s dtype (``out`` may be float32: each
    solution is rounded once when stored); the sums run in CSR order, so the
    result depends only on the row's entries and the referenced ``F`` rows.
    """
    k = F.shape[1]
    A = np.empty((k, k))
    b = np.empty(k)
    for a in range(indptr.shape[0] - 1):
        lo = indptr[a]
        hi = indptr[a + 1]
        if hi == lo:
            out[a, :] = 0.0
            continue
        A[:, :] = 0.0
        b[:] = 0.0
        for t in range(lo, hi):
            f = F[cols[t]]
            v = values[t]
            for p in range(k):
                fp = np.float64(f[p])      # float32 rows are widened, not multiplied in float32
                b[p] += v * fp
                for q in range(p + 1):
                    A[p, q] += fp * np.float64(f[q])
        reg = lam * (hi - lo)
        for p in range(k):
            A[p, p] += reg
            for q in range(p):
                A[q, p] = A[p, q]
        _cholesky_solve(A, b, k)
        out[a, :] = b


@njit(cache=True)
def sum_values(values):
    """Σ v in float64, summed in array order."""
    s = 0.0
    for t in range(values.shape[0]):
        s += np.float64(values[t])
    return s


@njit(cache=True)
def sum_squares(values):
    """Σ v² in float64, summed in array order."""
    s = 0.0
    for t in range(values.shape[0]):
        x = np.float64(values[t])
        s += x * x
    return s
