"""Cost of going through :class:`~mpiml.comm.Comm` against raw mpi4py (run under mpiexec).

    mpiexec -n 2 python -m mpi4py -m mpiml.bench.comm_allreduce

Allreduce of 8 B, 64 KiB and 8 MiB and a 2-rank exchange (ranks 0 and 1 swap
one message of the same sizes), raw mpi4py against ``Comm`` inside an agreed
block (the path an iteration takes: the non-blocking operation waited on
together with the failure channel's posted receive).  Median over repeats of
the slowest rank's time.  Prints figures; asserts nothing.
"""

import os
import sys
import time

import numpy as np

from ..comm import _mpi
from ..comm.communicator import Comm

SIZES = ((8, "8 B"), (64 << 10, "64 KiB"), (8 << 20, "8 MiB"))


def _timeit(world, MPI, fns, reps):
    """Median (over repeats) of the slowest rank's time of each of ``fns``;
    the functions take turns within every repeat, so a change in the
    machine's load hits them alike."""
    for fn in fns:
        for _ in range(max(3, reps // 10)):
            fn()
    ts = np.empty((reps, len(fns)))
    for k in range(reps):
        for j, fn in enumerate(fns):
            world.Barrier()
            t0 = time.perf_counter()
            fn()
            ts[k, j] = time.perf_counter() - t0
    worst = np.empty_like(ts)
    world.Allreduce([ts, MPI.DOUBLE], [worst, MPI.DOUBLE], op=MPI.MAX)
    return [float(x) for x in np.median(worst, axis=0)]


def main(reps_small: int = 2000) -> None:
    MPI = _mpi.MPI()
    world = MPI.COMM_WORLD
    comm = Comm()
    raw_c = world.Dup()
    rows = []
    with comm.agree("benchmark"):
        for nbytes, label in SIZES:
            n = max(nbytes // 8, 1)
            reps = reps_small if nbytes <= 64 << 10 else 40
            a = np.random.default_rng(world.rank).random(n)
            out = np.empty_like(a)
            raw, nb, ours = _timeit(world, MPI, [
                lambda: raw_c.Allreduce([a, MPI.DOUBLE], [out, MPI.DOUBLE]),
                lambda: raw_c.Iallreduce([a, MPI.DOUBLE], [out, MPI.DOUBLE]).Wait(),
                lambda: comm.allreduce(a, kind="bench", out=out)], reps)
            rows.append(("Allreduce", label, raw, ours, nb))
            if world.size >= 2:
                peer = {0: 1, 1: 0}.get(world.rank)
                buf = np.empty_like(a)

                def raw_x():
                    if peer is not None:
                        r = [raw_c.Irecv([buf, MPI.DOUBLE], source=peer, tag=3),
                             raw_c.Isend([a, MPI.DOUBLE], dest=peer, tag=3)]
                        MPI.Request.Waitall(r)

                def our_x():
                    if peer is not None:
                        comm.exchange({peer: a}, {peer: (n, np.float64)}, kind="bench")
                raw, ours = _timeit(world, MPI, [raw_x, our_x], reps)
                rows.append(("exchange (2 ranks)", label, raw, ours, None))
    raw_c.Free()
    comm.close()
    if world.rank == 0:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"Comm vs raw mpi4py on {world.size} ranks, inside an agreed block "
              f"(median of the slowest rank; load average {load}):")
        print(f"{'operation':<20s} {'size':>7s} {'raw us':>10s} {'Comm us':>10s} {'ratio':>7s} "
              f"{'raw Iallreduce+Wait us':>23s}")
        for op, label, raw, ours, nb in rows:
            extra = "" if nb is None else f"{nb * 1e6:>23.1f}"
            print(f"{op:<20s} {label:>7s} {raw * 1e6:>10.1f} {ours * 1e6:>10.1f} {ours / raw:>6.2f}x {extra}")
        print("exchange: Comm allocates the receive buffers on every call (raw reuses one), which at "
              "8 MiB adds first-touch page faults.")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
