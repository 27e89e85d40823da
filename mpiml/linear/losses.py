"""Smooth losses of the margin for batch solvers, and evaluation metrics.

Vectorised numpy over a rank's rows (the batch solvers touch every row once
per evaluation, so there is no per-row loop to compile).  Labels are -1/+1
for the classification losses and real numbers for ``squared``.

=============== ============================== =====================
loss            value at margin z, label y      derivative in z
=============== ============================== =====================
logistic        log(1 + exp(-y z))              -y / (1 + exp(y z))
squared         (z - y)^2 / 2                   z - y
squared_hinge   max(0, 1 - y z)^2               -2 y max(0, 1 - y z)
=============== ============================== =====================
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

SMOOTH_LOSSES = ("logistic", "squared", "squared_hinge")
# Bins of the score histogram behind the distributed AUC (see auc_from_histograms).
AUC_BINS = 1024


def loss_sum(z: np.ndarray, y: np.ndarray, loss: str) -> float:
    """Summed loss over the rows."""
    if loss == "logistic":
        return float(np.logaddexp(0.0, -y * z).sum())
    if loss == "squared":
        r = z - y
        return float(0.5 * (r @ r))
    if loss == "squared_hinge":
        h = np.maximum(0.0, 1.0 - y * z)
        return float(h @ h)
    raise ValueError(f"unknown loss {loss!r}")


def slopes(z: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """Derivative of each row's loss with respect to its margin."""
    if loss == "logistic":
        return -y * expit(-y * z)
    if loss == "squared":
        return z - y
    if loss == "squared_hinge":
        return -2.0 * y * np.maximum(0.0, 1.0 - y * z)
    raise ValueError(f"unknown loss {loss!r}")


# ------------------------------------------------------------------ metrics
def metric_sums(z: np.ndarray, y: np.ndarray, loss: str, auc: bool = True) -> np.ndarray:
    """Local sums behind the metrics: ``[n, correct, logloss, squared error]``
    followed, for classification with ``auc``, by the positive and the
    negative score histograms (:data:`AUC_BINS` bins each).  Sum over ranks,
    then :func:`metrics_from_sums`."""
    n = float(z.size)
    if loss == "squared":
        r = z - y
        return np.array([n, 0.0, 0.0, float(r @ r)])
    correct = float(np.count_nonzero((z >= 0.0) == (y > 0.0)))
    ll = float(np.logaddexp(0.0, -y * z).sum())
    if not auc:
        return np.array([n, correct, ll, 0.0])
    pos, neg = score_histograms(z, y)
    return np.concatenate([[n, correct, ll, 0.0], pos, neg])


def metric_floats(loss: str, auc: bool) -> int:
    """Length of :func:`metric_sums`' array."""
    return 4 if loss == "squared" or not auc else 4 + 2 * AUC_BINS


def score_histograms(z: np.ndarray, y: np.ndarray, bins: int = AUC_BINS):
    """Counts of positive and negative rows per bin of ``sigmoid(z)``
    (``bins`` equal-width bins of [0, 1])."""
    b = np.minimum((expit(z) * bins).astype(np.int64), bins - 1)
    pos = np.bincount(b[y > 0], minlength=bins).astype(np.float64)
    neg = np.bincount(b[y <= 0], minlength=bins).astype(np.float64)
    return pos, neg


def auc_from_histograms(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """AUC from score histograms, counting a positive and a negative in the
    same bin as half a correctly ordered pair (as ties are), and the largest
    possible error of that: half the fraction of pairs that share a bin.
    Returns ``(auc, bound)``; NaN if a class is absent."""
    P, N = float(pos.sum()), float(neg.sum())
    if P == 0 or N == 0:
        return float("nan"), 0.0
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    same = float(pos @ neg)
    return float((pos @ below + 0.5 * same) / (P * N)), 0.5 * same / (P * N)


def auc_exact(z: np.ndarray, y: np.ndarray) -> float:
    """Serial.  Exact AUC (Mann-Whitney U with ties counted half)."""
    from scipy.stats import rankdata
    pos = y > 0
    P, N = int(pos.sum()), int((~pos).sum())
    if P == 0 or N == 0:
        return float("nan")
    ranks = rankdata(z)
    return float((ranks[pos].sum() - P * (P + 1) / 2.0) / (P * N))


def metrics_from_sums(tot: np.ndarray, loss: str) -> dict:
    """Metrics from :func:`metric_sums` summed over ranks."""
    n = max(float(tot[0]), 1.0)
    if loss == "squared":
        return {"rmse": float(np.sqrt(tot[3] / n))}
    out = {"acc": float(tot[1] / n), "logloss": float(tot[2] / n)}
    if tot.size > 4:
        out["auc"], _ = auc_from_histograms(tot[4:4 + AUC_BINS], tot[4 + AUC_BINS:])
    return out


def metrics_serial(z: np.ndarray, y: np.ndarray, loss: str) -> dict:
    """Serial.  The same metrics with the exact AUC (for ``mpiml predict``)."""
    out = metrics_from_sums(metric_sums(z, y, loss), loss)
    if loss != "squared":
        out["auc"] = auc_exact(z, y)
    return out
