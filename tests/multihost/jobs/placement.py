"""MPI job: which host each rank runs on, and a known payload across hosts.

``python -m mpi4py placement.py OUT_DIR MIB``: every rank writes
``OUT_DIR/rank-R.json`` with the host names of all ranks (Comm.hosts) and the
bytes mpiml accounted for an Allreduce of MIB MiB of float64 per rank."""

import json
import sys
from pathlib import Path

import numpy as np

from mpiml.comm import Comm

out, mib = Path(sys.argv[1]), int(sys.argv[2])
comm = Comm()
hosts = comm.hosts()
a = np.full(mib * 131072, float(comm.rank + 1))
got = comm.allreduce(a, kind="payload")
ok = bool(np.all(got == comm.size * (comm.size + 1) / 2))
(out / f"rank-{comm.rank}.json").write_text(json.dumps(
    {"rank": comm.rank, "hosts": hosts, "ok": ok, "payload": comm.stats.bytes_sent["payload"]}))
comm.close()
