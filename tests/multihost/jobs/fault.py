"""MPI job: every rank takes part in ROUNDS all-reduces of 1 MiB inside an
agreed block, then rank ORIGIN raises while the others are already inside the
next all-reduce; every rank records the error it ended with.

``python -m mpi4py fault.py OUT_DIR ORIGIN ROUNDS``: each rank writes
``OUT_DIR/rank-R.json`` with the CollectiveError's text, origin rank and exit
code, then leaves normally (exit 0), so the test can read every rank's view.
The all-reduces before the fault give the job a known amount of cross-host
traffic (a 1 MiB all-reduce over two hosts sends at least 1 MiB each way
between them), far above the few kB by which MPI start-up varies from run to run."""

import json
import socket
import sys
from pathlib import Path

import numpy as np

from mpiml.comm import Comm
from mpiml.errors import CollectiveError, InputError

out, origin, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
comm = Comm(watchdog_timeout=60)
seen = None
try:
    with comm.agree("the multi-host fault test"):
        for i in range(rounds + 1):
            if i == rounds and comm.rank == origin:
                raise InputError(f"injected on {socket.gethostname()}", "data.csv", 3)
            comm.allreduce(np.ones(2 ** 17))
except CollectiveError as exc:
    seen = {"message": str(exc), "origin": exc.origin_rank, "code": exc.exit_code}
(out / f"rank-{comm.rank}.json").write_text(json.dumps({"rank": comm.rank, "error": seen,
                                                        "host": socket.gethostname()}))
comm.close()
