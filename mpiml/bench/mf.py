"""``mpiml bench mf``: matrix-factorisation figures (prints, asserts nothing).

1. Rating updates per second of the DSGD kernel on one core at k = 32, on the
   per-rank block of an ML-20M-shaped matrix cut for 1, 2 and 4 ranks, against
   LIBMF's ~35 M/s on one core of these machines (Field notes).
2. Epochs and seconds (set-up excluded) to a target validation RMSE for DSGD,
   Fugue and ALS on 1, 2 and 4 ranks, with and without a straggler
   (``--straggler 1:F``): real ``mpiexec`` jobs of ``mpiml train mf`` on seeded
   synthetic ratings with known noise sigma, read back from their JSON logs.
3. Seconds per epoch of ``mpiml train mf`` with default options at 1 and 2
   ranks beside LIBMF at 1 and 2 threads on the same ratings, reading time and
   peak RSS (:mod:`mpiml.bench.mf_libmf`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from . import mf_libmf, mf_rmse
from .launcher import best

LIBMF_MPS = 35.0   # M rating updates/s, LIBMF on one core here, k = 32


def register(b) -> None:
    p = b.add_parser("mf", help="MF: DSGD kernel updates/s vs LIBMF; epochs and seconds to a target RMSE "
                                "for DSGD, Fugue and ALS on 1/2/4 ranks, with and without a straggler; "
                                "s/epoch at 1/2 ranks vs LIBMF at 1/2 threads")
    p.add_argument("--kernel-nnz", type=int, default=4_000_000,
                   help="ratings of the ML-20M-shaped (138000 x 27000) kernel matrix (default %(default)s)")
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--items", type=int, default=4_000)
    p.add_argument("--density", type=float, default=0.05)
    p.add_argument("--true-rank", type=int, default=5)
    p.add_argument("--noise", type=float, default=0.5, help="sigma of the synthetic ratings")
    p.add_argument("--k", type=int, default=16, help="model rank for the solver runs (default %(default)s)")
    p.add_argument("--lam", type=float, default=0.02)
    p.add_argument("--lr", type=float, default=0.01, help="step of --step bold/fixed/decay")
    p.add_argument("--step", default="adaptive", help="step rule of the solver runs (default %(default)s)")
    p.add_argument("--target", type=float, default=1.04, help="target validation RMSE, x sigma")
    p.add_argument("--max-epochs", type=int, default=40)
    p.add_argument("--ranks", default="1,2,4", help="comma-separated rank counts (default %(default)s)")
    p.add_argument("--solvers", default="dsgd,fugue,als")
    p.add_argument("--factor", type=float, default=2.0, help="straggler slowdown (default %(default)s)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run every configuration N times and print the medians (default %(default)s)")
    p.add_argument("--skip-kernel", action="store_true")
    p.add_argument("--skip-solvers", action="store_true")
    mf_libmf.add_arguments(p)
    mf_rmse.add_arguments(p)
    p.set_defaults(func=bench_mf)


def bench_mf(args) -> int:
    if args.rmse_table:
        from .mf_rmse import rmse_table
        rmse_table(args)
        return 0
    if not args.skip_kernel:
        kernel_table(args.kernel_nnz)
    if not args.skip_solvers:
        solver_table(args)
    if not args.skip_libmf:
        mf_libmf.libmf_table(args)
    return 0


# ------------------------------------------------------------------ kernel
def block(m, n, nnz, k, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, m, nnz).astype(np.int32)
    i = rng.integers(0, n, nnz).astype(np.int32)
    o = np.lexsort((i, u))           # blocks are stored sorted by (user, item)
    r = rng.uniform(1, 5, nnz).astype(np.float32)
    scale = 2 * np.sqrt(3.0 / k)
    W = (rng.random((m, k)) * scale).astype(np.float32)
    H = (rng.random((n, k)) * scale).astype(np.float32)
    return W, H, u[o], i[o], r[o]



def kernel_table(nnz_total: int, k: int = 32) -> None:
    from ..mf import kernels
    from ..mf.rowstate import slow_dims
    users, items = 138_000, 27_000
    print(f"DSGD kernels, one core, k = {k}: the per-rank block of a {users} x {items} matrix with "
          f"{nnz_total} ratings cut for d ranks (best of 3; M rating updates/s); plain: --step bold/fixed/"
          f"decay; adaptive: the default --step; +bias: --bias; load average {os.getloadavg()[0]:.2f}")
    print(f"{'ranks':>5} {'block':>16} {'ratings':>9} {'plain':>7} {'vs LIBMF 35 M/s':>16} {'adaptive':>9} "
          f"{'+bias':>7} {'fugue sampled':>14} {'sampled adaptive':>17}")
    ks = slow_dims(k)
    for d in (1, 2, 4):
        m, n, nnz = users // d, items // d, nnz_total // (d * d)
        W, H, u, i, r = block(m, n, nnz, k)
        GW, GH = np.ones((m, 2), np.float32), np.ones((n, 2), np.float32)
        BW, BH = np.zeros(m, np.float32), np.zeros(n, np.float32)
        scr = (np.empty(nnz, np.int32), np.empty(nnz, np.int32), np.empty(nnz, np.float32))
        ada, ada_s = kernels.rows_kernels(True, False, False)
        bias = kernels.rows_kernels(True, True, False)[0]
        runs = {
            "plain": lambda s: kernels.sgd_block(W, H, u, i, r, *scr, 1e-3, 0.05, np.uint64(s)),
            "adaptive": lambda s: ada(W, H, GW, GH, BW[:0], BH[:0], u, i, r, *scr, 0.1, 0.05, 0.0,
                                      np.uint64(s), ks),
            "bias": lambda s: bias(W, H, GW, GH, BW, BH, u, i, r, *scr, 0.1, 0.05, 3.0, np.uint64(s), ks),
            "sampled": lambda s: kernels.sgd_sampled(W, H, u, i, r, 1e-3, 0.05, np.uint64(s), 0, nnz),
            "sampled adaptive": lambda s: ada_s(W, H, GW, GH, BW[:0], BH[:0], u, i, r, 0.1, 0.05, 0.0,
                                                np.uint64(s), 0, nnz, ks),
        }
        mps = {}
        for name, f in runs.items():
            f(0)                     # compile / load from the cache
            mps[name] = nnz / best(f) / 1e6
        print(f"{d:>5} {f'{m} x {n}':>16} {nnz:>9} {mps['plain']:>7.1f} {mps['plain'] / LIBMF_MPS:>15.2f}x "
              f"{mps['adaptive']:>9.1f} {mps['bias']:>7.1f} {mps['sampled']:>14.1f} {mps['sampled adaptive']:>17.1f}",
              flush=True)
    print()


# ----------------------------------------------------------------- solvers
def _summarise(log: Path, target: float):
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    its = [r for r in recs if "iter" in r]
    start = next(r for r in recs if r.get("event") == "start")
    hit = next((n for n, r in enumerate(its) if r["valid_rmse"] is not None and r["valid_rmse"] <= target), None)
    upto = its if hit is None else its[:hit + 1]
    secs = float(sum(r["wall_s"] for r in upto))
    extra = float(np.mean([r.get("extra_updates", 0) for r in upto]))
    return {"epochs": len(upto), "reached": hit is not None, "seconds": secs, "s_epoch": secs / len(upto),
            "valid": upto[-1]["valid_rmse"], "extra": extra, "setup": start.get("setup_s", float("nan")),
            "wait": float(sum(r["wait_s"] for r in upto)), "n_train": sum(start["partition"])}


def solver_table(args) -> None:
    from ..datasets.ratings import synthetic_ratings
    from .launcher import run_mpi
    ranks = [int(r) for r in args.ranks.split(",")]
    solvers = args.solvers.split(",")
    target = args.target * args.noise
    data = synthetic_ratings(args.users, args.items, rank=args.true_rank, density=args.density,
                             noise=args.noise, offset=3.0, seed=1, min_per_user=5)
    print(f"Solvers: {data.users.size} ratings ({args.users} x {args.items}, true rank {args.true_rank}, "
          f"sigma {args.noise}), k = {args.k}, lambda {args.lam}, --step {args.step}"
          f"{f' --lr {args.lr}' if args.step != 'adaptive' else ''}, 10 % "
          f"validation; target validation RMSE {args.target} x sigma = {target:.4f}; at most "
          f"{args.max_epochs} epochs; {os.cpu_count()} cores (ranks > cores share them)")
    head = (f"{'solver':>6} {'ranks':>5} {'straggler':>9} {'epochs':>6} {'seconds':>8} {'s/epoch':>8} "
            f"{'wait s':>7} {'va_rmse':>8} {'extra upd/epoch':>15} {'M upd/s/rank':>12}")
    print(head)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ratings.npy"
        np.save(path, np.column_stack([data.users, data.items, data.values]))
        del data
        for solver in solvers:
            for n in ranks:
                for slow in ([None] if n == 1 else [None, f"1:{args.factor:g}"]):
                    cmd = ["-m", "mpiml", "train", "mf", "--data", str(path), "--solver", solver,
                           "--valid-fraction", "0.1", "--rank", str(args.k), "--lam", str(args.lam),
                           "--step", args.step, *(["--lr", str(args.lr)] if args.step != "adaptive" else []),
                           "--max-iter", str(args.max_epochs), "--target-rmse",
                           f"{target:.6g}", "--seed", "1", "--quiet"]
                    runs = []
                    for rep in range(max(args.repeat, 1)):
                        log = Path(tmp) / f"{solver}-{n}-{bool(slow)}-{rep}.jsonl"
                        run_mpi(n, cmd + ["--log", str(log)] + (["--straggler", slow] if slow else []))
                        runs.append(_summarise(log, target))
                    s = {key: (np.median([r[key] for r in runs]) if key != "reached" else all(r[key] for r in runs))
                         for key in runs[0]}
                    s["epochs"] = int(round(s["epochs"]))
                    ups = (s["n_train"] * s["epochs"] / s["seconds"] / n / 1e6) if solver != "als" else None
                    print(f"{solver:>6} {n:>5} {slow or '-':>9} "
                          f"{s['epochs'] if s['reached'] else str(s['epochs']) + '+':>6} "
                          f"{s['seconds']:>8.2f} {s['s_epoch']:>8.3f} {s['wait']:>7.2f} {s['valid']:>8.4f} "
                          f"{s['extra']:>15.0f} {'-' if ups is None else f'{ups:.1f}':>12}", flush=True)
    print("epochs '+': target not reached within the limit. M upd/s/rank: training ratings x epochs / "
          "(seconds x ranks), everything included (rotation, evaluation, waiting); Fugue's extra updates "
          "not counted.")
