"""``mpiml bench ckpt``: checkpoint write and verify throughput, checksums on
vs off, at several rank counts (real mpiexec jobs).

Each rank holds ``1/R`` of a float64 model of ``--gib`` GiB as a distributed
array and writes it as one checkpoint per repeat, in three modes: CRC32
computed in memory while writing (the default), CRC32 by reading the files
back, and no CRC at all (the baseline; such checkpoints do not verify).
Then every rank verifies its share as ``--resume`` does.  Figures are GB/s
per rank (this rank's bytes / the slowest rank's time), best of ``--reps``.
The files were just written, so verification reads them from the page cache.

    mpiml bench ckpt [--gib 1] [--ranks 1,2] [--reps 3] [--dir DIR]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .launcher import run_mpi

MODES = ("stream", "readback", "none")


def register(b) -> None:
    p = b.add_parser("ckpt", help="checkpoint write/verify throughput, checksums on vs off")
    p.add_argument("--gib", type=float, default=1.0, help="model size in GiB (default %(default)s)")
    p.add_argument("--ranks", default="1,2", help="comma-separated rank counts (default %(default)s)")
    p.add_argument("--reps", type=int, default=3, help="repeats per mode, best taken (default %(default)s)")
    p.add_argument("--dir", help="where to write (default: a temporary directory under the current one)")
    p.set_defaults(func=bench_ckpt)


def bench_ckpt(args) -> int:
    ranks = [int(r) for r in args.ranks.split(",")]
    print(f"checkpoint benchmark: {args.gib:g} GiB float64 model, best of {args.reps}, "
          f"{os.cpu_count()} cores, load average before {os.getloadavg()[0]:.2f}")
    print(f"{'ranks':>5s} {'mode':<34s} {'write s':>8s} {'GB/s/rank':>10s} {'verify s':>9s} {'GB/s/rank':>10s}")
    base = Path(args.dir) if args.dir else Path.cwd()
    for r in ranks:
        tmp = Path(tempfile.mkdtemp(prefix=".bench-ckpt-", dir=base))
        try:
            res = run_mpi(r, ["-m", "mpiml.bench.ckpt", str(tmp), str(args.gib), str(args.reps)], timeout=1800)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        out = json.loads(res.stdout.strip().splitlines()[-1])
        for mode in MODES:
            m = out[mode]
            label = {"stream": "CRC32 while writing (default)", "readback": "CRC32 by reading back",
                     "none": "no checksum (baseline)"}[mode]
            ver = (f"{m['verify_s']:>9.3f} {m['bytes'] / m['verify_s'] / 1e9:>10.2f}" if "verify_s" in m
                   else f"{'-':>9s} {'-':>10s}")
            print(f"{r:>5d} {label:<34s} {m['write_s']:>8.3f} {m['bytes'] / m['write_s'] / 1e9:>10.2f} {ver}")
        cost = out["stream"]["write_s"] / out["none"]["write_s"] - 1
        print(f"{r:>5d} checksumming costs {100 * cost:+.1f}% of the write time (target <= 10%); "
              f"load average {out['load']:.2f}")
    return 0


def _worker(root: str, gib: float, reps: int) -> None:
    from ..comm import Comm
    from ..io.checkpoint import State, write
    from ..io.ckpt_read import load
    from ..partition import block_range
    comm = Comm()
    n = int(gib * 2**30) // 8 // 64
    lo, hi = block_range(n, comm.size, comm.rank)
    w = np.random.default_rng(comm.rank).random((hi - lo, 64))
    mine = w.nbytes
    # Modes interleaved within each repeat, so a change of load or of the
    # page cache's state affects all three alike.
    best = {m: {"write_s": float("inf"), "verify_s": float("inf")} for m in MODES}
    it = 0
    for _ in range(reps):
        for mode in MODES:
            it += 1
            comm.barrier()
            t0 = time.perf_counter()
            path = write(comm, root, State(iteration=it, distributed={"w": (w, lo, n)}), algorithm="bench",
                         schema=1, config={}, provenance={}, keep=1, run_id="bench", checksums=mode)
            b = best[mode]
            b["write_s"] = min(b["write_s"], comm.allreduce_scalar(time.perf_counter() - t0, "max"))
            if mode != "none":
                comm.barrier()
                t0 = time.perf_counter()
                load(comm, path, "bench", 1)
                b["verify_s"] = min(b["verify_s"], comm.allreduce_scalar(time.perf_counter() - t0, "max"))
    result = {m: {"write_s": best[m]["write_s"], "bytes": mine,
                  **({"verify_s": best[m]["verify_s"]} if m != "none" else {})} for m in MODES}
    del w
    if comm.rank == 0:
        print(json.dumps({**result, "load": os.getloadavg()[0]}), flush=True)
    comm.close()


if __name__ == "__main__":
    _worker(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
