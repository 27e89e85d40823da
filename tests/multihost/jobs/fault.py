"""MPI job: rank ORIGIN raises inside an agreed block; every rank records the
error it ended with.

``python -m mpi4py fault.py OUT_DIR ORIGIN``: each rank writes
``OUT_DIR/rank-R.json`` with the CollectiveError's text, origin rank and exit
code, then leaves normally (exit 0), so the test can read every rank's view."""

import json
import socket
import sys
from pathlib import Path

import numpy as np

from mpiml.comm import Comm
from mpiml.errors import CollectiveError, InputError

out, origin = Path(sys.argv[1]), int(sys.argv[2])
comm = Comm(watchdog_timeout=60)
seen = None
try:
    with comm.agree("the multi-host fault test"):
        if comm.rank == origin:
            raise InputError(f"injected on {socket.gethostname()}", "data.csv", 3)
        for _ in range(3):   # the healthy ranks are inside collectives when it happens
            comm.allreduce(np.ones(1000))
except CollectiveError as exc:
    seen = {"message": str(exc), "origin": exc.origin_rank, "code": exc.exit_code}
(out / f"rank-{comm.rank}.json").write_text(json.dumps({"rank": comm.rank, "error": seen,
                                                        "host": socket.gethostname()}))
comm.close()
