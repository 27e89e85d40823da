"""CPU seconds of the adaptive / bias MF kernels, optionally beside an older
copy of ``mpiml/mf/kernels.py`` (prints figures; asserts nothing).

    python benchmarks/mf_adaptive.py [--old OLD_KERNELS.py] [--size 3600000] [--epochs 6]

e.g. ``git show 387ea13:mpiml/mf/kernels.py > /tmp/old_kernels.py`` for the
kernels before they were specialised per variant.  Two tables, both in CPU
seconds of this thread (``time.thread_time``, which other jobs on a shared
machine inflate less than wall time) with the load average beside them:

1. one block as ``--blocks-per-rank auto`` cuts the issue's matrix on one
   rank (rows / 9, items / 9, ratings / 81; uniform placement), one SGD pass,
   best of 9 in each of 3 rounds, per variant, old and new alternating;
2. whole epochs of :class:`mpiml.mf.dsgd.DSGD` on one rank (serial
   communicator) on the generated ratings of ``mpiml bench mf`` (50000 x
   20000 at 3.6 M ratings): SGD and loss pass separately, median of epochs
   2.., for the default rule and ``--bias``; with ``--old`` the same epochs
   with the old kernels swapped in (same results up to rounding).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import types

import numpy as np

from mpiml.bench.mf import block
from mpiml.bench.mf_libmf import BASE_ITEMS, BASE_RATINGS, BASE_USERS
from mpiml.mf import kernels as new


def _best(fn, reps=9):
    ts = []
    for s in range(reps):
        t0 = time.thread_time()
        fn(s + 1)
        ts.append(time.thread_time() - t0)
    return min(ts)


def _load_old(path):
    spec = importlib.util.spec_from_file_location("mf_kernels_old", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mf_kernels_old"] = mod      # numba's cache re-imports the module by name
    spec.loader.exec_module(mod)
    return mod


def block_table(old, k=32, rounds=3):
    m, n, nnz = BASE_USERS // 9, BASE_ITEMS // 9, BASE_RATINGS // 81
    W0, H0, u, i, r = block(m, n, nnz, k)
    scr = (np.empty(nnz, np.int32), np.empty(nnz, np.int32), np.empty(nnz, np.float32))
    e1, e2 = np.empty(0, np.float32), np.empty((0, 2), np.float32)
    ks = max(1, k // 8)
    print(f"one block {m} x {n}, {nnz} ratings, k = {k}, float32: CPU ms per SGD pass, best of 9 "
          f"passes in each of {rounds} rounds (old and new alternating, so a burst of load from other "
          f"jobs does not fall on one of them only); load average {os.getloadavg()[0]:.2f}")
    mods = [("new", new)] + ([("old", old)] if old else [])
    for name, (a, b, so) in [("adaptive", (True, False, False)), ("adaptive, epoch 1", (True, False, True)),
                             ("adaptive --bias", (True, True, False)), ("bold --bias", (False, True, False))]:
        res = {}
        for tag, mod in [tm for _ in range(rounds) for tm in mods]:
            W, H = W0 * 0.5, H0 * 0.5
            GW, GH = (np.ones((m, 2), np.float32), np.ones((n, 2), np.float32)) if a else (e2, e2)
            BW, BH = (np.zeros(m, np.float32), np.zeros(n, np.float32)) if b else (e1, e1)

            def run(s, mod=mod, W=W, H=H, GW=GW, GH=GH, BW=BW, BH=BH):
                mod.sgd_block_rows(W, H, GW, GH, BW, BH, u, i, r, *scr, 0.1 if a else 1e-3, 0.05,
                                   3.0 if b else 0.0, np.uint64(s), a, b, ks, so)
            run(0)
            res[tag] = min(res.get(tag, np.inf), _best(run))
        ratio = f" ({res['old'] / res['new']:.2f}x)" if old else ""
        print(f"{name:>20}: " + ", ".join(f"{t} {res[t] * 1e3:6.2f} ms" for t, _ in mods) + ratio, flush=True)
    W, H = W0 * 0.5, H0 * 0.5
    t = _best(lambda s: new.sgd_block(W, H, u, i, r, *scr, 1e-3, 0.05, np.uint64(s)))
    print(f"{'plain (--step bold)':>20}: {t * 1e3:6.2f} ms; load average {os.getloadavg()[0]:.2f}")


def epoch_table(old, size, epochs):
    from mpiml.comm.serial import SerialComm
    from mpiml.datasets.ratings import synthetic_ratings
    from mpiml.mf import rowstate
    from mpiml.mf.dsgd import DSGD
    scale = (size / BASE_RATINGS) ** 0.5
    m, n = max(int(BASE_USERS * scale), 10), max(int(BASE_ITEMS * scale), 10)
    d = synthetic_ratings(m, n, rank=5, density=min(size / (m * n), 1.0), noise=0.5, offset=3.0, seed=1)
    print(f"\nepochs on one rank: {d.users.size} ratings ({m} x {n}), k = 32, lambda 0.05, defaults; CPU s "
          f"per epoch, median of epochs 2..{epochs}")
    mods = [("new", new)] + ([("old", old)] if old else [])
    for tag, mod in mods:
        if tag == "old":
            shim = types.SimpleNamespace(**{a: getattr(mod, a) for a in dir(mod) if not a.startswith("__")})
            if not hasattr(mod, "block_loss_bias_normed"):
                shim.block_loss_bias_normed = (lambda W, H, BW, BH, mu, nw, nh, *blk:
                                               mod.block_loss_bias(W, H, BW, BH, mu, *blk))
            rowstate.kernels = shim
        for label, kw in (("adaptive", {}), ("adaptive --bias", {"bias": True})):
            model = DSGD(k=32, lam=0.05, lr=0.1, step="adaptive", blocks_per_rank="auto", **kw)
            model.setup(SerialComm(), (d.users, d.items, d.values), m, n)
            sgd_t, eval_t, acc = [], [], [0.0]
            sgd, ev = model._sgd_block, model._evaluate

            def timed_sgd(*a, sgd=sgd):
                t0 = time.thread_time()
                sgd(*a)
                acc[0] += time.thread_time() - t0

            def timed_eval(ev=ev):
                t0 = time.thread_time()
                out = ev()
                eval_t.append(time.thread_time() - t0)
                return out
            model._sgd_block, model._evaluate = timed_sgd, timed_eval
            for _ in range(epochs):
                acc[0] = 0.0
                rec = model.run_epoch()
                sgd_t.append(acc[0])
            s, e = float(np.median(sgd_t[1:])), float(np.median(eval_t[1:]))
            print(f"{tag:>4} {label:>16}: SGD {s:.3f} + loss {e:.3f} = {s + e:.3f} CPU s/epoch "
                  f"({model.blocks_per_rank_} blocks/rank), train RMSE {rec['train_rmse']:.4f}; "
                  f"load average {os.getloadavg()[0]:.2f}", flush=True)
        rowstate.kernels = new


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", default=None, help="an older mpiml/mf/kernels.py to time beside this one")
    ap.add_argument("--size", type=int, default=BASE_RATINGS)
    ap.add_argument("--epochs", type=int, default=6)
    a = ap.parse_args(argv)
    old = _load_old(a.old) if a.old else None
    block_table(old)
    epoch_table(old, a.size, max(a.epochs, 2))


if __name__ == "__main__":
    main()
