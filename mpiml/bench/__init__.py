"""``mpiml bench NAME``: benchmarks that print figures (no assertions).

One module per benchmark, each with ``register(subparsers)``; ``launcher``
holds what they share (running the CLI under ``mpiexec``, best-of-N timing).
Each benchmark launches real MPI jobs of the CLI itself, reads their
JSON-lines logs and prints per-iteration figures; where a peer library is
installed it is timed in the same run and the ratio printed.
"""

from __future__ import annotations

import importlib

# name -> module; imported lazily so ``mpiml --help`` stays fast.
BENCHMARKS = ("kmeans", "mf", "ibm1", "linear", "links", "scaling", "lasso", "ckpt", "comm", "lda", "readers")


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks that print figures",
                       description="Benchmarks: launch mpiexec jobs and print timings (and ratios "
                                   "against peer libraries when installed).")
    b = p.add_subparsers(dest="bench", metavar="BENCH")
    b.required = True
    for name in BENCHMARKS:
        importlib.import_module(f"{__name__}.{name}").register(b)
