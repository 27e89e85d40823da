"""``mpiml bench ibm1 --corpus FILE``: a real-size corpus at 1 and 2 ranks
beside eflomal's IBM Model 1 mode.

Per rank count, E-step (``--estep word-major|indexed|both``: without the
token-pair index, with it, or both) and floating type (``--dtype
float64|float32|both``), one ``mpiml train ibm1`` job (junction tree): whole-job wall
time, setup by phase (reading, parameters, C-step plan; max over ranks),
seconds per EM iteration (median of iterations 2..N) and peak RSS per rank
(``ru_maxrss`` of each rank, from the finish record).  eflomal (``pip install
eflomal``; collapsed Gibbs sampling, not EM, so only time and memory compare)
runs ``-m 1 -1 N`` on the same files; its peak RSS is that of the child
process.  Prints figures and ratios only.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _job(n: int, files, iters: int, tmp: Path, low_memory: bool = False, dtype: str = "float64") -> dict:
    from .launcher import run_mpi
    log = tmp / f"log-{n}-{int(low_memory)}-{dtype}.jsonl"
    corpus = ["--corpus", files[0]] if len(files) == 1 else ["--source", files[0], "--target", files[1]]
    t0 = time.perf_counter()
    run_mpi(n, ["-m", "mpiml", "train", "ibm1", *corpus, "--max-iter", str(iters), "--quiet",
                "--log", str(log), "--estep", "word-major" if low_memory else "indexed", "--dtype", dtype],
            timeout=3600)
    wall = time.perf_counter() - t0
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    its = [r for r in recs if "iter" in r]
    fin = next(r for r in recs if r.get("event") == "finish")
    steady = its[1:] or its
    return {"n": n, "low": low_memory, "dtype": dtype, "loglik": fin["loglik"], "wall": wall, "read": fin["read_s"], "params": fin["params_s"],
            "plan": fin["plan_s"], "iter": float(np.median([r["wall_s"] for r in steady])),
            "e": float(np.median([r["e_s"] for r in steady])), "rss": max(fin["peak_rss_mb"]),
            "pairs": fin["n_pairs"], "params_n": fin["plan"]["statistics"]}


def _eflomal(files, iters: int, tmp: Path):
    exe = shutil.which("eflomal-align") or str(Path(sys.executable).parent / "eflomal-align")
    if not Path(exe).exists():
        return None
    args = ["-i", files[0]] if len(files) == 1 else ["-s", files[0], "-t", files[1]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    res = subprocess.run([exe, *args, "-m", "1", "-1", str(iters), "--n-samplers", "1",
                          "-f", str(tmp / "eflomal.fwd"), "--overwrite"], capture_output=True,
                         text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if res.returncode:
        print(f"eflomal failed ({res.returncode}): {res.stderr[-500:]}")
        return None
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: valid if eflomal is the largest
    return {"wall": wall, "rss": rss / 1024 if rss > before else float("nan")}


def bench_corpus(args) -> int:
    from ..cli.plan import _rank_counts
    files = [str(f) for f in args.corpus]
    if len(files) > 2:
        raise SystemExit("mpiml bench ibm1: --corpus takes one 'source ||| target' file or two files")
    ranks = _rank_counts(args.ranks if args.ranks != "2,4,8" else "1,2")
    print(f"IBM1 benchmark on {' + '.join(files)}: {args.iters} EM iterations, junction tree, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        peer = _eflomal(files, args.iters, tmp)      # first: its RSS is then the children's max
        modes = {"indexed": [False], "word-major": [True],
                 "both": [False, True]}[getattr(args, "estep", "word-major")]
        dtypes = {"both": ["float64", "float32"]}.get(getattr(args, "dtype", "float64"),
                                                       [getattr(args, "dtype", "float64")])
        rows = [_job(n, files, args.iters, tmp, low, dt) for n in ranks for low in modes for dt in dtypes]
    r0 = rows[0]
    print(f"{r0['pairs']} sentence pairs, {r0['params_n']:,} statistics (1st rank count)")
    print(f"{'ranks':>5} {'E-step':>10} {'dtype':>7} {'job s':>7} {'read s':>7} {'params s':>8} {'plan s':>7} "
          f"{'setup/iter':>10} {'s/iter':>7} {'E s':>6} {'peak MB/rank':>12}")
    for r in rows:
        setup = r["read"] + r["params"] + r["plan"]
        mode = "word-major" if r["low"] else "indexed"
        print(f"{r['n']:>5} {mode:>10} {r['dtype']:>7} {r['wall']:>7.1f} {r['read']:>7.2f} {r['params']:>8.2f} "
              f"{r['plan']:>7.2f} {setup / r['iter']:>10.2f} {r['iter']:>7.2f} {r['e']:>6.2f} "
              f"{r['rss']:>12.0f}")
    for low, dt in ((low, dt) for low in modes for dt in dtypes):
        mine = [r for r in rows if r["low"] == low and r["dtype"] == dt]
        mode = ("word-major" if low else "indexed") + ("" if dt == "float64" and len(dtypes) == 1 else f" {dt}")
        if len(mine) > 1:
            print(f"{mode}: speed-up of the job at {mine[-1]['n']} ranks: "
                  f"{mine[0]['wall'] / mine[-1]['wall']:.2f}x")
        if peer is not None:
            print(f"{mode}, {mine[0]['n']} rank(s) / eflomal: time {mine[0]['wall'] / peer['wall']:.2f}x, "
                  f"memory per rank {mine[0]['rss'] / peer['rss']:.2f}x")
    if len(dtypes) == 2:
        for n in ranks:
            for low in modes:
                a, b = (next(r for r in rows if r["n"] == n and r["low"] == low and r["dtype"] == dt)
                        for dt in dtypes)
                print(f"{n} rank(s), {'word-major' if low else 'indexed'}: float32 / float64 peak RSS "
                      f"{b['rss'] / a['rss']:.2f}x, s/iter {b['iter'] / a['iter']:.2f}x, log-likelihood "
                      f"{b['loglik']:.10e} vs {a['loglik']:.10e} "
                      f"(relative difference {abs(b['loglik'] - a['loglik']) / abs(a['loglik']):.1e})")
    if peer is None:
        print("eflomal not installed (pip install eflomal, or pip install -e '.[bench]'): no peer row")
    else:
        print(f"eflomal -m 1 -1 {args.iters} (1 thread): {peer['wall']:.1f} s, peak {peer['rss']:.0f} MB")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0
