"""Single-core speed of the MF kernels (prints figures; asserts nothing).

    python benchmarks/mf_kernel.py [--k 32] [--users 138000] [--items 27000] [--nnz 20000000]

The matrix is shaped like MovieLens-20M by default; for d = 1, 2, 4 it times
one DSGD block of a d×d blocking (rows/d × items/d, nnz/d² ratings, uniformly
placed — real data is skewed, which helps caches), so the figure is what one
rank does per second inside a sub-epoch.  LIBMF (tuned C++) does ~35 M
rating updates/s on one core of these machines at k = 32.
"""

from __future__ import annotations

import argparse

import numpy as np

from mpiml.bench.launcher import best
from mpiml.bench.mf import block  # one definition of the timed block
from mpiml.mf import kernels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--users", type=int, default=138_000)
    ap.add_argument("--items", type=int, default=27_000)
    ap.add_argument("--nnz", type=int, default=20_000_000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args(argv)
    k = a.k
    print(f"MF kernels, k = {k}, matrix {a.users} x {a.items} with {a.nnz} ratings; best of {a.reps}")
    print(f"{'d':>3} {'block':>17} {'nnz':>10} {'sgd_block M/s':>14} {'sgd_sampled M/s':>16} "
          f"{'block_loss M/s':>15}")
    for d in (1, 2, 4):
        m, n, nnz = a.users // d, a.items // d, a.nnz // (d * d)
        W, H, u, i, r = block(m, n, nnz, k)
        scr = (np.empty(nnz, np.int32), np.empty(nnz, np.int32), np.empty(nnz, np.float32))
        kernels.sgd_block(W, H, u[:10], i[:10], r[:10], *scr, 0.001, 0.05, np.uint64(1))  # compile
        kernels.sgd_sampled(W, H, u, i, r, 0.001, 0.05, np.uint64(1), 0, 10)
        kernels.block_loss(W, H, u[:10], i[:10], r[:10])
        t_sgd = best(lambda s: kernels.sgd_block(W, H, u, i, r, *scr, 0.001, 0.05, np.uint64(s)), a.reps)
        t_smp = best(lambda s: kernels.sgd_sampled(W, H, u, i, r, 0.001, 0.05, np.uint64(s), 0, nnz), a.reps)
        t_loss = best(lambda s: kernels.block_loss(W, H, u, i, r), a.reps)
        print(f"{d:>3} {f'{m} x {n}':>17} {nnz:>10} {nnz / t_sgd / 1e6:>14.1f} "
              f"{nnz / t_smp / 1e6:>16.1f} {nnz / t_loss / 1e6:>15.1f}")
    # ALS: rows per second for users with ~144 ratings (the ML-20M mean)
    rng = np.random.default_rng(1)
    n_rows, per = 20_000, 144
    indptr = np.arange(0, n_rows * per + 1, per, dtype=np.int64)
    cols = rng.integers(0, a.items, n_rows * per).astype(np.int64)
    vals = rng.uniform(1, 5, n_rows * per)
    F = rng.random((a.items, k))
    out = np.empty((n_rows, k))
    kernels.als_solve_rows(indptr[:2], cols, vals, F, 0.05, out)
    t = best(lambda s: kernels.als_solve_rows(indptr, cols, vals, F, 0.05, out), a.reps)
    print(f"ALS row solves (k = {k}, {per} ratings/row): {n_rows / t / 1e3:.1f} k rows/s, "
          f"{n_rows * per / t / 1e6:.1f} M ratings/s")


if __name__ == "__main__":
    main()
