"""``mpiml bench kmeans``: K-means seconds per iteration at several rank counts
beside scikit-learn's Lloyd in the same run, and the BSP Allreduce cost."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .launcher import run_mpi


def register(b) -> None:
    k = b.add_parser("kmeans", help="K-means time/iteration at several rank counts vs scikit-learn; "
                                    "BSP Allreduce cost vs raw mpi4py")
    k.add_argument("--n", type=int, default=200_000)
    k.add_argument("--d", type=int, default=32)
    k.add_argument("--k", type=int, default=16)
    k.add_argument("--iters", type=int, default=10)
    k.add_argument("--ranks", default="1,2", help="comma-separated rank counts (default %(default)s)")
    k.add_argument("--allreduce-mib", type=float, default=8.0)
    k.set_defaults(func=bench_kmeans)


def bench_kmeans(args) -> int:
    from ..datasets.blobs import make_blobs
    X, _, _ = make_blobs(args.n, args.d, args.k, seed=1)
    ranks = [int(r) for r in args.ranks.split(",")]
    print(f"K-means benchmark: {args.n} x {args.d} points, k = {args.k}, {args.iters} Lloyd iterations "
          f"(tol 0), {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "X.npy"
        np.save(data, X)
        for r in ranks:
            log = Path(tmp) / f"log{r}.jsonl"
            run_mpi(r, ["-m", "mpiml", "train", "kmeans", "--data", str(data), "--k", str(args.k),
                        "--max-iter", str(args.iters), "--tol", "0", "--seed", "1", "--quiet",
                        "--log", str(log)])
            recs = [json.loads(x) for x in log.read_text().splitlines()]
            its = [x for x in recs if "iter" in x][1:]  # first iteration includes JIT warm caches
            wall = np.median([x["wall_s"] for x in its])
            rows.append((f"mpiml, {r} rank(s)", wall, np.median([x["compute_s"] for x in its]),
                         np.median([x["comm_s"] + x["wait_s"] for x in its])))
    sk = _sklearn_time(X, args, threads=1)
    if sk is not None:
        rows.append(("scikit-learn KMeans lloyd, 1 thread", sk, float("nan"), float("nan")))
        rows.append((f"scikit-learn KMeans lloyd, {os.cpu_count()} threads",
                     _sklearn_time(X, args, threads=None), float("nan"), float("nan")))
    print(f"{'run':<40s} {'s/iter':>9s} {'compute':>9s} {'comm+wait':>10s} {'vs mpiml 1 rank':>16s}")
    base = rows[0][1]
    for name, w, c, m in rows:
        print(f"{name:<40s} {w:>9.4f} {c:>9.4f} {m:>10.4f} {w / base:>15.2f}x")
    if sk is None:
        print("(scikit-learn not installed: pip install scikit-learn for the peer ratio)")
    res = run_mpi(2, ["-m", "mpiml.bench.comm_allreduce", str(args.allreduce_mib)])
    print(res.stdout.strip())
    return 0


def _sklearn_time(X, args, threads):
    try:
        from sklearn.cluster import KMeans as SK
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    init = X[:args.k].copy()
    with threadpool_limits(limits=threads):
        SK(n_clusters=args.k, init=init, n_init=1, max_iter=2, tol=0.0, algorithm="lloyd").fit(X)  # warm up
        t0 = time.perf_counter()
        m = SK(n_clusters=args.k, init=init, n_init=1, max_iter=args.iters, tol=0.0, algorithm="lloyd").fit(X)
    return (time.perf_counter() - t0) / max(m.n_iter_, 1)
