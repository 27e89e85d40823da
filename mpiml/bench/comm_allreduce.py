"""BSP sync cost: mpiml's Allreduce path vs raw mpi4py (run under mpiexec).

    mpiexec -n 2 python -m mpiml.bench.comm_allreduce [MiB]
"""

import sys
import time

import numpy as np

from ..comm import _mpi
from ..comm.communicator import Comm


def main(mib: float = 8.0, reps: int = 20) -> None:
    MPI = _mpi.MPI()
    world = MPI.COMM_WORLD
    n = int(mib * 2**20 / 8)
    a = np.random.default_rng(world.rank).random(n)
    out = np.empty_like(a)

    def timeit(fn):
        fn()
        world.Barrier()
        ts = []
        for _ in range(reps):
            world.Barrier()
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        ts = np.asarray(ts)
        worst = np.empty_like(ts)
        world.Allreduce([ts, MPI.DOUBLE], [worst, MPI.DOUBLE], op=MPI.MAX)
        return float(np.median(worst))

    raw = timeit(lambda: world.Allreduce([a, MPI.DOUBLE], [out, MPI.DOUBLE]))
    comm = Comm()
    wrapped = timeit(lambda: comm.allreduce(a, kind="bench", out=out))
    fresh = timeit(lambda: comm.allreduce(a, kind="bench"))
    small = np.zeros(1)
    raw_small = timeit(lambda: world.Allreduce([small, MPI.DOUBLE], [small.copy(), MPI.DOUBLE]))
    wrapped_small = timeit(lambda: comm.allreduce(small, kind="bench"))
    comm.close()
    if world.rank == 0:
        print(f"Allreduce {mib:g} MiB on {world.size} ranks (median of {reps}):")
        print(f"  raw mpi4py Allreduce           {raw * 1e3:8.3f} ms  ({a.nbytes / raw / 1e9:.2f} GB/s)")
        print(f"  mpiml Comm.allreduce           {wrapped * 1e3:8.3f} ms  ratio {wrapped / raw:.2f}x "
              f"(reused output buffer; adds the entry sync for error agreement + wait timing)")
        print(f"  mpiml Comm.allreduce, new out   {fresh * 1e3:8.3f} ms  ratio {fresh / raw:.2f}x "
              f"(allocates the result each call: first-touch page faults)")
        print(f"Allreduce of 8 bytes: raw {raw_small * 1e6:.1f} us, mpiml {wrapped_small * 1e6:.1f} us "
              f"(the entry sync is one extra 8-byte Allreduce)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 8.0)
