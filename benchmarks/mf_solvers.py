"""Epochs and seconds to a target validation RMSE: DSGD, Fugue and ALS (prints figures).

    mpiexec -n 4 python -m mpi4py benchmarks/mf_solvers.py [--straggler 1:2] [--algos dsgd,fugue,als]

Synthetic ratings with known noise σ (every rank draws the same matrix and
keeps a strided share, as if each had read part of a file); the target is
``--target`` × σ on a 10 % hash split.  Seconds exclude set-up.  With
``--straggler RANK:FACTOR`` that rank sleeps (FACTOR − 1) × its compute time
after each piece of work, as the runtime's ``--straggler`` does.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mpiml.comm import Comm
from mpiml.datasets.ratings import synthetic_ratings
from mpiml.mf.data import split_mask
from mpiml.mf.als import ALS
from mpiml.mf.common import Triplets
from mpiml.mf.dsgd import DSGD


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--density", type=float, default=0.1)
    ap.add_argument("--rank", type=int, default=8, help="true rank")
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--lam", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--target", type=float, default=1.10)
    ap.add_argument("--max-epochs", type=int, default=60)
    ap.add_argument("--algos", default="dsgd,fugue,als")
    ap.add_argument("--straggler", default=None, help="RANK:FACTOR")
    a = ap.parse_args(argv)
    comm = Comm()
    data = synthetic_ratings(a.users, a.items, rank=a.rank, density=a.density, noise=a.noise,
                             offset=3.0, seed=1)
    va = split_mask(data.users, data.items, a.items, 0.1, 0)
    sl = slice(comm.rank, None, comm.size)
    tr = Triplets(data.users[~va][sl], data.items[~va][sl], data.values[~va][sl])
    vl = Triplets(data.users[va][sl], data.items[va][sl], data.values[va][sl])
    slow_rank, factor = (-1, 1.0)
    if a.straggler:
        r, f = a.straggler.split(":")
        slow_rank, factor = int(r), float(f)
    straggle = (lambda dt: time.sleep((factor - 1.0) * dt)) if comm.rank == slow_rank else None
    target = a.target * a.noise
    if comm.rank == 0:
        print(f"{comm.size} ranks, {data.users.size} ratings ({a.users} x {a.items}), k = {a.k}, "
              f"σ = {a.noise}, target valid RMSE {target:.4f}, straggler {a.straggler or 'none'}")
        print(f"{'algo':>6} {'epochs':>6} {'seconds':>8} {'valid_rmse':>10} {'s/epoch':>8} "
              f"{'extra upd/epoch':>15}")
    for algo in a.algos.split(","):
        if algo == "als":
            m = ALS(k=a.k, lam=a.lam, seed=2)
        else:
            m = DSGD(k=a.k, lam=a.lam, lr=a.lr, seed=2, fugue=algo == "fugue")
        m.setup(comm, tr, a.users, a.items, vl)
        comm.barrier()
        t0 = time.perf_counter()
        rec, extra = None, 0
        for _ in range(a.max_epochs):
            rec = m.run_epoch(straggle=straggle)
            extra += int(np.sum(rec.get("extra_updates", 0)))
            if rec["valid_rmse"] <= target:
                break
        secs = time.perf_counter() - t0
        if comm.rank == 0:
            e = rec["epoch"]
            print(f"{algo:>6} {e:>6} {secs:>8.2f} {rec['valid_rmse']:>10.4f} {secs / e:>8.3f} "
                  f"{extra / e:>15.0f}" + ("" if rec["valid_rmse"] <= target else "  (target not reached)"))
    comm.close()


if __name__ == "__main__":
    main()
