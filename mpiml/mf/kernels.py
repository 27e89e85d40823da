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
    k = W.shape[1]
    zero = W.dtype.type(0.0)
    for t in range(users.shape[0]):
        u = users[t]
        i = items[t]
        w = W[u]
        h = H[i]
        pred = zero
        for f in range(k):
            pred += w[f] * h[f]
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
def sum_squares(values):
    """Σ v² in float64, summed in array order."""
    s = 0.0
    for t in range(values.shape[0]):
        x = np.float64(values[t])
        s += x * x
    return s
