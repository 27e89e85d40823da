"""``mpiml bench comm``: Comm against raw mpi4py (Allreduce 8 B / 64 KiB /
8 MiB, 2-rank exchange), one mpiexec job of :mod:`mpiml.bench.comm_allreduce`."""

from __future__ import annotations


def register(b) -> None:
    p = b.add_parser("comm", help="Comm vs raw mpi4py: Allreduce 8 B/64 KiB/8 MiB and a 2-rank exchange")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--reps", type=int, default=2000, help="repeats of the small sizes (default %(default)s)")
    p.set_defaults(func=bench_comm)


def bench_comm(args) -> int:
    from .launcher import run_mpi
    res = run_mpi(args.ranks, ["-m", "mpiml.bench.comm_allreduce", str(args.reps)], timeout=600)
    print(res.stdout, end="")
    return 0
