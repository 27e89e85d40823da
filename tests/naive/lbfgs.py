"""Serial, obviously-correct L-BFGS and OWL-QN on whole vectors (dense numpy).

Written from the textbook: the two-loop recursion of Nocedal & Wright,
*Numerical Optimization* (2nd ed.), Algorithm 7.4 with H0 = (s.y / y.y) I,
and OWL-QN from Andrew & Gao (ICML 2007): pseudo-gradient, direction sign
constraint, orthant projection of the trial point, y from the smooth loss.
The line-search rules are the ones mpiml documents (Armijo c1 = 1e-4; first
trial 1, or min(1, 1/||v||) without memory; L-BFGS backtracks to the
safeguarded quadratic minimiser in [0.1 t, 0.5 t], OWL-QN halves; pairs with
s.y <= eps y.y are skipped; the run stops after a step that lowers F by at
most eps max(|F|, 1)).

Objective: ``(1/n) sum loss(X w + b, y) + penalty(w)``; ``fit_intercept``
appends a column of ones whose weight is not penalised.
"""

import numpy as np

EPS = 2.220446049250313e-16


def loss_value_and_slope(z, y, loss):
    if loss == "logistic":
        return np.logaddexp(0.0, -y * z), -y / (1.0 + np.exp(y * z))
    if loss == "squared":
        return 0.5 * (z - y) ** 2, z - y
    if loss == "squared_hinge":
        h = np.maximum(0.0, 1.0 - y * z)
        return h * h, -2.0 * y * h
    raise ValueError(loss)


class Problem:
    def __init__(self, X, y, loss="logistic", penalty="l2", alpha=1e-2, fit_intercept=False):
        X = np.asarray(X, dtype=np.float64)
        self.d = X.shape[1]
        self.A = np.hstack([X, np.ones((X.shape[0], 1))]) if fit_intercept else X
        self.y, self.loss, self.penalty, self.alpha = np.asarray(y, float), loss, penalty, alpha
        self.mask = np.arange(self.A.shape[1]) < self.d     # penalised coordinates

    def smooth(self, w):
        """Value and gradient of the loss (+ l2) part."""
        lv, s = loss_value_and_slope(self.A @ w, self.y, self.loss)
        n = self.y.size
        f, g = lv.sum() / n, self.A.T @ s / n
        if self.penalty == "l2":
            f += 0.5 * self.alpha * np.sum(w[self.mask] ** 2)
            g = g + self.alpha * w * self.mask
        return f, g

    def value(self, w):
        f, _ = self.smooth(w)
        if self.penalty == "l1":
            f += self.alpha * np.abs(w[self.mask]).sum()
        return f

    def pseudo_gradient(self, w, g):
        if self.penalty != "l1":
            return g
        a = self.alpha
        v = np.zeros_like(g)
        for i in range(g.size):
            if not self.mask[i]:
                v[i] = g[i]
            elif w[i] > 0:
                v[i] = g[i] + a
            elif w[i] < 0:
                v[i] = g[i] - a
            elif g[i] + a < 0:
                v[i] = g[i] + a
            elif g[i] - a > 0:
                v[i] = g[i] - a
        return v


def two_loop(v, S, Y):
    """-H v by Nocedal & Wright's Algorithm 7.4 (S, Y: lists, oldest first)."""
    q = v.copy()
    alphas = []
    for s, y in reversed(list(zip(S, Y))):
        a = (s @ q) / (y @ s)
        alphas.append(a)
        q = q - a * y
    if S:
        q = q * ((S[-1] @ Y[-1]) / (Y[-1] @ Y[-1]))
    for (s, y), a in zip(zip(S, Y), reversed(alphas)):
        b = (y @ q) / (y @ s)
        q = q + (a - b) * s
    return -q


def minimize(prob, m=10, max_iter=50, tol=0.0):
    """Returns the list of iterates w_0, w_1, ... (and stops like mpiml)."""
    owl = prob.penalty == "l1"
    w = np.zeros(prob.A.shape[1])
    f = prob.value(w)
    _, g = prob.smooth(w)
    v = prob.pseudo_gradient(w, g)
    S, Y = [], []
    iterates = [w.copy()]
    for _ in range(max_iter):
        if np.linalg.norm(v) <= tol:
            break
        p = two_loop(v, S, Y)
        if owl:
            p = np.where(p * v < 0, p, 0.0)
        slope = v @ p
        if not slope < 0:
            S, Y = [], []
            p, slope = -v, -(v @ v)
        t = 1.0 if S else min(1.0, 1.0 / np.linalg.norm(v))
        xi = np.where(w != 0, np.sign(w), np.sign(-v))
        for _trial in range(40):
            if owl:
                wt = w + t * p
                wt = np.where(prob.mask & (np.sign(wt) != xi), 0.0, wt)
                ft = prob.value(wt)
                if ft <= f + 1e-4 * (v @ (wt - w)):
                    break
                t *= 0.5
            else:
                wt = w + t * p
                ft = prob.value(wt)
                if ft <= f + 1e-4 * t * slope:
                    break
                denom = 2.0 * (ft - f - slope * t)
                tq = -slope * t * t / denom if denom > 0 else 0.1 * t
                t = min(max(tq, 0.1 * t), 0.5 * t)
        else:
            break
        _, g_new = prob.smooth(wt)
        s, y = wt - w, g_new - g
        if s @ y > EPS * (y @ y):
            S.append(s)
            Y.append(y)
            if len(S) > m:
                S.pop(0)
                Y.pop(0)
        no_progress = f - ft <= EPS * max(abs(f), abs(ft), 1.0)
        w, f, g = wt, ft, g_new
        v = prob.pseudo_gradient(w, g)
        iterates.append(w.copy())
        if no_progress:
            break
    return iterates
