"""CPU seconds of IBM1's setup phases and iterations in one process.

Wall times on a shared machine measure the other jobs; ``time.process_time``
around each phase measures this process.  One rank (``SerialComm``): reading
(``read_parallel``), parameters + C-step plan (``DistributedIBM1.setup``) and
each ``iterate()``; prints one JSON line with the figures, the peak RSS and
the load average.  Prints figures only (no assertions).

    python benchmarks/ibm1_phases.py c300k.e c300k.f [--low-memory] [--iters 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

T = time.process_time
_t_start = T()

import numpy as np  # noqa: E402

from mpiml.comm.serial import SerialComm  # noqa: E402
from mpiml.em.distributed import DistributedIBM1  # noqa: E402
from mpiml.io.corpus import read_parallel  # noqa: E402

_t_import = T() - _t_start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("--low-memory", action="store_true")
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args()
    comm = SerialComm()
    t0 = T()
    corpus = read_parallel(comm, args.source, args.target)
    t_read = T() - t0
    model = DistributedIBM1(comm, "junction-tree", low_memory=args.low_memory)
    t0 = T()
    model.setup(corpus)
    t_setup = T() - t0
    its, rec = [], None
    for _ in range(args.iters):
        t0 = T()
        rec = model.iterate()
        its.append(T() - t0)
    print(json.dumps({
        "e_step": "low-memory" if args.low_memory else "indexed", "import_cpu": round(_t_import, 2),
        "read_cpu": round(t_read, 2), "params_plus_plan_cpu": round(t_setup, 2),
        "iter_cpu": [round(x, 2) for x in its],
        "setup_over_iter": round((t_read + t_setup) / float(np.median(its)), 2) if its else None,
        "loglik": None if rec is None else rec.loglik, "n_params": model.params_.n_params,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
