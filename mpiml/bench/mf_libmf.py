"""``mpiml bench mf``, part 3: seconds per epoch of ``mpiml train mf`` (DSGD,
default options, k = 32) at 1 and 2 ranks beside LIBMF at 1 and 2 threads on
the same generated ratings, with reading time and peak RSS (prints, asserts
nothing).

LIBMF (Chin, Zhuang, Juan, Lin: "A fast parallel SGD for matrix factorization
in shared memory systems", RecSys 2013) runs through the ``libmf`` PyPI
bindings (``pip install libmf``; they compile LIBMF's C++ from the sdist with
the compiler's default flags, i.e. without LIBMF's own ``-DUSESSE``/``-DUSEAVX``
and ``-march=native``).  ``--libmf-so`` points the bindings at another build of
the same library (their ``LIBMF_OBJ`` variable), e.g. one compiled with
LIBMF's makefile flags.  Each LIBMF configuration runs in a child process
(``python -m mpiml.bench.mf_libmf``), so its peak RSS is its own.

LIBMF's seconds per epoch are ``(t(1 + n) - t(1)) / n`` for ``n`` more
iterations (``quiet``: no per-iteration loss); mpiml's are the median
``wall_s`` of epochs 2.. of its JSON log (epoch 1 also loads the compiled
kernels), and include mpiml's exact per-epoch loss over all ratings.  Both are
also given in CPU seconds (``time.process_time``: mpiml's busiest rank, all of
LIBMF's threads), which other jobs on a shared machine inflate much less than
wall time; with 2 threads LIBMF's CPU seconds add up both threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The workload: 3.6M ratings of a 50,000 x 20,000 matrix.
BASE_RATINGS, BASE_USERS, BASE_ITEMS = 3_600_000, 50_000, 20_000


def add_arguments(p) -> None:
    p.add_argument("--size", type=int, default=BASE_RATINGS,
                   help="LIBMF comparison: number of ratings; users and items scale with sqrt(size / "
                        f"{BASE_RATINGS}) from {BASE_USERS} x {BASE_ITEMS} (default %(default)s)")
    p.add_argument("--libmf-epochs", type=int, default=10,
                   help="LIBMF comparison: epochs per run (default %(default)s)")
    p.add_argument("--libmf-so", default=None, metavar="PATH",
                   help="LIBMF comparison: a LIBMF shared library for the bindings (LIBMF_OBJ)")
    p.add_argument("--libmf-repeat", type=int, default=1, metavar="R",
                   help="LIBMF comparison: run every configuration R times, in turn, and keep each one's "
                        "fastest s/epoch (default %(default)s)")
    p.add_argument("--skip-libmf", action="store_true", help="skip the comparison with LIBMF")


@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1 (the bindings and LIBMF print from C and Python)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def libmf_missing(so: str | None = None) -> str | None:
    """Why LIBMF cannot run here (None: it can), checked in a child process."""
    env = dict(os.environ, **({"LIBMF_OBJ": so} if so else {}))
    res = subprocess.run([sys.executable, "-c", "import libmf.mf"], capture_output=True, text=True, env=env)
    if res.returncode == 0:
        return None
    last = (res.stderr.strip().splitlines() or ["import failed"])[-1]
    return f"{last} (pip install libmf, or mpiml[bench])"


def run_libmf(path: Path, k: int, lam: float, threads: int, epochs: int, so: str | None,
              n_ratings: int = BASE_RATINGS) -> dict:
    """One LIBMF configuration in a child process; returns its JSON record.

    LIBMF's multi-threaded scheduler can leave its threads waiting forever at
    the end of training (cjlin1/libmf issue 12; seen here once with 2 threads
    on 20,000 ratings: every thread in a futex wait, no CPU used), so a child
    gets a time limit proportional to its work (4 fits of 1 and 1 + epochs
    epochs; a normal run takes a small fraction of it) and is run once more
    if it exceeds it."""
    env = dict(os.environ, **({"LIBMF_OBJ": so} if so else {}))
    cmd = [sys.executable, "-m", "mpiml.bench.mf_libmf", str(path), str(k), repr(lam), str(threads), str(epochs)]
    limit = 120 + 30 * (n_ratings / 1e6) * (epochs + 2)
    for attempt in (1, 2):
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=limit)
            break
        except subprocess.TimeoutExpired:
            print(f"mpiml bench mf: LIBMF ({threads} thread(s)) did not finish within {limit:.0f} s "
                  f"(attempt {attempt} of 2; a known LIBMF scheduler hang)", file=sys.stderr, flush=True)
    else:
        raise SystemExit(f"mpiml bench mf: LIBMF with {threads} thread(s) hung twice (> {limit:.0f} s each)")
    if res.returncode:
        raise SystemExit(f"mpiml bench mf: LIBMF run failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _child(path: str, k: int, lam: float, threads: int, epochs: int) -> None:
    with _quiet_stdout():
        from libmf import mf
    X = np.load(path)      # (n, 3) float32: user, item, rating
    times = {1: [], 1 + epochs: []}
    cpu = {1: [], 1 + epochs: []}
    for _ in range(2):      # each fit twice, in turn: the fastest of each
        for iters in times:
            # LIBMF's defaults but the L2 weight: no L1 term, lambda as mpiml's,
            # bins = max(20, 2 * threads + 1) as LIBMF's command line chooses.
            model = mf.MF(k=k, nr_threads=threads, nr_bins=max(20, 2 * threads + 1), nr_iters=iters,
                          lambda_p1=0.0, lambda_q1=0.0, lambda_p2=lam, lambda_q2=lam, quiet=True)
            t0, c0 = time.perf_counter(), time.process_time()
            with _quiet_stdout():
                model.fit(X)
            times[iters].append(time.perf_counter() - t0)
            cpu[iters].append(time.process_time() - c0)
    one, more = min(times[1]), min(times[1 + epochs])
    # Noise can make the difference meaningless on a loaded machine: then no figure.
    per_epoch = (more - one) / epochs if more > one else None
    c1, cn = min(cpu[1]), min(cpu[1 + epochs])
    print(json.dumps({"threads": threads, "s_epoch": per_epoch, "setup_s": one - (per_epoch or 0.0),
                      "cpu_epoch": (cn - c1) / epochs if cn > c1 else None,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


def _mpiml_run(n: int, text: Path, epochs: int, log: Path) -> dict:
    from .launcher import median_steady, run_mpi
    run_mpi(n, ["-m", "mpiml", "train", "mf", "--data", str(text), "--rank", "32",
                "--max-iter", str(epochs), "--quiet", "--log", str(log)])
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    its = [r for r in recs if "iter" in r]
    fin = next(r for r in recs if r.get("event") == "finish")
    start = next(r for r in recs if r.get("event") == "start")
    return {"s_epoch": median_steady(its, "wall_s"), "cpu_epoch": median_steady(its, "cpu_s_max_rank"),
            "read_s": max(fin["read_s"]),
            "prepare_s": max(fin["prepare_s"]), "peak_rss_mb": max(fin["peak_rss_mb"]),
            "blocks": fin["blocks_per_rank"], "setup_s": start["setup_s"]}


def libmf_table(args) -> None:
    """Print the mpiml-vs-LIBMF table (see the module docstring)."""
    from ..datasets.ratings import synthetic_ratings
    scale = (args.size / BASE_RATINGS) ** 0.5
    m, n = max(int(BASE_USERS * scale), 10), max(int(BASE_ITEMS * scale), 10)
    density = min(args.size / (m * n), 1.0)
    epochs = max(args.libmf_epochs, 2)
    lam = 0.05                                   # mpiml's default --lam
    print(f"mpiml vs LIBMF: {args.size} ratings ({m} x {n}), k = 32, lambda {lam}, {epochs} epochs, "
          f"best of {max(args.libmf_repeat, 1)} run(s); "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    missing = libmf_missing(args.libmf_so)
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_ratings(m, n, rank=5, density=density, noise=0.5, offset=3.0, seed=1)
        text = Path(tmp) / "ratings.txt"
        np.savetxt(text, np.column_stack([data.users, data.items, data.values]), fmt="%d %d %.4f")
        npy = Path(tmp) / "ratings32.npy"
        np.save(npy, np.column_stack([data.users, data.items, data.values]).astype(np.float32))
        del data
        configs = [("mpiml dsgd", 1), ("mpiml dsgd", 2)]
        configs += [("LIBMF", 1), ("LIBMF", 2)] if missing is None else []
        found = {}         # config -> fastest record
        for rep in range(max(args.libmf_repeat, 1)):
            for name, w in configs:
                if name == "LIBMF":
                    r = run_libmf(npy, 32, lam, w, epochs, args.libmf_so, args.size)
                else:
                    r = _mpiml_run(w, text, epochs, Path(tmp) / f"mpiml-{w}-{rep}.jsonl")
                old = found.setdefault((name, w), r)
                for key in ("s_epoch", "cpu_epoch"):       # the fastest of each, separately
                    if old[key] is None or (r[key] is not None and r[key] < old[key]):
                        old[key] = r[key]
        rows = [(name, w, found[(name, w)]) for name, w in configs]
    libmf = {(w, key): r[key] for name, w, r in rows if name == "LIBMF" for key in ("s_epoch", "cpu_epoch")}

    def fmt(x):
        return "-" if x is None else f"{x:.4f}"

    def ratio(name, w, r, key):
        lib = libmf.get((w, key))
        return "-" if name == "LIBMF" or lib is None or not r[key] else f"{lib / r[key]:.2f}x"

    print(f"{'':>10} {'ranks/threads':>13} {'s/epoch':>8} {'LIBMF/mpiml':>11} {'cpu s/epoch':>11} "
          f"{'LIBMF/mpiml':>11} {'read s':>7} {'other setup s':>13} {'peak RSS MB':>11} {'blocks/rank':>11}")
    for name, w, r in rows:
        read = f"{r['read_s']:.2f}" if "read_s" in r else "-"
        other = r["setup_s"] - r.get("read_s", 0.0)
        print(f"{name:>10} {w:>13} {fmt(r['s_epoch']):>8} {ratio(name, w, r, 's_epoch'):>11} "
              f"{fmt(r['cpu_epoch']):>11} {ratio(name, w, r, 'cpu_epoch'):>11} {read:>7} {other:>13.2f} "
              f"{r['peak_rss_mb']:>11.0f} {str(r.get('blocks', '-')):>11}", flush=True)
    if missing is not None:
        print(f"LIBMF skipped: {missing}")
    else:
        build = f"the --libmf-so build {args.libmf_so}" if args.libmf_so else "the libmf bindings as pip builds them"
        print(f"LIBMF: {build}. LIBMF/mpiml: LIBMF's s/epoch over mpiml's at the same count (above 1: "
              f"mpiml is faster); wall seconds, and CPU seconds (mpiml: the busiest rank's; LIBMF: all "
              f"its threads), which a loaded machine inflates less. LIBMF is handed the ratings in memory (no reading); its setup is its "
              f"grid and shuffle. LIBMF s/epoch '-': t(1 + n epochs) <= t(1 epoch), i.e. noise "
              f"larger than the epochs (use a larger --size or --libmf-repeat).")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
