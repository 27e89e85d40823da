"""Eager SSP: the SSP bound, but rows are refreshed as soon as every worker
has passed a clock.

ESSP (Dai, Kumar, Wei, Ho, Gibson, Xing, AAAI 2015) keeps the staleness bound
of SSP but has the server push fresh rows to the workers that cache them as
soon as the minimum clock advances, so the staleness actually observed is
lower and less variable than SSP's worst case.  Over MPI RMA there is no
server thread to push, so the worker pulls eagerly instead, which costs it
no waiting: at the end of each ``clock()`` (after the SSP wait) it fetches
every cached row that is older than the current minimum clock, and a
``get`` fetches any requested row older than the minimum clock at that
moment.  The bound and its proof are SSP's (:mod:`.ssp`); only the refresh
rule differs.
"""

from __future__ import annotations

from .ssp import SSPTable


class ESSPTable(SSPTable):
    """SSP with eager refresh (see the module docstring)."""

    kind = "essp"
    eager = True
