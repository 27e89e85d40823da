"""``mpiml bench linear``: the straggler table (Ho et al. NIPS 2013, fig. 3 style).

(``--solver lbfgs`` runs the L-BFGS benchmark of :mod:`mpiml.bench.lbfgs` instead.)

On R ranks (default 4): clocks and seconds until logistic-regression SGD
reaches a target training loss, for BSP, SSP (s = 1, 3, 10), ESSP (s = 3),
async and model averaging, with no straggler, one persistently slower rank
and transient random slowdowns, plus the staleness the reads observed.

The target is the loss a BSP run without stragglers reaches after
``--target-at`` of its ``--calib-iter`` iterations.  Seconds exclude the
evaluation after each iteration (same work for every model) and MPI start-up;
they are the sum over iterations of (wall - evaluation), up to the first
iteration at or below the target, so the resolution is one iteration
(``--clocks`` clocks).  With ``--repeat R`` each cell is run R times (seeds
1..R for minibatches and stragglers) and the median run is shown.

Read the seconds with the machine in mind: with more ranks than cores,
blocking collectives (BSP, averaging) spin while they wait and take CPU from
the ranks still computing, whereas the RMA waits of SSP/ESSP back off with
sleeps; part of any SSP gain there is CPU handed back, not staleness.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

MODELS = [("bsp", []), ("ssp s=1", ["--consistency", "ssp", "--staleness", "1"]),
          ("ssp s=3", ["--consistency", "ssp", "--staleness", "3"]),
          ("ssp s=10", ["--consistency", "ssp", "--staleness", "10"]),
          ("essp s=3", ["--consistency", "essp", "--staleness", "3"]),
          ("async", ["--consistency", "async"])]


def register(b) -> None:
    p = b.add_parser("linear", help="straggler table: time/clocks to a target loss for BSP, SSP, "
                                    "ESSP, async and model averaging")
    p.add_argument("--ranks", type=int, default=4)
    p.add_argument("--n", type=int, default=16_000, help="examples (default %(default)s)")
    p.add_argument("--d", type=int, default=1000, help="dense features (default %(default)s)")
    p.add_argument("--batch", type=int, default=4000, help="examples per rank per clock (default %(default)s)")
    p.add_argument("--clocks", type=int, default=12, help="clocks per iteration (default %(default)s)")
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--every", type=int, default=5, help="averaging period (default %(default)s)")
    p.add_argument("--calib-iter", type=int, default=8)
    p.add_argument("--target-at", type=float, default=0.5,
                   help="target = BSP's loss after this fraction of --calib-iter (default %(default)s)")
    p.add_argument("--max-factor", type=float, default=3.0,
                   help="give up after this many times --calib-iter iterations (default %(default)s)")
    p.add_argument("--persistent", default="3:2", help="persistent straggler (default %(default)s)")
    p.add_argument("--transient", default="random:0.2:4", help="transient stragglers (default %(default)s)")
    p.add_argument("--passes", type=int, default=1,
                   help="--clocks x PASSES clocks per iteration, evaluated every --clocks clocks with "
                        "--eval-every (fewer barriers; default %(default)s: one evaluation per iteration)")
    p.add_argument("--models", default="", help="comma-separated subset of the model names")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per cell; the median time is printed (default %(default)s)")
    from .lbfgs import register_options
    register_options(p)
    p.set_defaults(func=bench_linear)


def _train(n, data, labels, extra, log, common):
    from .launcher import run_mpi
    if log.exists():
        log.unlink()
    run_mpi(n, ["-m", "mpiml", "train", "linear", "--data", str(data), "--labels", str(labels),
                "--quiet", "--log", str(log), *common, *extra])
    return [r for r in map(json.loads, log.read_text().splitlines()) if "iter" in r]


def _to_target(its, target, clocks):
    secs, stale_n, stale_sum, stale_max = 0.0, 0, 0.0, 0
    for r in its:
        for h in r["clock_staleness"]:
            for s, c in h.items():
                stale_n += c
                stale_sum += int(s) * c
        stale_max = max(stale_max, r["stale_max"])
        for e in r.get("evals", [])[:-1]:       # evaluations inside the iteration (--eval-every)
            if e["objective"] <= target and e.get("seconds") is not None:
                return e["clock"], secs + e["seconds"], stale_sum / max(stale_n, 1), stale_max
        secs += max(r["wall_s"] - r.get("eval_s", 0.0), 0.0)
        if r["objective"] <= target:
            return r["clock"], secs, stale_sum / max(stale_n, 1), stale_max
    return None, secs, stale_sum / max(stale_n, 1), stale_max


def bench_linear(args) -> int:
    if args.solver == "lbfgs":
        from .lbfgs import bench_lbfgs
        return bench_lbfgs(args)
    from ..datasets.linear import make_classification
    n = args.ranks
    models = list(MODELS) + [(f"average K={args.every}", ["--consistency", "average", "--every",
                                                            str(args.every)])]
    if args.models:
        keep = {m.strip() for m in args.models.split(",")}
        models = [m for m in models if m[0] in keep or m[0].split()[0] in keep]
    X, y, _ = make_classification(args.n, args.d, seed=11, flip=0.05)
    common = ["--batch", str(args.batch), "--clocks", str(args.clocks), "--lr", str(args.lr),
              "--penalty", "l2", "--alpha", "1e-4", "--seed", "1"]
    scenarios = [("none", []), (f"persistent {args.persistent}", ["--straggler", args.persistent]),
                 (f"transient {args.transient}", ["--straggler", args.transient])]
    print(f"linear SGD straggler benchmark: {n} ranks on {os.cpu_count()} cores, logistic loss, "
          f"{args.n} x {args.d} dense examples, batch {args.batch}/rank, {args.clocks * args.passes} "
          f"clocks/iteration, evaluated every {args.clocks} clocks; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data, labels = tmp / "X.npy", tmp / "y.npy"
        np.save(data, X)
        np.save(labels, y)
        calib = _train(n, data, labels, ["--max-iter", str(args.calib_iter)], tmp / "calib.jsonl", common)
        k = max(1, int(round(args.target_at * args.calib_iter)))
        target = calib[k - 1]["objective"]
        print(f"target training loss {target:.5f} (BSP without stragglers after {k * args.clocks} clocks; "
              f"start {calib[0]['objective']:.5f}, after {args.calib_iter * args.clocks} clocks "
              f"{calib[-1]['objective']:.5f})")
        max_iter = max(1, int(args.max_factor * args.calib_iter) // max(args.passes, 1))
        per_iter = ["--clocks", str(args.clocks * args.passes)] + (
            ["--eval-every", str(args.clocks)] if args.passes > 1 else [])
        head = f"{'straggler':<24s} {'model':<12s} {'clocks':>7s} {'seconds':>8s} {'vs bsp':>7s} " \
               f"{'s/clock':>8s} {'stale mean':>10s} {'max':>4s}"
        print(head)
        print("-" * len(head))
        for sname, sargs in scenarios:
            base = None
            for mname, margs in models:
                runs = []
                for rep in range(max(1, args.repeat)):
                    its = _train(n, data, labels, ["--max-iter", str(max_iter), "--target-loss",
                                                   repr(target), "--seed", str(1 + rep), *sargs, *margs,
                                                   *per_iter], tmp / "run.jsonl", common)
                    runs.append(_to_target(its, target, args.clocks))
                runs.sort(key=lambda r: (r[0] is None, r[1]))
                clocks, secs, smean, smax = runs[len(runs) // 2]
                if mname == "bsp":
                    base = secs if clocks else None
                if clocks is None:
                    print(f"{sname:<24s} {mname:<12s} {'-':>7s} {'>' + format(secs, '.2f'):>8s} "
                          f"{'-':>7s} {'-':>8s} {smean:>10.2f} {smax:>4d}   (not reached in "
                          f"{max_iter * args.clocks} clocks)")
                    continue
                ratio = f"{secs / base:.2f}" if base else "-"
                print(f"{sname:<24s} {mname:<12s} {clocks:>7d} {secs:>8.2f} {ratio:>7s} "
                      f"{secs / clocks:>8.4f} {smean:>10.2f} {smax:>4d}", flush=True)
    return 0
