"""``mpiml bench linear --solver lbfgs``: feature-sharded L-BFGS at several
rank counts beside scikit-learn, and SGD-on-tables vs L-BFGS.

Two generated logistic-regression problems (L2, ``alpha``, intercept):

* sparse LIBSVM text with ``--sparse-d`` features (default 10^6), each row
  ``--nnz`` non-zeros drawn with a skewed (power-law) feature frequency, so
  the ranks' touched sets overlap the way real click data do;
* dense ``.npy`` ``--dense-n`` x ``--dense-d``.

For each problem: scikit-learn's ``LogisticRegression(solver="lbfgs")`` is
fitted in this process (one BLAS thread; its own wall time, ``tol`` 1e-8)
and its objective ``F_sk`` computed with mpiml's formula; then mpiml trains
at each rank count with ``--target-loss F_sk (1 + 1e-9)`` and the table shows
seconds and bytes per iteration (medians; bytes as counted by CommStats and
checked against the documented formula), iterations and seconds to
scikit-learn's objective (sum of the iterations' wall time: MPI start-up
and reading excluded, shown apart as setup).  Last, SGD (BSP table) and
L-BFGS race to ``F_sk + gap`` (absolute, ``--race-gaps``) on the dense problem.

Every MPI rank runs with one BLAS thread (``OMP_NUM_THREADS=1`` unless set).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def register_options(p) -> None:
    g = p.add_argument_group("--solver lbfgs")
    g.add_argument("--solver", choices=("sgd", "lbfgs"), default="sgd",
                   help="sgd: the straggler table (default); lbfgs: this benchmark")
    g.add_argument("--lbfgs-ranks", default="1,2,4", help="rank counts (default %(default)s)")
    g.add_argument("--sparse-n", type=int, default=50_000)
    g.add_argument("--sparse-d", type=int, default=1_000_000)
    g.add_argument("--nnz", type=int, default=20, help="non-zeros per sparse row (default %(default)s)")
    g.add_argument("--dense-n", type=int, default=50_000)
    g.add_argument("--dense-d", type=int, default=500)
    g.add_argument("--alpha", type=float, default=1e-4, help="L2 weight (default %(default)s)")
    g.add_argument("--race-gaps", default="0.1,0.01,0.001",
                   help="SGD vs L-BFGS targets F_sk + gap (default %(default)s)")
    g.add_argument("--race-epochs", type=int, default=30, help="SGD epochs (default %(default)s)")
    g.add_argument("--race-lr", type=float, default=0.5)
    g.add_argument("--race-batch", type=int, default=1000, help="SGD examples per rank per clock")
    g.add_argument("--problems", default="sparse,dense")


def make_sparse(n, d, nnz, seed=0):
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    cols = np.minimum((d * rng.random((n, nnz)) ** 3).astype(np.int64), d - 1)
    cols.sort(axis=1)
    keep = np.ones_like(cols, dtype=bool)
    keep[:, 1:] = cols[:, 1:] != cols[:, :-1]
    counts = keep.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    X = sp.csr_matrix((rng.normal(size=int(indptr[-1])), cols[keep], indptr), shape=(n, d))
    w = rng.normal(size=d) * (rng.random(d) < 0.05)
    z = X @ w + 0.1
    y = np.where(z + 0.5 * rng.normal(size=n) >= 0, 1.0, -1.0)
    return X, y


def write_libsvm_fast(path, X, y):
    with open(path, "w") as f:
        for i in range(X.shape[0]):
            a, b = X.indptr[i], X.indptr[i + 1]
            f.write(("+1" if y[i] > 0 else "-1") + " " +
                    " ".join(f"{j + 1}:{v!r}" for j, v in zip(X.indices[a:b], X.data[a:b].tolist())) + "\n")


def objective(X, y, w, b, alpha):
    z = X @ w + b
    return float(np.logaddexp(0.0, -y * z).mean() + 0.5 * alpha * (w @ w))


def sklearn_fit(X, y, alpha):
    try:
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        m = LogisticRegression(C=1.0 / (alpha * X.shape[0]), tol=1e-8, max_iter=10_000).fit(X, y)
        secs = time.perf_counter() - t0
    return secs, int(m.n_iter_[0]), objective(X, y, m.coef_.ravel(), float(m.intercept_[0]), alpha)


def train(ranks, args_list, log):
    from .launcher import run_mpi
    if log.exists():
        log.unlink()
    t0 = time.perf_counter()
    run_mpi(ranks, ["-m", "mpiml", "train", "linear", "--quiet", "--log", str(log), *args_list])
    total = time.perf_counter() - t0
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    start = next(r for r in recs if r.get("event") == "start")
    return [r for r in recs if "iter" in r], start.get("setup_s", float("nan")), total


def to_target(its, target, minus_eval=False):
    secs = 0.0
    for r in its:
        secs += r["wall_s"] - (r.get("eval_s", 0.0) if minus_eval else 0.0)
        if r["objective"] <= target:
            return r["iter"], secs
    return None, secs


def bench_lbfgs(args) -> int:
    from ..linear.lbfgs import bytes_per_iteration
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    ranks = [int(r) for r in args.lbfgs_ranks.split(",")]
    print(f"L-BFGS benchmark: logistic, L2 alpha {args.alpha}, intercept; {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        problems = {}
        if "sparse" in args.problems:
            t0 = time.perf_counter()
            X, y = make_sparse(args.sparse_n, args.sparse_d, args.nnz)
            write_libsvm_fast(tmp / "sparse.svm", X, y)
            problems["sparse"] = (X, y, ["--data", str(tmp / "sparse.svm"), "--n-features", str(args.sparse_d)],
                                  f"{args.sparse_n} x {args.sparse_d:,} sparse, {X.nnz:,} non-zeros "
                                  f"(written in {time.perf_counter() - t0:.1f} s)")
        if "dense" in args.problems:
            rng = np.random.default_rng(1)
            X = rng.normal(size=(args.dense_n, args.dense_d))
            w = rng.normal(size=args.dense_d) / np.sqrt(args.dense_d)
            y = np.where(X @ w + 0.5 * rng.normal(size=args.dense_n) >= 0, 1.0, -1.0)
            np.save(tmp / "X.npy", X)
            np.save(tmp / "y.npy", y)
            problems["dense"] = (X, y, ["--data", str(tmp / "X.npy"), "--labels", str(tmp / "y.npy")],
                                 f"{args.dense_n} x {args.dense_d} dense")
        common = ["--solver", "lbfgs", "--alpha", repr(args.alpha), "--fit-intercept", "--tol", "0",
                  "--max-iter", "1000"]
        race = {}
        for name, (X, y, data_args, desc) in problems.items():
            sk = sklearn_fit(X, y, args.alpha)
            print(f"\n{name}: {desc}")
            if sk is None:
                print("  scikit-learn not installed: no reference objective, 100 iterations instead")
                target = -np.inf
            else:
                print(f"  scikit-learn LogisticRegression(lbfgs, tol 1e-8, 1 thread): {sk[0]:.2f} s, "
                      f"{sk[1]} iterations, objective {sk[2]:.10e}")
                target = sk[2] * (1 + 1e-9)
            head = (f"  {'ranks':>5s} {'plan':>6s} {'s/iter':>8s} {'bytes/iter':>11s} {'formula':>8s} "
                    f"{'iters':>6s} {'s to F_sk':>10s} {'vs sklearn':>10s} {'setup s':>8s} {'load':>5s}")
            print(head)
            for r in ranks:
                extra = ["--target-loss", repr(target)] if sk else ["--max-iter", "100"]
                its, setup, _ = train(r, data_args + common + extra, tmp / "run.jsonl")
                ok = all(x["bytes"] == bytes_per_iteration(x["halo"], r, x["trials"], x["gram_pairs"],
                                                           x["owlqn"], x["metric_floats"]) for x in its)
                n_it, secs = to_target(its, target)
                ratio = f"{secs / sk[0]:.2f}x" if sk and n_it else "-"
                print(f"  {r:>5d} {its[0]['exchange']:>6s} {np.median([x['wall_s'] for x in its]):>8.4f} "
                      f"{int(np.median([x['bytes'] for x in its])):>11,d} {'equal' if ok else 'DIFFERS':>8s} "
                      f"{n_it if n_it else '-':>6} {secs:>10.3f} {ratio:>10s} {setup:>8.2f} "
                      f"{os.getloadavg()[0]:>5.1f}", flush=True)
            if sk is not None:
                race[name] = (sk[2], data_args)
        if "dense" in race:
            f_sk, data_args = race["dense"]
            r = ranks[min(1, len(ranks) - 1)]
            gaps = [float(g) for g in args.race_gaps.split(",")]
            print(f"\nSGD (BSP table, lr {args.race_lr:g}, batch {args.race_batch}/rank) vs L-BFGS on the "
                  f"dense problem, {r} ranks: iterations / seconds to F_sk + gap")
            lb, _, _ = train(r, data_args + common[:-2] + ["--max-iter", "1000", "--target-loss",
                                                           repr(f_sk + min(gaps))], tmp / "lb.jsonl")
            sg, _, _ = train(r, data_args + ["--alpha", repr(args.alpha), "--lr", repr(args.race_lr),
                                             "--batch", str(args.race_batch), "--max-iter",
                                             str(args.race_epochs)], tmp / "sgd.jsonl")
            print(f"  {'solver':<7s} " + " ".join(f"{'gap ' + format(g, 'g'):>22s}" for g in gaps))
            for label, recs, minus in (("L-BFGS", lb, False), ("SGD", sg, True)):
                cells = []
                for g in gaps:
                    n_it, secs = to_target(recs, f_sk + g, minus)
                    cells.append(f"{n_it} / {secs:.3f} s" if n_it else f"not in {len(recs)} ({secs:.1f} s)")
                print(f"  {label:<7s} " + " ".join(f"{c:>22s}" for c in cells))
            print(f"  (SGD: iterations are epochs, at most {args.race_epochs}, last objective "
                  f"{sg[-1]['objective']:.6f}; its seconds exclude the exact evaluation after each epoch)")
    return 0
