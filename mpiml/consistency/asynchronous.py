"""Asynchronous tables: SSP with an unbounded staleness (s = infinity).

Nobody ever blocks on another worker's clock.  Reads refresh a row whenever
every worker has passed a clock since it was fetched (as ESSP does), and
always see the worker's own updates; what they may miss is unbounded.  The
clock counters are still kept, only to measure the staleness of each read
(``c`` minus the slowest worker's clock at the time of the fetch).  For
comparison with the bounded models (Ho et al. NIPS 2013 use it as the
baseline that may diverge).
"""

from __future__ import annotations

from .ssp import SSPTable


class AsyncTable(SSPTable):
    """No staleness bound (see the module docstring)."""

    kind = "async"
    eager = True

    def __init__(self, comm, n_rows, width, debug=False, name="table"):
        super().__init__(comm, n_rows, width, None, debug, name)
