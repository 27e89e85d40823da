"""``mpiml bench lasso``: updates and seconds to a duality gap for the sap,
random and cyclic schedules at several rank counts, on a synthetic problem
and on one with highly correlated column pairs, beside scikit-learn's
``Lasso`` on the same data in the same run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .launcher import mpiexec


def register(b) -> None:
    p = b.add_parser("lasso", help="Lasso: sap/random/cyclic updates and seconds to a duality gap at "
                                   "several rank counts vs scikit-learn")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--d", type=int, default=1_000)
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--corr", type=float, default=0.9, help="correlation within a column pair")
    p.add_argument("--tol", type=float, default=1e-6, help="scikit-learn's tol (gap <= tol ||y||^2)")
    p.add_argument("--parallel", type=int, default=32, help="coordinates per round (default %(default)s)")
    p.add_argument("--ranks", default="1,2,4", help="comma-separated rank counts (default %(default)s)")
    p.add_argument("--schedules", default="sap,random,cyclic")
    p.add_argument("--problems", default="synthetic,correlated")
    p.add_argument("--max-iter", type=int, default=200)
    p.set_defaults(func=bench_lasso)


def _run(ranks, args, timeout=900):
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", "-m", "mpiml", *map(str, args)]
    env = dict(os.environ, MPIEXEC_TIMEOUT=str(timeout))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, env=env)


def _sklearn(X, y, alpha, tol):
    try:
        from sklearn.linear_model import Lasso as SK
    except ImportError:
        return None
    best = None
    for _ in range(2):
        t0 = time.perf_counter()
        m = SK(alpha=alpha, fit_intercept=False, tol=tol, max_iter=100_000).fit(X, y)
        t = time.perf_counter() - t0
        if best is None or t < best[0]:
            r = y - X @ m.coef_
            obj = 0.5 * r @ r / len(y) + alpha * np.abs(m.coef_).sum()
            best = (t, int(m.n_iter_), float(obj), int(np.count_nonzero(m.coef_)))
    return best


def bench_lasso(args) -> int:
    from ..datasets.regression import make_correlated, make_regression
    ranks = [int(r) for r in args.ranks.split(",")]
    print(f"Lasso benchmark: {args.n} x {args.d}, alpha {args.alpha}, stop at duality gap <= "
          f"{args.tol:g} ||y||^2 (scikit-learn's test, checked when it would check), P = "
          f"{args.parallel}; {os.cpu_count()} cores (more ranks oversubscribe); load average "
          f"{os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for prob in args.problems.split(","):
            if prob == "synthetic":
                X, y, _ = make_regression(args.n, args.d, seed=1)
                what = "Gaussian columns, 10% informative"
            else:
                X, y, _, _ = make_correlated(args.n, args.d, corr=args.corr, common=0.0, seed=1)
                what = f"column pairs with correlation {args.corr} at random positions"
            xp, yp = Path(tmp) / f"{prob}-X.npy", Path(tmp) / f"{prob}-y.npy"
            np.save(xp, X)
            np.save(yp, y)
            sk = _sklearn(X, y, args.alpha, args.tol)
            print(f"\n{prob}: {what}")
            if sk:
                print(f"scikit-learn Lasso: {sk[0]:.3f} s, {sk[1]} epochs = "
                      f"{sk[1] * args.d:,} updates, objective {sk[2]:.10e}, nnz {sk[3]}")
            print(f"{'schedule':<10s} {'P':>4s} {'ranks':>5s} {'iters':>6s} {'updates':>9s} {'seconds':>8s} "
                  f"{'vs sklearn':>10s} {'setup s':>8s} {'objective':>17s} {'rel.diff':>9s} "
                  f"{'rejected':>8s} {'B/round':>9s} {'8p(n+P)':>9s} {'load':>5s}")
            runs = [(s, args.parallel, r) for s in args.schedules.split(",") for r in ranks]
            if "cyclic" in args.schedules:
                runs.insert(0, ("cyclic", 1, 1))
            for sched, P, r in runs:
                log = Path(tmp) / f"{prob}-{sched}-{P}-{r}.jsonl"
                res = _run(r, ["train", "lasso", "--data", xp, "--labels", yp, "--alpha", args.alpha,
                               "--schedule", sched, "--parallel", P, "--tol", args.tol, "--gap-every", 0,
                               "--max-iter", args.max_iter, "--quiet", "--log", log])
                recs = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
                its = [x for x in recs if "iter" in x]
                start = next((x for x in recs if x.get("event") == "start"), {})
                fin = next((x for x in recs if x.get("event") == "finish"), None)
                secs = sum(x["wall_s"] for x in its)
                ups = sum(x["updates"] for x in its)
                rounds = sum(x["rounds"] for x in its)
                obj = its[-1]["objective"] if its else float("nan")
                if res.returncode == 4:
                    status = "diverged"
                elif res.returncode:
                    status = f"failed ({res.returncode}): {res.stderr.strip().splitlines()[-1][:80]}"
                elif fin and fin.get("converged"):
                    status = ""
                else:
                    status = f"not converged in {len(its)} iterations"
                bpr = (sum(x["bytes"] for x in its) / rounds) if rounds else 0
                ratio = f"{secs / sk[0]:.2f}x" if sk and not status else "-"
                rel = abs(obj - sk[2]) / sk[2] if sk and np.isfinite(obj) else float("nan")
                print(f"{sched:<10s} {P:>4d} {r:>5d} {len(its):>6d} {ups:>9,d} {secs:>8.3f} {ratio:>10s} "
                      f"{start.get('setup_s', float('nan')):>8.2f} {obj:>17.10e} {rel:>9.1e} "
                      f"{sum(x['rejected'] for x in its):>8d} {bpr:>9.0f} "
                      f"{(8 * r * (args.n + P) if r > 1 else 0):>9d} {os.getloadavg()[0]:>5.1f} {status}",
                      flush=True)
    print("\nseconds: sum of the iterations' wall time (setup -- reading, JIT load, sap's correlation "
          "graph -- separate); B/round: measured bytes of the iterations / rounds (includes the gap's "
          "8 bytes per rank when checked, and sap's priorities when an alpha starts).")
    return 0
